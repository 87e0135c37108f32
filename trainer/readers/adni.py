"""ADNI: the ADNIMERGE table (one row per visit) -> three-class NC / MCI / AD records.

Label of a visit, first that applies:
  1. ``DX`` (diagnosis at that visit): CN, NL, SMC -> NC; MCI, EMCI, LMCI -> MCI; Dementia, AD -> AD.
     Older releases write conversions ("NL to MCI", "MCI to Dementia"): the state after "to" counts.
  2. ``DXCHANGE`` (older releases): 1 stable NL, 7 MCI->NL, 9 AD->NL -> NC; 2 stable MCI, 4 NL->MCI,
     8 AD->MCI -> MCI; 3 stable AD, 5 MCI->AD, 6 NL->AD -> AD.
  3. ``DX_bl`` (CN, SMC -> NC; EMCI, LMCI -> MCI; AD -> AD), only for the baseline visit (VISCODE bl
     or sc, or a table without VISCODE): a baseline diagnosis says nothing about later visits.
A visit with none of these is skipped ("no diagnosis").

EHR fields: AGE is age at baseline, so the visit's age is AGE + Years_bl; without Years_bl the
visit code's month (m06 -> 0.5 years) is added, and a visit code with no month leaves age missing.
PTGENDER (Male/Female or 1/2) -> sex; PTEDUCAT -> education_years; PTHAND (1 right, 2 left)
-> handedness; MMSE -> mmse; CDGLOBAL (if merged in) -> cdr; CDRSB -> cdr_sb; LDELTOTAL ->
logical_memory_delayed. ADNI's raw tables use -1 (not done) and -4 (not applicable) as missing codes.

Subject id: PTID (e.g. 002_S_0295), else RID. Visit: VISCODE, else EXAMDATE, else "bl".
Image template keys: {subject}, {visit}, {rid}, {ptid}, {examdate}.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Mapping

from trainer.readers.common import (
    GENERIC_PATTERNS, ReportBuilder, RowContent, RowSkip, Table, cell, check_range, coded,
    ehr_number, image_finder, is_missing, load_table, number,
)
from trainer.records import ReadReport

CLASSES = ("NC", "MCI", "AD")
IMAGE_KEYS = ("subject", "visit", "rid", "ptid", "examdate")
DEFAULT_PATTERNS = GENERIC_PATTERNS
MISSING_CODES = (-1, -4)

DX_LABELS = {
    "cn": "NC", "nl": "NC", "smc": "NC", "normal": "NC",
    "mci": "MCI", "emci": "MCI", "lmci": "MCI",
    "ad": "AD", "dementia": "AD",
}
DXCHANGE_LABELS = {
    "1": "NC", "7": "NC", "9": "NC",
    "2": "MCI", "4": "MCI", "8": "MCI",
    "3": "AD", "5": "AD", "6": "AD",
}
SEX = {"male": "male", "female": "female", "1": "male", "2": "female"}
HAND = {"1": "right", "2": "left", "right": "right", "left": "left"}
BASELINE_VISITS = ("bl", "sc")


def read_adni(table: Path, image_root: Path | None, image_pattern: str | None = None) -> ReadReport:
    """Read an ADNIMERGE CSV; one record per visit with a diagnosis (and an image, with ``image_root``)."""
    t = load_table(table)
    subject_cols = (t.find("PTID"), t.find("RID"))
    if not any(subject_cols):
        t.require("PTID", "RID")
    dx_cols = (t.find("DX"), t.find("DXCHANGE"), t.find("DX_bl"))
    if not any(dx_cols):
        t.require("DX", "DXCHANGE", "DX_bl")
    viscode, examdate = t.find("VISCODE"), t.find("EXAMDATE")
    finder = image_finder(image_root, image_pattern, DEFAULT_PATTERNS, IMAGE_KEYS)
    out = ReportBuilder(t.path.name, "adni", finder)
    for line, row in t.rows():
        subject = cell(row, subject_cols[0]) or cell(row, subject_cols[1])
        visit = cell(row, viscode) or cell(row, examdate) or "bl"
        baseline = viscode is None or cell(row, viscode).lower() in BASELINE_VISITS
        out.add(line, subject, visit, lambda row=row, visit=visit, baseline=baseline:
                _content(t, row, visit, baseline, dx_cols))
    return out.report


def _content(t: Table, row: Mapping[str, str], visit: str, baseline: bool,
             dx_cols: tuple[str | None, str | None, str | None]) -> RowContent:
    label = _label(row, visit, baseline, *dx_cols)
    f = t.find
    fields = {
        "age": _age(row, f("AGE"), f("Years_bl"), visit),
        "sex": coded(row, f("PTGENDER"), SEX, missing=("-1", "-4")),
        "education_years": ehr_number("education_years", row, f("PTEDUCAT"), MISSING_CODES),
        "handedness": coded(row, f("PTHAND"), HAND, missing=("-1", "-4")),
        "mmse": ehr_number("mmse", row, f("MMSE"), MISSING_CODES),
        "cdr": ehr_number("cdr", row, f("CDGLOBAL"), MISSING_CODES),
        "cdr_sb": ehr_number("cdr_sb", row, f("CDRSB"), MISSING_CODES),
        "logical_memory_delayed": ehr_number("logical_memory_delayed", row, f("LDELTOTAL"), MISSING_CODES),
    }
    keys = {"rid": cell(row, f("RID")), "ptid": cell(row, f("PTID")), "examdate": cell(row, f("EXAMDATE"))}
    return label, fields, keys


def dx_label(text: str, column: str) -> str:
    """NC / MCI / AD for a DX or DX_bl value; conversions count as their end state."""
    key = text.strip().lower()
    if " to " in key:
        key = key.split(" to ")[-1].strip()
    if key not in DX_LABELS:
        raise RowSkip(f"{column}: unknown diagnosis {text!r}")
    return DX_LABELS[key]


def _label(row: Mapping[str, str], visit: str, baseline: bool, dx: str | None,
           dxchange: str | None, dx_bl: str | None) -> str:
    if dx is not None and not is_missing(cell(row, dx)):
        return dx_label(cell(row, dx), dx)
    if dxchange is not None and not is_missing(cell(row, dxchange)):
        label = coded(row, dxchange, DXCHANGE_LABELS)
        assert label is not None
        return label
    if dx_bl is not None and baseline and not is_missing(cell(row, dx_bl)):
        return dx_label(cell(row, dx_bl), dx_bl)
    used = ", ".join(c for c in (dx, dxchange) if c) or "DX"
    extra = f" ({dx_bl} is used only at the baseline visit)" if dx_bl and not baseline else ""
    raise RowSkip(f"no diagnosis in {used}{extra}")


def _age(row: Mapping[str, str], age_col: str | None, years_col: str | None, visit: str) -> float | int | None:
    if age_col is None:
        return None
    base = number(cell(row, age_col), age_col, MISSING_CODES)
    if base is None:
        return None
    years = number(cell(row, years_col), years_col, MISSING_CODES) if years_col else None
    if years is None:
        v = visit.lower()
        month = re.fullmatch(r"m(\d+)", v)
        if v in BASELINE_VISITS:
            years = 0.0
        elif month:
            years = int(month.group(1)) / 12
        else:
            return None
    age = round(base + years, 1)
    return check_range("age", age, age_col)
