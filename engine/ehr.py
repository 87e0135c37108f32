"""The EHR of one case: its fields, their valid values, validation and loading from JSON.

An EHR is a JSON object whose fields are all optional. A missing field (absent, JSON ``null`` or a
blank string) stays missing: nothing downstream ever invents a value for it. Anything else that is
not a valid value -- an unknown field, a wrong type, an out-of-range number -- is an
:class:`AlifuseInputError` whose message names the source and the field, e.g.
``case.json: field 'mmse': 31 is out of range 0-30``.

EHR parts (for the paper's ablations "without demographics / lab results / summary"): the paper's
"lab results" are the cognitive test scores here (MMSE, CDR, CDR-SB, delayed logical memory), which
is what ADNI/NACC-style records carry in that place.
"""
from __future__ import annotations

import difflib
import json
import math
import numbers
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from engine.errors import AlifuseInputError, quote, quote_path
from engine.safe_files import MAX_RECORD_BYTES, read_regular

__all__ = ["FieldSpec", "FIELD_SPECS", "EHR_PARTS", "EHR_FIELD_ORDER", "SCORE_PART", "DEMOGRAPHICS_PART", "SCORE_FIELDS",
           "LOWER_IS_WORSE", "score_values", "validate_ehr", "load_ehr"]

#: the longest free text a record may hold (a narrative is a few KB; the model reads its first words only)
MAX_TEXT_CHARS = 100_000
#: the longest word of a free text: a longer "word" is a paste error or an attack, and would become one unknown
#: token without a word said (and a slow one: WordPiece is quadratic in a word's length)
MAX_WORD_CHARS = 100
#: the longest identifier
MAX_ID_CHARS = 200


@dataclass(frozen=True)
class FieldSpec:
    """What one EHR field may hold; the GUI builds its form from these.

    ``kind`` is ``"text"`` (free text), ``"id"`` (identifier, never shown to the model),
    ``"choice"`` (one of ``choices``, case-insensitive, ``aliases`` map shorthands),
    ``"integer"`` or ``"number"`` (within ``minimum``..``maximum``; a ``number`` may also be
    restricted to ``choices`` or to multiples of ``step``).
    """

    name: str
    label: str                          # human label for forms and reports
    kind: str
    part: str | None = None             # EHR part (see EHR_PARTS); None for the identifier
    unit: str = ""
    minimum: float | None = None
    maximum: float | None = None
    minimum_exclusive: bool = False     # > minimum, not >= minimum
    step: float | None = None           # numbers: allowed granularity (CDR-SB in halves)
    decimals: int | None = None         # numbers: at most this many decimals (an age of 74.123 nobody writes)
    choices: tuple[Any, ...] = ()
    aliases: tuple[tuple[str, str], ...] = ()   # (shorthand, canonical) for choices
    help: str = ""

    def range_text(self) -> str:
        """The allowed values in words, as error messages and tooltips show them."""
        if self.choices:
            return "one of " + ", ".join(_fmt(c) for c in self.choices)
        if self.minimum is None or self.maximum is None:
            return ""
        if self.minimum_exclusive:
            return f"more than {_fmt(self.minimum)} and at most {_fmt(self.maximum)}"
        return f"{_fmt(self.minimum)}-{_fmt(self.maximum)}"


def _fmt(x: Any) -> str:
    """A value as a person writes it: 74 not 74.0, 0.5 stays 0.5, strings unquoted."""
    if isinstance(x, float) and math.isfinite(x) and x.is_integer():
        return str(int(x))
    return str(x)


_DEMO, _LAB, _SUM = "demographics", "lab_results", "summary"

