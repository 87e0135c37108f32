"""Shared pieces of the cohort readers: table loading, column lookup, coded values, image search.

Every reader turns one table row into one :class:`CaseRecord`, or into one line of
``ReadReport.skipped`` that names the table line, the subject, the visit and the reason.
"""
from __future__ import annotations

import functools
import glob
import math
import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import pandas as pd

from engine.ehr import validate_ehr
from engine.errors import AlifuseInputError
from trainer.records import CaseRecord, ReadReport

#: Cell texts that mean "no value" in the exported tables (R writes NA, pandas writes nan).
MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none"})

#: Image search tried for every reader, in this order, relative to ``image_root``.
GENERIC_PATTERNS: tuple[str, ...] = ("{subject}/{visit}/*.nii*", "{subject}_{visit}.nii*")


class RowSkip(Exception):
    """A table row cannot become a record; the message is the reason shown to the user."""


def normalise_name(name: str) -> str:
    """Column name without case, spaces or punctuation: 'Subject ID', 'Subject.ID' -> 'subjectid'."""
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


@dataclass
class Table:
    """A CSV table read as text, with column lookup that ignores case and punctuation."""

    path: Path
    frame: pd.DataFrame
    _by_norm: dict[str, str]
    _found: dict[tuple[str, ...], str | None] = field(default_factory=dict)

    def find(self, *names: str) -> str | None:
        """Real name of the first of ``names`` the table has, or None."""
        if names not in self._found:  # readers look columns up once per row
            self._found[names] = next(
                (real for n in names if (real := self._by_norm.get(normalise_name(n))) is not None), None)
        return self._found[names]

    def require(self, *names: str) -> str:
        """Like :meth:`find`, but a missing column is the user's error, named with the file."""
        real = self.find(*names)
        if real is None:
            alts = " or ".join(repr(n) for n in names)
            raise AlifuseInputError(f"{self.path}: required column {alts} is missing")
        return real

    def rows(self) -> Iterable[tuple[int, Mapping[str, str]]]:
        """(line number in the file, row) pairs; the header is line 1. Blank lines are not rows."""
        columns = list(self.frame.columns)
        # plain object arrays: pandas' own row dicts are ~10x slower on a 16k-row ADNIMERGE
        for i, values in enumerate(self.frame.to_numpy(dtype=object)):
            if any(str(v).strip() for v in values):
                yield i + 2, dict(zip(columns, values))


def load_table(path: Path) -> Table:
    """Read a CSV (or tab-separated .tsv/.txt) table with every cell as text."""
    path = Path(path)
    if not path.is_file():
        raise AlifuseInputError(f"{path}: table not found")
    sep = "\t" if path.suffix.lower() in (".tsv", ".txt") else ","
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, sep=sep, encoding="utf-8-sig",
                         skip_blank_lines=False)  # keeps line numbers in skip reasons true
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise AlifuseInputError(f"{path}: not a readable CSV table ({exc})") from None
    return make_table(path, df)


def make_table(path: Path, df: pd.DataFrame) -> Table:
    """Wrap a frame of text cells (e.g. several tables merged) as a :class:`Table` named ``path``.

    Cells are stripped when read (:func:`cell`), not here: stripping every cell of a wide table costs
    more than the whole read.
    """
    df = df.rename(columns=lambda c: str(c).strip())
    by_norm: dict[str, str] = {}
    for c in df.columns:
        n = normalise_name(c)
        if n in by_norm:
            raise AlifuseInputError(f"{path}: columns {by_norm[n]!r} and {c!r} are the same column twice")
        by_norm[n] = c
    return Table(path=path, frame=df, _by_norm=by_norm)


def cell(row: Mapping[str, str], column: str | None) -> str:
    """The row's text in ``column``; '' when the table has no such column."""
    return "" if column is None else str(row.get(column, "")).strip()


def is_missing(text: str) -> bool:
    return text.strip().lower() in MISSING_TOKENS


def number(text: str, column: str, missing_codes: Iterable[float] = ()) -> float | None:
    """A numeric cell; None when empty or one of the format's documented missing codes."""
    if is_missing(text):
        return None
    try:
        x = float(text)
    except ValueError:
        raise RowSkip(f"{column}: {text!r} is not a number") from None
    if not math.isfinite(x):
        raise RowSkip(f"{column}: {text!r} is not a number")
    return None if x in set(missing_codes) else x


def tidy(field: str, x: float) -> int | float:
    """Whole numbers as int, as the manifest reader does (cdr and cdr_sb stay float)."""
    return int(x) if x.is_integer() and field not in ("cdr", "cdr_sb") else x


def check_range(field: str, x: float, column: str) -> int | float:
    """``x`` if it is a valid value of EHR ``field`` (engine.ehr decides); otherwise the row is skipped."""
    problem = _invalid(field, x, column)
    if problem:
        raise RowSkip(f"{problem} and is not a documented missing code")
    return tidy(field, x)


@functools.lru_cache(maxsize=8192)
def _invalid(field: str, x: float, column: str) -> str:
    """engine.ehr's message for an invalid value, '' for a valid one (cached: a cohort repeats its values)."""
    try:
        validate_ehr({field: tidy(field, x)}, source=column)
    except AlifuseInputError as exc:
        return str(exc)
    return ""


