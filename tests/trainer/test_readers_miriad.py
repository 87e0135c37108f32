"""MIRIAD reader: subject names, HC/AD labels, name/column consistency, recursive image search."""
from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import AlifuseInputError
from trainer.readers import read_miriad

FIX = Path(__file__).parent / "fixtures"
TABLE = FIX / "miriad.csv"


def test_labels_and_fields_value_by_value():
    rep = read_miriad(TABLE, None)
    got = {(r.subject_id, r.visit): (r.label, r.ehr) for r in rep.records}
    assert got == {
        ("miriad_188", "01"): ("impaired", {"subject_id": "miriad_188", "sex": "male", "age": 66, "mmse": 19}),
        ("miriad_189", "01"): ("NC", {"subject_id": "miriad_189", "sex": "female", "age": 70, "mmse": 30}),
        ("miriad_190", "01"): ("impaired", {"subject_id": "miriad_190", "sex": "female", "age": 58}),
        ("miriad_193", "01"): ("NC", {"subject_id": "miriad_193", "sex": "male", "age": 72, "mmse": 29}),
    }
    assert rep.skipped == [
        "miriad.csv line 5 (subject miriad_191, 01): scan name says group HC but group says AD",
        "miriad.csv line 6 (subject miriad_192, 01): group: unknown group 'MCI' (expected HC or AD)",
        "miriad.csv line 8 (subject patient_x, ?): subject: 'patient_x' is not a MIRIAD subject "
        "(e.g. miriad_188_AD_M_01_MR_1)",
    ]


def test_images_found_by_scan_name_anywhere_under_the_root(tmp_path):
    root = tmp_path / "MIRIAD"
    files = {
        "miriad_188": root / "miriad_188_AD_M" / "miriad_188_AD_M_01_MR_1.nii",
        "miriad_189": root / "miriad_189_HC_F_01_MR_1.nii.gz",
        "miriad_190": root / "190" / "01" / "miriad_190_AD_F_01_MR_1.nii",
    }
    for f in files.values():
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"")
    (root / "miriad_188_AD_M" / "miriad_188_AD_M_01_MR_2.nii").write_bytes(b"")  # the repeat scan is not taken
    rep = read_miriad(TABLE, root)
    assert {r.subject_id: r.image for r in rep.records} == files
    lost = [s for s in rep.skipped if "miriad_193" in s]
    assert len(lost) == 1 and "image not found" in lost[0] and "miriad_193_HC_M_01_MR_1.nii*" in lost[0]


def test_missing_group_column_names_file_and_column(tmp_path):
    bad = tmp_path / "miriad_table.csv"
    bad.write_text(TABLE.read_text().replace("group", "diagnosis", 1))
    with pytest.raises(AlifuseInputError, match=r"miriad_table\.csv: required column 'group' is missing"):
        read_miriad(bad, None)