#: Every field, in the fixed order the text lists them (DESIGN.md order).
FIELD_SPECS: dict[str, FieldSpec] = {s.name: s for s in (
    FieldSpec("subject_id", "Subject ID", "id",
              help="Identifier of the subject; kept with the case, never given to the model."),
    # at least 1 year, at most 2 decimals: 0.001 is a unit or typing error (the text would say "0 years")
    FieldSpec("age", "Age", "number", _DEMO, "years", 1, 120, decimals=2,
              help="Age at the visit, in years (1-120, at most 2 decimals)."),
    FieldSpec("sex", "Sex", "choice", _DEMO, choices=("female", "male"), aliases=(("f", "female"), ("m", "male")),
              help="female or male (F/M accepted)."),
    FieldSpec("education_years", "Education", "number", _DEMO, "years", 0, 30,
              help="Years of formal education."),
    FieldSpec("handedness", "Handedness", "choice", _DEMO, choices=("right", "left", "ambidextrous")),
    FieldSpec("mmse", "MMSE", "integer", _LAB, "points", 0, 30,
              help="Mini-Mental State Examination total score (30 = no errors)."),
    FieldSpec("cdr", "CDR", "number", _LAB, "", 0, 3, choices=(0, 0.5, 1, 2, 3),
              help="Clinical Dementia Rating, global score."),
    FieldSpec("cdr_sb", "CDR sum of boxes", "number", _LAB, "points", 0, 18, step=0.5,
              help="Clinical Dementia Rating, sum of the six box scores (steps of 0.5)."),
    FieldSpec("logical_memory_delayed", "Logical memory, delayed recall", "integer", _LAB, "points", 0, 25,
              help="Wechsler Logical Memory II, delayed recall score."),
    FieldSpec("ses", "Socioeconomic status", "integer", _DEMO, "", 1, 5,
              help="Hollingshead socioeconomic status, 1 (highest) to 5 (lowest)."),
    FieldSpec("summary", "Clinical summary", "text", _SUM,
              help="The doctor's narrative; the model reads its first words only."),
)}

EHR_FIELD_ORDER: tuple[str, ...] = tuple(FIELD_SPECS)

#: EHR parts for the ablations; cognitive test scores stand in for the paper's lab results.
EHR_PARTS: dict[str, tuple[str, ...]] = {
    _DEMO: ("age", "sex", "education_years", "handedness", "ses"),
    _LAB: ("mmse", "cdr", "cdr_sb", "logical_memory_delayed"),
    _SUM: ("summary",),
}
#: the record part of the cognitive scores, which a model with ``config.score_knots`` > 0 reads as numbers
#: (engine.score_path), in this order
SCORE_PART = _LAB
#: the record part of age, sex, schooling, handedness and socioeconomic status (engine.training_ranges checks two)
DEMOGRAPHICS_PART = _DEMO
SCORE_FIELDS: tuple[str, ...] = EHR_PARTS[_LAB]
#: the scores on which a lower value is the impaired one (on the others a higher value is)
LOWER_IS_WORSE = frozenset({"mmse", "logical_memory_delayed"})


def score_values(ehr: dict[str, Any], exclude_parts: Iterable[str] = ()) -> list[float]:
    """The record's scores in :data:`SCORE_FIELDS` order, NaN for a missing one (all NaN when the model was
    trained without the score part)."""
    if SCORE_PART in tuple(exclude_parts):
        return [math.nan] * len(SCORE_FIELDS)
    return [float(ehr[f]) if ehr.get(f) is not None else math.nan for f in SCORE_FIELDS]


def _is_missing(v: object) -> bool:
    return v is None or (isinstance(v, str) and not v.strip())


def _type_name(v: object) -> str:
    if isinstance(v, bool):
        return f"the boolean {str(v).lower()}"
    if isinstance(v, str):
        return f"the string '{quote(v)}'"
    if isinstance(v, list):
        return "a list"
    if isinstance(v, dict):
        return "an object"
    return f"{type(v).__name__} {quote(v)}"