def ehr_number(field: str, row: Mapping[str, str], column: str | None,
               missing_codes: Iterable[float] = ()) -> int | float | None:
    """Numeric EHR field from ``column`` (None when the column is absent, empty or a missing code)."""
    if column is None:
        return None
    text = cell(row, column)
    x = number(text, column, missing_codes)
    return None if x is None else check_range(field, x, column)


def int_text(text: str) -> str:
    """'3.0' -> '3': tables exported through pandas write integer codes as floats."""
    try:
        x = float(text)
    except ValueError:
        return text
    return str(int(x)) if math.isfinite(x) and x.is_integer() else text


def code_key(text: str) -> str:
    """Lower-case code text; '1.0' and '1' are the same code."""
    return int_text(text.strip().lower())


def coded(row: Mapping[str, str], column: str | None, mapping: Mapping[str, str],
          missing: Iterable[str] = ()) -> str | None:
    """Map a coded cell (e.g. SEX 1/2) to its value; None when absent or a missing code."""
    if column is None:
        return None
    text = cell(row, column)
    if is_missing(text):
        return None
    key = code_key(text)
    if key in {code_key(m) for m in missing}:
        return None
    if key not in mapping:
        known = ", ".join(sorted(mapping))
        raise RowSkip(f"{column}: unknown code {text!r} (expected one of {known})")
    return mapping[key]


class ImageFinder:
    """Finds one image per (subject, visit) under a root folder by glob templates.

    Templates are relative to ``root`` and use ``{subject}``, ``{visit}`` and the reader's own keys;
    the first template that matches decides. Several matches are ambiguous and skip the row.
    """

    def __init__(self, root: Path, pattern: str | None, defaults: tuple[str, ...], keys: tuple[str, ...]):
        self.root = Path(root)
        if not self.root.is_dir():
            raise AlifuseInputError(f"{self.root}: image folder not found")
        if pattern is not None:
            check_pattern(pattern, keys)
        self.patterns = (pattern,) if pattern is not None else defaults

    def find(self, values: Mapping[str, str]) -> Path:
        safe = {k: glob.escape(v) for k, v in values.items()}
        tried = []
        for p in self.patterns:
            rel = p.format(**safe)
            matches = sorted(self.root.glob(rel))
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                names = ", ".join(m.name for m in matches[:4]) + (", ..." if len(matches) > 4 else "")
                raise RowSkip(f"{len(matches)} images match {self.root / rel} ({names}); "
                              "pass an image pattern that selects one")
            tried.append(str(self.root / p.format(**values)))
        raise RowSkip(f"image not found (searched {'; '.join(tried)})")


def check_pattern(pattern: str, keys: tuple[str, ...]) -> None:
    """An image pattern must be relative and use only the reader's template keys."""
    if not pattern.strip() or Path(pattern).is_absolute():
        raise AlifuseInputError(f"image pattern {pattern!r}: must be a non-empty path relative to the image folder")
    try:
        used = [f for _, f, _, _ in string.Formatter().parse(pattern) if f is not None]
    except ValueError as exc:
        raise AlifuseInputError(f"image pattern {pattern!r}: {exc}") from None
    for f in used:
        if f not in keys:
            raise AlifuseInputError(f"image pattern {pattern!r}: unknown key {{{f}}}; "
                                    f"known keys: {', '.join('{' + k + '}' for k in keys)}")


#: What a reader makes of one row: label, EHR fields (None = missing), extra image-template values.
RowContent = tuple[str, dict[str, Any], dict[str, str]]


class ReportBuilder:
    """Collects records and skip reasons; handles duplicates and the image search for every reader."""

    def __init__(self, table_name: str, dataset: str, images: ImageFinder | None):
        self.table_name = table_name
        self.dataset = dataset
        self.images = images
        self.report = ReadReport(records=[])
        self._seen: dict[tuple[str, str], int] = {}

    def skip(self, line: int, subject: str, visit: str, reason: str) -> None:
        self.report.skipped.append(
            f"{self.table_name} line {line} (subject {subject or '?'}, {visit or '?'}): {reason}")

    def add(self, line: int, subject: str, visit: str, make: Callable[[], RowContent]) -> None:
        if not subject:
            self.skip(line, subject, visit, "no subject id")
            return
        key = (subject, visit)
        if key in self._seen:
            self.skip(line, subject, visit, f"duplicate of line {self._seen[key]}")
            return
        self._seen[key] = line
        try:
            label, fields, keys = make()
            image = Path("")
            if self.images is not None:
                image = self.images.find({"subject": subject, "visit": visit, **keys})
        except RowSkip as exc:
            self.skip(line, subject, visit, str(exc))
            return
        ehr: dict[str, Any] = {"subject_id": subject}
        ehr.update((k, v) for k, v in fields.items() if v is not None)
        self.report.records.append(CaseRecord(
            subject_id=subject, visit=visit, image=image, label=label, dataset=self.dataset, ehr=ehr))


def image_finder(image_root: Path | None, image_pattern: str | None, defaults: tuple[str, ...],
                 keys: tuple[str, ...]) -> ImageFinder | None:
    """None for text-only reading (``image_root`` None); a pattern without a root is an error."""
    if image_root is None:
        if image_pattern is not None:
            raise AlifuseInputError(f"image pattern {image_pattern!r}: given without an image folder")
        return None
    return ImageFinder(Path(image_root), image_pattern, defaults, keys)
