"""The record form's logic without Qt: what the user typed per field, its validity, and the EHR dict.

Every field holds the *raw* entry (text as typed, or a choice), never silently corrected, so a wrong
value stays visible until the user fixes it. ``None`` (or blank text) means "unknown".
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from engine.ehr import FIELD_SPECS, SCORE_FIELDS, SCORE_PART, FieldSpec, load_ehr, validate_ehr
from engine.ehr_text import ehr_to_sentences
from engine.errors import AlifuseInputError, quote
from engine.score_agreement import disagreements, pairs_text

#: The model reads this many words of the doctor's summary (paper: 40).
SUMMARY_WORD_LIMIT = 40


#: a number as a person types it into the form: ASCII digits, one decimal point or comma, a sign. Python's float()
#: would also take '1e2' (an age of 100), '0x1d' (via int), '1_0', 'inf', 'nan' and full-width digits: none of those
#: is a number a clinician means
_PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:[.,][0-9]*)?|[.,][0-9]+)")


def form_label(name: str) -> str:
    """A field as the form names it: ``"Education (years)"`` for ``education_years``, the key itself if unknown."""
    spec = FIELD_SPECS.get(name)
    if spec is None:
        return name
    return spec.label + (f" ({spec.unit})" if spec.unit else "")


_FIELD_KEY = re.compile(r"field '([a-z_]+)'")


def in_form_words(message: str, keep_key: bool = False) -> str:
    """``message`` with each ``field 'education_years'`` named as the form names it, ``Education (years)``; with
    ``keep_key`` (a message about a file, whose keys the user may look for) the key follows in brackets."""
    def name(m: re.Match) -> str:
        key = m.group(1)
        if key not in FIELD_SPECS:
            return m.group(0)
        return f"{form_label(key)} ('{key}' in the file)" if keep_key else form_label(key)

    return _FIELD_KEY.sub(name, message)


def parse_entry(spec: FieldSpec, entry: Any) -> Any:
    """What the user typed -> the JSON value to validate (numbers from text; blanks -> None).

    A number field's text that is not a plain decimal stays text, which validation refuses naming it."""
    if entry is None:
        return None
    if isinstance(entry, str):
        text = entry.strip()
        if not text:
            return None
        if spec.kind in ("integer", "number"):
            if not _PLAIN_NUMBER.fullmatch(text):
                return text  # validation names the wrong text
            x = float(text.replace(",", "."))  # a decimal comma is a common way to type 0,5
            return int(x) if x.is_integer() and "." not in text and "," not in text else x
        return entry if spec.kind == "text" else text
    return entry