def _check_number(spec: FieldSpec, v: object) -> int | float:
    whole = spec.kind == "integer"
    # bool is an int subclass in Python, but `true` for an age is a mistake, not 1
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise ValueError(f"expected {'a whole number' if whole else 'a number'}, got {_type_name(v)}")
    try:
        x = float(v)
    except OverflowError:  # an integer literal with hundreds of digits
        raise ValueError("the number is far too large") from None
    if not math.isfinite(x):
        raise ValueError(f"{'NaN' if math.isnan(x) else 'infinity'} is not a valid number")
    if whole and not x.is_integer():
        raise ValueError(f"{_fmt(x)} is not a whole number")
    if spec.choices:
        if x not in spec.choices:
            raise ValueError(f"{_fmt(x)} is not {spec.range_text()}")
    elif (x <= spec.minimum if spec.minimum_exclusive else x < spec.minimum) or x > spec.maximum:
        unit = f" {spec.unit}" if spec.unit == "years" else ""
        rng = spec.range_text()
        raise ValueError(f"{_fmt(x)} is out of range " + (f"({rng}{unit})" if spec.minimum_exclusive else rng + unit))
    if spec.decimals is not None and round(x, spec.decimals) != x:
        raise ValueError(f"{x!r} has more than {spec.decimals} decimals; a {spec.label.lower()} is written "
                         f"with at most {spec.decimals}")
    if spec.step and not (x / spec.step).is_integer():
        raise ValueError(f"{_fmt(x)} is not a multiple of {_fmt(spec.step)}")
    # normalised: whole numbers as int (29.0 -> 29), others as float
    return int(x) if x.is_integer() else x


def _check_choice(spec: FieldSpec, v: object) -> str:
    if not isinstance(v, str):
        raise ValueError(f"expected {spec.range_text()}, got {_type_name(v)}")
    key = v.strip().lower()
    key = dict(spec.aliases).get(key, key)
    if key not in spec.choices:
        shorthand = f" (or {', '.join(a.upper() for a, _ in spec.aliases)})" if spec.aliases else ""
        raise ValueError(f"'{quote(v)}' is not {spec.range_text()}{shorthand}")
    return key


def _check_value(spec: FieldSpec, v: object) -> object:
    if spec.kind in ("integer", "number"):
        return _check_number(spec, v)
    if spec.kind == "choice":
        return _check_choice(spec, v)
    if spec.kind == "id":
        # identifiers such as 1234 arrive as numbers from spreadsheets; keep them as text
        if isinstance(v, numbers.Integral) and not isinstance(v, bool):
            return str(v)
        if not isinstance(v, str):
            raise ValueError(f"expected a string, got {_type_name(v)}")
        if len(v) > MAX_ID_CHARS:
            raise ValueError(f"an identifier of {len(v):,} characters; at most {MAX_ID_CHARS} are allowed")
        return v.strip()
    if not isinstance(v, str):
        raise ValueError(f"expected text, got {_type_name(v)}")
    try:
        v.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate (JSON "\ud800") is not text any tokenizer can read
        raise ValueError("contains a character that is not valid Unicode text") from None
    if len(v) > MAX_TEXT_CHARS:
        raise ValueError(f"{len(v):,} characters of text; at most {MAX_TEXT_CHARS:,} are allowed")
    words = v.split()
    longest = max(words, key=len, default="")
    if len(longest) > MAX_WORD_CHARS:
        raise ValueError(f"a word of {len(longest):,} characters ('{quote(longest, 24)}'); words longer than "
                         f"{MAX_WORD_CHARS} characters are refused (a paste error?)")
    return " ".join(words)  # one line: newlines and tabs of a pasted note become spaces


