"""One imaging visit with its record and label, and the project's generic manifest (CSV).

Every reader (ADNI, NACC, OASIS-2, AIBL, MIRIAD, the manifest) yields :class:`CaseRecord` rows;
training, evaluation and the synthetic cohort all speak this one format.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from engine.ehr import validate_ehr
from engine.errors import AlifuseInputError, quote, quote_path
from engine.safe_files import MAX_IMAGE_BYTES, MAX_MANIFEST_BYTES, check_regular, open_regular

#: EHR fields in DESIGN.md order; a manifest carries them as columns, empty = missing.
EHR_FIELDS: tuple[str, ...] = (
    "subject_id", "age", "sex", "education_years", "handedness", "mmse", "cdr", "cdr_sb",
    "logical_memory_delayed", "ses", "summary",
)

#: Generic manifest columns. ``image`` is relative to the manifest's folder (or absolute);
#: ``label`` is a class name (NC/MCI/AD, or NC/impaired for two-class sets); ``mask`` is optional.
MANIFEST_COLUMNS: tuple[str, ...] = ("subject_id", "visit", "image", "label", "dataset", "mask") + tuple(
    f for f in EHR_FIELDS if f != "subject_id"
)


@dataclass
class CaseRecord:
    """One visit: image file, EHR fields (missing ones absent), class label name."""

    subject_id: str
    visit: str
    image: Path
    label: str
    dataset: str
    ehr: dict[str, Any] = field(default_factory=dict)
    mask: Path | None = None


def with_fields(records: Iterable[CaseRecord], keep: tuple[str, ...]) -> list[CaseRecord]:
    """The same visits with only the record fields in ``keep`` (and the subject id): ``()`` is an empty record, the
    model's "MRI only" input."""
    return [replace(r, ehr={k: v for k, v in r.ehr.items() if k in keep or k == "subject_id"}) for r in records]


@dataclass
class ReadReport:
    """What a reader kept and what it skipped, with a reason for every skipped row."""

    records: list[CaseRecord]
    skipped: list[str] = field(default_factory=list)   # "manifest.csv line 12 (visit bl): image not found"


def _is_missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and v.strip() == "")


def write_manifest(records: Iterable[CaseRecord], path: Path) -> None:
    """Write records as the generic manifest CSV; image/mask paths relative to ``path``'s folder."""
    path = Path(path)
    rows = []
    for r in records:
        row: dict[str, Any] = {c: "" for c in MANIFEST_COLUMNS}
        row.update(subject_id=r.subject_id, visit=r.visit, label=r.label, dataset=r.dataset)
        row["image"] = _rel(r.image, path.parent)
        row["mask"] = _rel(r.mask, path.parent) if r.mask else ""
        for k, v in r.ehr.items():
            if k != "subject_id" and k in row and not _is_missing(v):
                row[k] = v
        rows.append(row)
    pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS)).to_csv(path, index=False)


