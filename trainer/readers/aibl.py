"""AIBL: the public AIBL tables -> three-class NC / MCI / AD records.

Input is either one merged CSV with the columns below, or the folder of the AIBL download with
aibl_pdxconv*.csv (required) and any of aibl_ptdemog*.csv, aibl_mmse*.csv, aibl_cdr*.csv,
aibl_neurobat*.csv, joined on RID and VISCODE (demographics on RID only; when a table holds the same
RID/VISCODE twice, its first row is used). Skip reasons then name the pdxconv file's lines.

Label: DXCURREN 1 (healthy control) -> NC, 2 -> MCI, 3 -> AD; -4 or empty -> skipped (no diagnosis).
EHR fields: PTGENDER 1 male, 2 female -> sex; MMSCORE -> mmse; CDGLOBAL -> cdr; LDELTOTAL ->
logical_memory_delayed; PTEDUCAT -> education_years and PTHAND (1 right, 2 left) -> handedness when
present. Age: an AGE column if the table has one; else the year of EXAMDATE minus the birth year of
PTDOB (AIBL publishes only the year, "/1931"), which can be one year high; no EXAMDATE, no age.
AIBL writes -4 (and -1) for missing values.

Subject id: RID. Visit: VISCODE (bl, m18, ...). Image template keys: {subject}, {visit}, {rid},
{examdate}.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Mapping

import pandas as pd

from engine.errors import AlifuseInputError
from trainer.readers.common import (
    GENERIC_PATTERNS, ReportBuilder, RowContent, RowSkip, Table, cell, check_range, coded, ehr_number,
    image_finder, int_text, is_missing, load_table, make_table,
)
from trainer.records import ReadReport

CLASSES = ("NC", "MCI", "AD")
IMAGE_KEYS = ("subject", "visit", "rid", "examdate")
DEFAULT_PATTERNS = GENERIC_PATTERNS
MISSING_CODES = (-4, -1)

DX_LABELS = {"1": "NC", "2": "MCI", "3": "AD"}
SEX = {"1": "male", "2": "female", "male": "male", "female": "female"}
HAND = {"1": "right", "2": "left"}
#: Per-visit tables of the download folder and the columns taken from each.
VISIT_TABLES = {
    "aibl_mmse": ("MMSCORE",),
    "aibl_cdr": ("CDGLOBAL",),
    "aibl_neurobat": ("LDELTOTAL",),
}
DEMOG_COLUMNS = ("PTGENDER", "PTDOB", "PTEDUCAT", "PTHAND")


def read_aibl(table: Path, image_root: Path | None, image_pattern: str | None = None) -> ReadReport:
    """Read a merged AIBL CSV or an AIBL download folder; one record per diagnosed visit."""
    table = Path(table)
    t = merge_folder(table) if table.is_dir() else load_table(table)
    rid_col = t.require("RID")
    dx_col = t.require("DXCURREN")
    visit_col = t.find("VISCODE")
    finder = image_finder(image_root, image_pattern, DEFAULT_PATTERNS, IMAGE_KEYS)
    out = ReportBuilder(t.path.name, "aibl", finder)
    for line, row in t.rows():
        rid = int_text(cell(row, rid_col))
        visit = cell(row, visit_col) or "bl"
        out.add(line, rid, visit, lambda row=row, rid=rid: _content(t, row, dx_col, rid))
    return out.report


def _content(t: Table, row: Mapping[str, str], dx_col: str, rid: str) -> RowContent:
    label = coded(row, dx_col, DX_LABELS, missing=("-4", "-1"))
    if label is None:
        raise RowSkip(f"no diagnosis in {dx_col}")
    f = t.find
    examdate = cell(row, f("EXAMDATE"))
    fields = {
        "age": _age(row, t, examdate),
        "sex": coded(row, f("PTGENDER"), SEX, missing=("-4", "-1")),
        "education_years": ehr_number("education_years", row, f("PTEDUCAT"), MISSING_CODES),
        "handedness": coded(row, f("PTHAND"), HAND, missing=("-4", "-1")),
        "mmse": ehr_number("mmse", row, f("MMSCORE"), MISSING_CODES),
        "cdr": ehr_number("cdr", row, f("CDGLOBAL"), MISSING_CODES),
        "logical_memory_delayed": ehr_number("logical_memory_delayed", row, f("LDELTOTAL"), MISSING_CODES),
    }
    return label, fields, {"rid": rid, "examdate": "" if is_missing(examdate) else examdate}


def _age(row: Mapping[str, str], t: Table, examdate: str) -> int | float | None:
    age_col = t.find("AGE")
    if age_col is not None:
        return ehr_number("age", row, age_col, MISSING_CODES)
    dob_col = t.find("PTDOB")
    if dob_col is None:
        return None
    born, seen = _year(cell(row, dob_col)), _year(examdate)
    if born is None or seen is None:
        return None
    age = float(seen - born)
    return check_range("age", age, f"{dob_col}/EXAMDATE")


def _year(text: str) -> int | None:
    m = re.search(r"(?<!\d)(1[89]\d\d|20\d\d)(?!\d)", text)
    return int(m.group(1)) if m else None


def merge_folder(folder: Path) -> Table:
    """Join the AIBL download's tables on RID/VISCODE, one row per aibl_pdxconv row (in its order)."""
    pdx_path = _one_file(folder, "aibl_pdxconv", required=True)
    assert pdx_path is not None
    pdx = load_table(pdx_path)
    pdx.require("DXCURREN")
    merged = _pick(pdx, ("RID", "VISCODE"), ("DXCURREN",))
    dates: list[pd.Series] = []
    for prefix, wanted in VISIT_TABLES.items():
        path = _one_file(folder, prefix)
        if path is None:
            continue
        part = _pick(load_table(path), ("RID", "VISCODE"), wanted + ("EXAMDATE",))
        part = part.rename(columns={"EXAMDATE": f"EXAMDATE_{prefix}"}).drop_duplicates(["RID", "VISCODE"])
        merged = merged.merge(part, on=["RID", "VISCODE"], how="left")
        if f"EXAMDATE_{prefix}" in merged:
            dates.append(merged.pop(f"EXAMDATE_{prefix}").fillna(""))
    if dates:  # the first table that dates the visit wins
        exam = dates[0]
        for d in dates[1:]:
            exam = exam.where(exam.map(lambda v: not is_missing(str(v))), d)
        merged["EXAMDATE"] = exam
    demog_path = _one_file(folder, "aibl_ptdemog")
    if demog_path is not None:
        merged = merged.merge(_demographics(load_table(demog_path)), on="RID", how="left")
    return make_table(pdx_path, merged.fillna(""))


