"""MIRIAD: a table of subject, group, gender, age, MMSE -> two-class NC / impaired records.

MIRIAD names its scans miriad_<number>_<group>_<gender>_<visit>_MR_<scan>, e.g.
miriad_188_AD_M_01_MR_1 (visit 01, first of the same-day repeat scans). The table's ``subject``
may be the number (188), miriad_188, miriad_188_AD_M, or a full scan name; one table row is one
visit: visit and scan come from the full name, else from ``visit`` / ``scan`` columns, else 01 and 1.
Column names are matched without case (Subject, GROUP, ...).

Label: group HC -> NC, AD -> impaired; anything else skips the row. A group or gender in the name
that contradicts the table's columns skips the row. EHR fields: gender (M/F) -> sex, age -> age,
MMSE -> mmse; empty or NA = missing (MIRIAD documents no missing codes).

Subject id: miriad_<number>. Visit: 01, 02, ... Image template keys: {subject}, {visit}, {name}
(the scan name), {number}, {group}, {gender}, {scan}; the default search finds {name}.nii* anywhere
under the image folder, then the generic patterns.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Mapping

from trainer.readers.common import (
    GENERIC_PATTERNS, ReportBuilder, RowContent, RowSkip, Table, cell, coded, ehr_number, image_finder,
    is_missing, load_table,
)
from trainer.records import ReadReport

CLASSES = ("NC", "impaired")
IMAGE_KEYS = ("subject", "visit", "name", "number", "group", "gender", "scan")
DEFAULT_PATTERNS = ("**/{name}.nii*",) + GENERIC_PATTERNS

GROUPS = {"hc": "NC", "ad": "impaired"}
SEX = {"m": "male", "f": "female", "male": "male", "female": "female"}
NAME = re.compile(r"(?:miriad_)?(\d+)(?:_([A-Za-z]+)_([MFmf])(?:_(\d+)(?:_MR_(\d+))?)?)?", re.IGNORECASE)


def read_miriad(table: Path, image_root: Path | None, image_pattern: str | None = None) -> ReadReport:
    """Read a MIRIAD subject table; one record per row (visit)."""
    t = load_table(table)
    sid_col = t.require("subject")
    group_col = t.require("group")
    finder = image_finder(image_root, image_pattern, DEFAULT_PATTERNS, IMAGE_KEYS)
    out = ReportBuilder(t.path.name, "miriad", finder)
    for line, row in t.rows():
        text = cell(row, sid_col)
        m = NAME.fullmatch(text)
        if m is None:
            out.skip(line, text, "?", f"{sid_col}: {text!r} is not a MIRIAD subject (e.g. miriad_188_AD_M_01_MR_1)")
            continue
        visit = m.group(4) or _two_digits(cell(row, t.find("visit"))) or "01"
        out.add(line, f"miriad_{m.group(1)}", visit, lambda row=row, m=m, visit=visit: _content(t, row, group_col, m, visit))
    return out.report


def _two_digits(text: str) -> str:
    return f"{int(text):02d}" if text.isdigit() else ("" if is_missing(text) else text)


def _content(t: Table, row: Mapping[str, str], group_col: str, m: re.Match[str], visit: str) -> RowContent:
    group = cell(row, group_col)
    if is_missing(group):
        raise RowSkip(f"no diagnosis in {group_col}")
    if group.lower() not in GROUPS:
        raise RowSkip(f"{group_col}: unknown group {group!r} (expected HC or AD)")
    if m.group(2) and m.group(2).lower() != group.lower():
        raise RowSkip(f"scan name says group {m.group(2)} but {group_col} says {group}")
    gender_col = t.find("gender", "sex", "M/F")
    sex = coded(row, gender_col, SEX)
    if m.group(3) and sex is not None and SEX[m.group(3).lower()] != sex:
        raise RowSkip(f"scan name says gender {m.group(3)} but {gender_col} says {cell(row, gender_col)}")
    if sex is None and m.group(3):
        sex = SEX[m.group(3).lower()]
    fields = {
        "sex": sex,
        "age": ehr_number("age", row, t.find("age")),
        "mmse": ehr_number("mmse", row, t.find("MMSE")),
    }
    scan = m.group(5) or cell(row, t.find("scan")) or "1"
    gender = {"male": "M", "female": "F"}.get(sex or "", "")
    keys = {
        "number": m.group(1), "group": group.upper(), "gender": gender, "scan": scan,
        "name": f"miriad_{m.group(1)}_{group.upper()}_{gender}_{visit}_MR_{scan}",
    }
    return GROUPS[group.lower()], fields, keys