def _rel(p: Path, base: Path) -> str:
    p = Path(p)
    try:
        return str(p.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(p)


def read_manifest(path: Path, check_images: bool = True) -> ReadReport:
    """Read a generic manifest. Rows whose image is missing are reported in ``skipped``, never dropped silently."""
    path = Path(path)
    try:  # a regular file of bounded size: a FIFO or /dev/zero is one line, never a hang
        with open_regular(path, MAX_MANIFEST_BYTES, "manifest") as fh:
            df = pd.read_csv(fh, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError, OSError) as exc:
        if isinstance(exc, AlifuseInputError):
            raise
        raise AlifuseInputError(f"{quote_path(path)}: not a readable CSV manifest ({quote(str(exc), 80)})") from None
    required = ("subject_id", "image", "label")
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise AlifuseInputError(f"{path}: manifest lacks column(s) {', '.join(missing)}")
    unknown = sorted(set(df.columns) - set(MANIFEST_COLUMNS))
    if unknown:
        raise AlifuseInputError(f"{path}: unknown manifest column(s) {', '.join(quote(u) for u in unknown[:5])}")
    report = ReadReport(records=[])
    seen: dict[tuple[str, str, str], tuple[int, str]] = {}
    for i, row in df.iterrows():
        line = i + 2  # header is line 1
        sid, visit = row["subject_id"].strip(), row.get("visit", "").strip() or "bl"
        label = row["label"].strip()
        dataset = row.get("dataset", "").strip() or path.stem
        _check_one_label(seen, (dataset, sid, visit), line, label, path)  # a skipped row's label conflicts too
        image = _resolve(row["image"], path.parent)
        problem = image_problem(image) if check_images else None
        if problem:  # the warning never names the subject (nor the image's path, which often holds its id)
            report.skipped.append(skip_line(path.name, line, visit, problem))
            continue
        ehr: dict[str, Any] = {"subject_id": sid}
        for f in EHR_FIELDS[1:]:
            v = row.get(f, "")
            if not _is_missing(v):
                ehr[f] = _number_or_text(f, v)
        ehr = validate_ehr(ehr, f"{quote_path(path)} line {line}")  # "... line 7: field 'age': ..."; no id shown
        mask = row.get("mask", "").strip()
        report.records.append(CaseRecord(
            subject_id=sid, visit=visit, image=image, label=label, dataset=dataset, ehr=ehr,
            mask=_resolve(mask, path.parent) if mask else None,
        ))
    return report


def _check_one_label(seen: dict, key: tuple[str, str, str], line: int, label: str, path: Path) -> None:
    """One subject's visit has one diagnosis: a second row of it with another label is refused, naming both lines
    (never the subject id). Ids and visits compare normalised (trainer.subject_ids): "SUB-1" is "sub-1"."""
    from trainer.subject_ids import normalise_id

    k = tuple(normalise_id(x) for x in key)
    first = seen.setdefault(k, (line, label))
    if first[1].casefold() != label.casefold():
        raise AlifuseInputError(f"{quote_path(path)} line {line}: the subject and visit of line {first[0]} again, "
                                f"with label '{quote(label, 16)}' where line {first[0]} has '{quote(first[1], 16)}'")


def skip_line(table: str, line: int, visit: str, reason: str) -> str:
    """One skipped row, for logs: the table, the line and the visit, never a patient identifier."""
    return f"{table} line {line} (visit {quote(visit, 16)}): {reason}"


def image_problem(image: Path) -> str | None:
    """Why a row's image cannot be read (missing; a FIFO, device or over-large file), or None. A DICOM series
    is a folder. Checked before any byte is read: hashing a FIFO or /dev/zero would never end."""
    if image.is_dir():
        return None
    if not image.exists():
        return "image not found"
    try:
        check_regular(image, MAX_IMAGE_BYTES, "the image")
    except AlifuseInputError as exc:
        return str(exc).rpartition(": ")[2]
    return None


def _resolve(p: str, base: Path) -> Path:
    q = Path(p.strip())
    return q if q.is_absolute() else base / q


_TEXT_FIELDS = {"sex", "handedness", "summary", "subject_id"}


#: a number as a person writes it in a table: digits, one optional point, an optional sign -- never "2_9" (which
#: Python's int() and float() read as 29), "1e2", "0x1F", "nan", "inf" or a full-width digit
_PLAIN_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


def _number_or_text(name: str, v: str) -> Any:
    """A cell as a number if it is a plain decimal (" 29 ", "29.0" -> 29), else its text, which EHR validation then
    refuses with the field's name ("2_9" is not 29)."""
    if name in _TEXT_FIELDS:
        return v.strip()
    text = v.strip()
    if not _PLAIN_DECIMAL.fullmatch(text):
        return text
    x = float(text)
    return int(x) if x.is_integer() and name not in ("cdr", "cdr_sb") else x