def validate_ehr(obj: object, source: str = "EHR") -> dict[str, object]:
    """A checked, normalised copy of one EHR (fields in the fixed order, missing ones left out).

    Normalisation: sex/handedness lower-case ("F" -> "female"), whole numbers as ``int``,
    summary on one line. Raises :class:`AlifuseInputError` ``"<source>: field '<name>': <what>"``.
    """
    if not isinstance(obj, dict):
        raise AlifuseInputError(f"{source}: expected an object of EHR fields, got {_type_name(obj)}")
    # quoted short and escaped: a name with a newline, or of 200 KB, keeps the error one short line
    unknown = [quote(str(k)) for k in obj if k not in FIELD_SPECS]
    if unknown:
        raise AlifuseInputError(f"{source}: {_unknown_message(unknown)}")
    out: dict[str, object] = {}
    for name, spec in FIELD_SPECS.items():
        v = obj.get(name)
        if _is_missing(v):
            continue
        try:
            out[name] = _check_value(spec, v)
        except ValueError as exc:
            raise AlifuseInputError(f"{source}: field '{name}': {exc}") from None
    return out


def _unknown_message(unknown: list[str]) -> str:
    known = ", ".join(FIELD_SPECS)
    if len(unknown) > 1:
        shown = ", ".join(f"'{u}'" for u in unknown[:5]) + (f" and {len(unknown) - 5:,} more" if len(unknown) > 5 else "")
        return f"unknown fields {shown} (known fields: {known})"
    name = unknown[0]
    close = difflib.get_close_matches(name.lower(), list(FIELD_SPECS), n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return f"field '{name}': unknown field ({hint}known fields: {known})"


class _ExponentNumber(float):
    """A JSON number written with an exponent (``1e2``), its text kept so the field holding it can be named."""

    text: str


def _json_float(text: str) -> float:
    if "e" in text or "E" in text:
        number = _ExponentNumber(text)
        number.text = text
        return number
    return float(text)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for k, v in pairs:
        if k in seen:
            # json would silently keep the last one; a clinician who typed two MMSEs should hear of it
            raise ValueError(f"field '{quote(k)}': given twice")
        _plain_number(k, v)
        seen[k] = v
    return seen


def _plain_number(key: str, value: Any) -> None:
    """Refuse a number written with an exponent: the form refuses '1e2' typed by hand (an age of 100 nobody writes
    so), and a file is held to the same rule. Checked per field, where the field's name is known."""
    if isinstance(value, _ExponentNumber):
        x = float(value)
        plain = f" ({quote(value.text)} = {_fmt(x)})" if math.isfinite(x) and abs(x) < 1e6 else ""
        raise ValueError(f"field '{quote(key)}': '{quote(value.text)}' is not a plain number; write it with the "
                         f"digits 0-9 and a decimal point{plain}")


def load_ehr(path: str | Path) -> dict[str, object]:
    """Read and validate one EHR JSON file; every error message starts with the path."""
    where = quote_path(path)
    if Path(path).is_dir():
        raise AlifuseInputError(f"{where}: is a folder, expected an EHR JSON file")
    # a regular file of at most 1 MB, opened without blocking: a FIFO or /dev/zero is refused, never waited on
    raw = read_regular(path, MAX_RECORD_BYTES, "EHR file")
    try:
        text = raw.decode("utf-8-sig")  # Windows editors prepend a BOM
    except UnicodeDecodeError as exc:
        raise AlifuseInputError(
            f"{where}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); save it as UTF-8"
        ) from None
    if not text.strip():
        raise AlifuseInputError(f"{where}: EHR file is empty (expected a JSON object such as {{\"age\": 74}})")
    try:
        obj = json.loads(text, object_pairs_hook=_no_duplicates, parse_float=_json_float)
    except json.JSONDecodeError as exc:
        raise AlifuseInputError(
            f"{where}: not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None
    except ValueError as exc:  # duplicate field from the hook
        raise AlifuseInputError(f"{where}: {exc}") from None
    except RecursionError:
        raise AlifuseInputError(f"{where}: not valid JSON: nested too deeply") from None
    if not isinstance(obj, dict):
        raise AlifuseInputError(
            f"{where}: expected a JSON object of EHR fields at the top level, got {_type_name(obj)}"
        )
    return validate_ehr(obj, source=where)