def entry_text(value: Any) -> str:
    """A stored value as the form shows it: 74 not 74.0, None as ''."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class RecordModel:
    """Raw entries of every EHR field (``FIELD_SPECS`` order) with per-field validation."""

    def __init__(self) -> None:
        self._entries: dict[str, Any] = {name: None for name in FIELD_SPECS}
        #: how the model in use writes a record as text (its config's text_format): the preview shows that text
        self.text_format = 1
        #: the model in use reads the scores as numbers (its config's score_knots > 0): they leave the text
        self.scores_as_numbers = False

    # -- entries --
    def entry(self, name: str) -> Any:
        return self._entries[self._known(name)]

    def set_entry(self, name: str, entry: Any) -> str | None:
        """Store what the user typed (kept even when invalid); returns its error message or None."""
        self._entries[self._known(name)] = entry
        return self.error(name)

    def entries(self) -> dict[str, Any]:
        return dict(self._entries)

    def clear(self) -> None:
        self._entries = {name: None for name in FIELD_SPECS}

    # -- validation --
    def error(self, name: str) -> str | None:
        """``"MMSE (points): 31 is out of range 0-30"`` (the field as the form names it) or None when the entry is
        valid or unknown."""
        spec = FIELD_SPECS[self._known(name)]
        value = parse_entry(spec, self._entries[name])
        if value is None:
            return None
        if spec.kind in ("integer", "number") and isinstance(value, str):
            whole = "a whole number" if spec.kind == "integer" else "a number"
            return (f"{form_label(name)}: '{quote(value)}' is not {whole}; type it with the digits 0-9"
                    + ("" if spec.kind == "integer" else " (and a decimal point or comma)"))
        try:
            validate_ehr({name: value}, source="record")
        except AlifuseInputError as exc:
            return in_form_words(str(exc).removeprefix("record: "))
        return None

    def errors(self) -> dict[str, str]:
        """Every invalid field and its message, in field order."""
        return {n: msg for n in FIELD_SPECS if (msg := self.error(n)) is not None}

    def valid_dict(self) -> dict[str, object]:
        """The normalised EHR of the valid, known fields only (invalid ones are left out)."""
        raw = {n: parse_entry(FIELD_SPECS[n], e) for n, e in self._entries.items() if self.error(n) is None}
        return validate_ehr(raw, source="record")

    def to_dict(self) -> dict[str, object]:
        """The normalised EHR; raises ``AlifuseInputError`` naming the first invalid field."""
        errors = self.errors()
        if errors:
            name, msg = next(iter(errors.items()))
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            raise AlifuseInputError(f"record: {msg}{more}")
        return self.valid_dict()

    # -- whole records --
    def set_dict(self, ehr: dict[str, Any], source: str = "record") -> None:
        """Replace every field from an EHR dict; an invalid dict raises and changes nothing."""
        try:
            clean = validate_ehr(ehr, source=source)
        except AlifuseInputError as exc:  # the form's names for its fields, the file's keys beside them
            raise AlifuseInputError(in_form_words(str(exc), keep_key=source != "record")) from None
        self._entries = {name: clean.get(name) for name in FIELD_SPECS}

    def load_json(self, path: str | Path) -> None:
        """Load a record file; a bad file raises ``AlifuseInputError`` (naming it) and keeps the form."""
        try:
            ehr = load_ehr(path)
        except AlifuseInputError as exc:
            raise AlifuseInputError(in_form_words(str(exc), keep_key=True)) from None
        self.set_dict(ehr, source=str(path))

    def save_json(self, path: str | Path) -> Path:
        """Write the (valid) record as a JSON object; unknown fields are left out."""
        record = self.to_dict()
        p = Path(path)
        try:
            p.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            raise AlifuseInputError(f"{p}: cannot write the record ({exc.strerror})") from None
        return p

    # -- what the model reads --
    def summary_word_count(self) -> int:
        entry = self._entries["summary"]
        return len(entry.split()) if isinstance(entry, str) else 0

    def preview(self, summary_max_words: int = SUMMARY_WORD_LIMIT) -> list[tuple[str, str]]:
        """``[(field, sentence)]`` the model will read as text, from the valid fields only."""
        left_out = (SCORE_PART,) if self.scores_as_numbers else ()
        return ehr_to_sentences(self.valid_dict(), summary_max_words, left_out, text_format=self.text_format)

    def numbers_line(self) -> str:
        """For a model that reads the scores as numbers: 'Read as numbers: MMSE 24, CDR 0.5.'; '' otherwise."""
        valid = self.valid_dict()
        shown = [f"{FIELD_SPECS[f].label} {valid[f]:g}" for f in SCORE_FIELDS if f in valid]
        return f"Read as numbers: {', '.join(shown)}." if self.scores_as_numbers and shown else ""

    def score_warning(self) -> tuple[str, str]:
        """When two of the valid scores disagree (engine.score_agreement): a short warning in the form's words and
        the rules behind it (for a tooltip); ('', '') otherwise."""
        found = disagreements(self.valid_dict())
        if not found:
            return "", ""
        return (f"Check these scores: {pairs_text(found)} disagree. A model that reads the scores says "
                "'uncertain' here.", "\n".join(map(str, found)))

    @staticmethod
    def _known(name: str) -> str:
        if name not in FIELD_SPECS:
            raise KeyError(f"unknown EHR field {name!r}")
        return name