def _pick(t: Table, keys: tuple[str, ...], optional: tuple[str, ...]) -> pd.DataFrame:
    """The key columns (required) and whichever ``optional`` ones ``t`` has, under their AIBL names.

    Keys are normalised so that ' 1', '1.0' and '1' join.
    """
    cols = {t.require(k): k for k in keys}
    cols.update({c: name for name in optional if (c := t.find(name)) is not None})
    part = t.frame[list(cols)].rename(columns=cols)
    for k in keys:
        part[k] = part[k].map(lambda v: int_text(str(v).strip()))
    return part


def _demographics(t: Table) -> pd.DataFrame:
    part = _pick(t, ("RID",), DEMOG_COLUMNS)
    # Demographics sit on the baseline row; later rows are often empty or -4.
    known = part.drop(columns="RID").map(lambda v: not is_missing(str(v)) and str(v).strip() not in ("-4", "-1"))
    if len(known.columns):
        part = part[known.any(axis=1)]
    return part.drop_duplicates("RID")


def _one_file(folder: Path, prefix: str, required: bool = False) -> Path | None:
    found = sorted(p for p in folder.iterdir() if p.is_file() and p.name.lower().startswith(prefix)
                   and p.suffix.lower() == ".csv")
    if len(found) > 1:
        raise AlifuseInputError(f"{folder}: several {prefix}*.csv files ({', '.join(p.name for p in found)}); keep one")
    if not found:
        if required:
            raise AlifuseInputError(f"{folder}: no {prefix}*.csv (the diagnosis table) in the AIBL folder")
        return None
    return found[0]

