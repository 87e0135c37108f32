"""AIBL reader: merged table and download folder give the same records; DXCURREN labels; -4 codes."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.errors import AlifuseInputError
from trainer.readers import read_aibl

FIX = Path(__file__).parent / "fixtures"


def test_merged_table_labels_and_fields_value_by_value():
    rep = read_aibl(FIX / "aibl_merged.csv", None)
    got = {(r.subject_id, r.visit): (r.label, r.ehr) for r in rep.records}
    assert got == {
        # age = exam year 2008 - birth year 1931
        ("1", "bl"): ("NC", {"subject_id": "1", "age": 77, "sex": "male", "mmse": 29, "cdr": 0.0,
                             "logical_memory_delayed": 12}),
        ("1", "m18"): ("MCI", {"subject_id": "1", "age": 79, "sex": "male", "mmse": 28, "cdr": 0.5,
                               "logical_memory_delayed": 9}),
        ("2", "bl"): ("AD", {"subject_id": "2", "age": 63, "sex": "female", "mmse": 24, "cdr": 1.0}),
        ("3", "bl"): ("NC", {"subject_id": "3", "age": 58, "sex": "female", "cdr": 0.0,
                             "logical_memory_delayed": 14}),
        ("6", "bl"): ("MCI", {"subject_id": "6", "age": 73, "sex": "male", "mmse": 26, "cdr": 0.5,
                              "logical_memory_delayed": 8}),
    }
    assert rep.skipped == [
        "aibl_merged.csv line 6 (subject 4, bl): no diagnosis in DXCURREN",
        "aibl_merged.csv line 7 (subject 5, bl): DXCURREN: unknown code '7' (expected one of 1, 2, 3)",
    ]


def test_download_folder_gives_the_same_records_as_the_merged_table():
    merged, folder = read_aibl(FIX / "aibl_merged.csv", None), read_aibl(FIX / "aibl", None)
    assert folder.records == merged.records
    assert [s.split(": ", 1)[1] for s in folder.skipped] == [s.split(": ", 1)[1] for s in merged.skipped]
    assert folder.skipped[0].startswith("aibl_pdxconv_01-Jun-2018.csv line 6 (subject 4, bl)")


def test_folder_without_optional_tables_leaves_their_fields_missing(tmp_path):
    folder = tmp_path / "aibl"
    folder.mkdir()
    shutil.copy(FIX / "aibl" / "aibl_pdxconv_01-Jun-2018.csv", folder)
    shutil.copy(FIX / "aibl" / "aibl_cdr_01-Jun-2018.csv", folder)
    recs = read_aibl(folder, None).records
    assert recs[0].ehr == {"subject_id": "1", "cdr": 0.0}  # no PTDOB: no age, no MMSE table: no mmse


def test_folder_without_diagnosis_table_is_an_error(tmp_path):
    folder = tmp_path / "aibl"
    folder.mkdir()
    shutil.copy(FIX / "aibl" / "aibl_mmse_01-Jun-2018.csv", folder)
    with pytest.raises(AlifuseInputError, match=r"no aibl_pdxconv\*\.csv"):
        read_aibl(folder, None)


def test_missing_dxcurren_column_names_file_and_column(tmp_path):
    bad = tmp_path / "aibl_all.csv"
    bad.write_text((FIX / "aibl_merged.csv").read_text().replace("DXCURREN", "DX", 1))
    with pytest.raises(AlifuseInputError, match=r"aibl_all\.csv: required column 'DXCURREN' is missing"):
        read_aibl(bad, None)


def test_out_of_range_cdr_skips_the_row(tmp_path):
    bad = tmp_path / "aibl_all.csv"
    bad.write_text((FIX / "aibl_merged.csv").read_text().replace("1,bl,09/15/2008,1,/1931,29,0,", "1,bl,09/15/2008,1,/1931,29,4,"))
    rep = read_aibl(bad, None)
    assert rep.skipped[0] == ("aibl_all.csv line 2 (subject 1, bl): CDGLOBAL: field 'cdr': 4 is not one of "
                              "0, 0.5, 1, 2, 3 and is not a documented missing code")


def test_images_by_rid_and_viscode(tmp_path):
    root = tmp_path / "aibl_mri"
    for name in ["1/bl/mprage.nii.gz", "1/m18/mprage.nii.gz", "2/bl/mprage.nii.gz", "6/bl/mprage.nii.gz"]:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"")
    rep = read_aibl(FIX / "aibl_merged.csv", root)
    assert [(r.subject_id, r.visit, r.image) for r in rep.records] == [
        ("1", "bl", root / "1/bl/mprage.nii.gz"), ("1", "m18", root / "1/m18/mprage.nii.gz"),
        ("2", "bl", root / "2/bl/mprage.nii.gz"), ("6", "bl", root / "6/bl/mprage.nii.gz")]
    assert any(s.startswith("aibl_merged.csv line 5 (subject 3, bl): image not found") for s in rep.skipped)
