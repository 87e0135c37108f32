"""NACC: a UDS table (one row per visit) -> three-class NC / MCI / AD records.

Label from NACCUDSD: 1 normal cognition -> NC; 3 MCI -> MCI; 4 dementia -> AD. 2 (impaired, not
MCI) has no class in the three-way task and is skipped with that reason. With ``ad_only=True`` a
dementia visit counts as AD only when NACC's presumptive etiology is Alzheimer's: NACCALZD = 1, or
NACCETPR = 1 when the table has no NACCALZD; other dementias are skipped with the reason.

EHR fields and NACC's missing codes (a documented code becomes a missing field; any other value
outside the field's range skips the row):
  NACCAGE -> age (-4); SEX 1 male, 2 female -> sex (-4); EDUC -> education_years (99, -4);
  HANDED 1 left, 2 right, 3 ambidextrous -> handedness (9, -4);
  NACCMMSE, or MMSE -> mmse (-4, 88, 95-98); CDRGLOB -> cdr (-4); CDRSUM -> cdr_sb (-4);
  MEMUNITS (logical memory, delayed recall; LOGIMEM is immediate recall and not used)
  -> logical_memory_delayed (-4, 88, 95-98).

Subject id: NACCID. Visit: NACCVNUM, else VISITNUM, else "1".
Image template keys: {subject}, {visit}, {naccvnum}, {visitnum}, {date} (VISITYR-VISITMO-VISITDAY).
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

from engine.errors import AlifuseInputError
from trainer.readers.common import (
    GENERIC_PATTERNS, ReportBuilder, RowContent, RowSkip, Table, cell, coded, ehr_number, image_finder,
    int_text, load_table,
)
from trainer.records import ReadReport

CLASSES = ("NC", "MCI", "AD")
IMAGE_KEYS = ("subject", "visit", "naccvnum", "visitnum", "date")
DEFAULT_PATTERNS = GENERIC_PATTERNS

UDSD_LABELS = {"1": "NC", "3": "MCI", "4": "AD"}
SEX = {"1": "male", "2": "female"}
HAND = {"1": "left", "2": "right", "3": "ambidextrous"}
TEST_MISSING = (-4, 88, 95, 96, 97, 98)


def read_nacc(table: Path, image_root: Path | None, image_pattern: str | None = None, *,
              ad_only: bool = False) -> ReadReport:
    """Read a NACC UDS CSV; one record per visit with a three-class diagnosis."""
    t = load_table(table)
    sid_col = t.require("NACCID")
    dx_col = t.require("NACCUDSD")
    visit_col = t.find("NACCVNUM", "VISITNUM")
    etiology = t.find("NACCALZD", "NACCETPR")
    if ad_only and etiology is None:
        raise AlifuseInputError(f"{t.path}: ad_only needs column 'NACCALZD' or 'NACCETPR', which is missing")
    finder = image_finder(image_root, image_pattern, DEFAULT_PATTERNS, IMAGE_KEYS)
    out = ReportBuilder(t.path.name, "nacc", finder)
    for line, row in t.rows():
        visit = int_text(cell(row, visit_col)) or "1"
        out.add(line, cell(row, sid_col), visit,
                lambda row=row: _content(t, row, dx_col, etiology if ad_only else None))
    return out.report


def _content(t: Table, row: Mapping[str, str], dx_col: str, etiology: str | None) -> RowContent:
    if int_text(cell(row, dx_col)) == "2":
        raise RowSkip(f"{dx_col}: 2 (impaired, not MCI) has no NC/MCI/AD class")
    label = coded(row, dx_col, UDSD_LABELS, missing=("-4",))
    if label is None:
        raise RowSkip(f"no diagnosis in {dx_col}")
    if label == "AD" and etiology is not None and int_text(cell(row, etiology)) != "1":
        raise RowSkip(f"dementia not of presumed Alzheimer's etiology ({etiology} = {cell(row, etiology) or 'empty'})")
    f = t.find
    fields = {
        "age": ehr_number("age", row, f("NACCAGE"), (-4,)),
        "sex": coded(row, f("SEX"), SEX, missing=("-4",)),
        "education_years": ehr_number("education_years", row, f("EDUC"), (99, -4)),
        "handedness": coded(row, f("HANDED"), HAND, missing=("9", "-4")),
        "mmse": ehr_number("mmse", row, f("NACCMMSE", "MMSE"), TEST_MISSING),
        "cdr": ehr_number("cdr", row, f("CDRGLOB"), (-4,)),
        "cdr_sb": ehr_number("cdr_sb", row, f("CDRSUM"), (-4,)),
        "logical_memory_delayed": ehr_number("logical_memory_delayed", row, f("MEMUNITS"), TEST_MISSING),
    }
    keys = {
        "naccvnum": int_text(cell(row, f("NACCVNUM"))),
        "visitnum": int_text(cell(row, f("VISITNUM"))),
        "date": _date(row, t),
    }
    return label, fields, keys


def _date(row: Mapping[str, str], t: Table) -> str:
    parts = [int_text(cell(row, t.find(c))) for c in ("VISITYR", "VISITMO", "VISITDAY")]
    if not all(p.isdigit() for p in parts):
        return ""
    y, m, d = parts
    return f"{y}-{int(m):02d}-{int(d):02d}"
