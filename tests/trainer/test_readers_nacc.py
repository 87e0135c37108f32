"""NACC UDS reader: NACCUDSD labels, UDS missing codes, AD-etiology restriction, images."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from engine.errors import AlifuseInputError
from trainer.readers import read_dataset, read_nacc

FIX = Path(__file__).parent / "fixtures"
TABLE = FIX / "nacc_uds.csv"


def test_labels_and_fields_value_by_value():
    rep = read_nacc(TABLE, None)
    got = {(r.subject_id, r.visit): (r.label, r.ehr) for r in rep.records}
    assert got == {
        ("NACC000001", "1"): ("NC", {"subject_id": "NACC000001", "age": 75, "sex": "female", "education_years": 16,
                                     "handedness": "right", "mmse": 29, "cdr": 0.0, "cdr_sb": 0.0,
                                     "logical_memory_delayed": 13}),
        # NACCMMSE 88 (not calculated) -> missing; MEMUNITS is the delayed recall, LOGIMEM is not used
        ("NACC000001", "2"): ("MCI", {"subject_id": "NACC000001", "age": 76, "sex": "female", "education_years": 16,
                                      "handedness": "right", "cdr": 0.5, "cdr_sb": 1.5,
                                      "logical_memory_delayed": 9}),
        # EDUC 99 and MEMUNITS 95 are missing codes; HANDED 1 is left
        ("NACC000002", "1"): ("AD", {"subject_id": "NACC000002", "age": 80, "sex": "male", "handedness": "left",
                                     "mmse": 27, "cdr": 1.0, "cdr_sb": 5.5}),
        # HANDED 9 unknown
        ("NACC000004", "1"): ("AD", {"subject_id": "NACC000004", "age": 82, "sex": "female", "education_years": 14,
                                     "mmse": 18, "cdr": 2.0, "cdr_sb": 12.0, "logical_memory_delayed": 2}),
        ("NACC000006", "1"): ("NC", {"subject_id": "NACC000006", "age": 71, "sex": "female", "education_years": 20,
                                     "handedness": "right", "mmse": 30, "cdr": 0.0, "cdr_sb": 0.0,
                                     "logical_memory_delayed": 16}),
    }


def test_skips_impaired_not_mci_out_of_range_and_unknown_diagnosis():
    assert read_nacc(TABLE, None).skipped == [
        "nacc_uds.csv line 5 (subject NACC000003, 1): NACCUDSD: 2 (impaired, not MCI) has no NC/MCI/AD class",
        "nacc_uds.csv line 7 (subject NACC000005, 1): NACCMMSE: field 'mmse': 35 is out of range 0-30 "
        "and is not a documented missing code",
        "nacc_uds.csv line 9 (subject NACC000007, 1): NACCUDSD: unknown code '7' (expected one of 1, 3, 4)",
    ]


@pytest.mark.parametrize("code", ["-4", "88", "95", "96", "97", "98"])
def test_every_documented_mmse_code_is_missing(tmp_path, code):
    df = pd.read_csv(TABLE, dtype=str)
    df.loc[0, "NACCMMSE"] = code
    path = tmp_path / "uds.csv"
    df.to_csv(path, index=False)
    first = read_nacc(path, None).records[0]
    assert first.subject_id == "NACC000001" and "mmse" not in first.ehr


def test_values_the_engine_rejects_skip_the_row(tmp_path):
    df = pd.read_csv(TABLE, dtype=str)
    df.loc[0, "CDRSUM"] = "2.3"   # CDR sum of boxes comes in halves
    df.loc[1, "EDUC"] = "42"      # neither a valid number of years nor NACC's 99
    path = tmp_path / "uds.csv"
    df.to_csv(path, index=False)
    skipped = read_nacc(path, None).skipped
    assert skipped[0] == "uds.csv line 2 (subject NACC000001, 1): CDRSUM: field 'cdr_sb': 2.3 is not a multiple " \
                         "of 0.5 and is not a documented missing code"
    assert skipped[1].startswith("uds.csv line 3 (subject NACC000001, 2): EDUC: field 'education_years': 42 is out of range")


def test_plain_mmse_column_is_read_when_naccmmse_is_absent(tmp_path):
    df = pd.read_csv(TABLE, dtype=str).rename(columns={"NACCMMSE": "MMSE"})
    path = tmp_path / "uds.csv"
    df.to_csv(path, index=False)
    assert [r.ehr.get("mmse") for r in read_nacc(path, None).records] == [29, None, 27, 18, 30]


def test_ad_only_keeps_dementia_of_presumed_alzheimer_etiology():
    rep = read_dataset("nacc", TABLE, None, ad_only=True)
    assert ("NACC000004", "AD") not in {(r.subject_id, r.label) for r in rep.records}
    assert ("NACC000002", "AD") in {(r.subject_id, r.label) for r in rep.records}
    assert any("NACC000004" in s and "NACCALZD = 0" in s for s in rep.skipped)


def test_ad_only_falls_back_to_naccetpr(tmp_path):
    df = pd.read_csv(TABLE, dtype=str).drop(columns=["NACCALZD"])
    path = tmp_path / "uds.csv"
    df.to_csv(path, index=False)
    rep = read_nacc(path, None, ad_only=True)
    assert any("NACC000004" in s and "NACCETPR = 2" in s for s in rep.skipped)


def test_missing_naccudsd_names_file_and_column(tmp_path):
    df = pd.read_csv(TABLE, dtype=str).drop(columns=["NACCUDSD"])
    path = tmp_path / "investigator_nacc.csv"
    df.to_csv(path, index=False)
    with pytest.raises(AlifuseInputError, match=r"investigator_nacc\.csv: required column 'NACCUDSD' is missing"):
        read_nacc(path, None)


def test_images_by_visit_date_pattern_and_missing_image(tmp_path):
    root = tmp_path / "mri"
    for name in ["NACC000001_2006-03-14.nii.gz", "NACC000001_2007-04-02.nii.gz", "NACC000002_2006-06-21.nii.gz",
                 "NACC000004_2008-02-03.nii.gz"]:
        root.mkdir(exist_ok=True)
        (root / name).write_bytes(b"")
    rep = read_nacc(TABLE, root, "{subject}_{date}.nii*")
    assert {(r.subject_id, r.visit, r.image.name) for r in rep.records} == {
        ("NACC000001", "1", "NACC000001_2006-03-14.nii.gz"), ("NACC000001", "2", "NACC000001_2007-04-02.nii.gz"),
        ("NACC000002", "1", "NACC000002_2006-06-21.nii.gz"), ("NACC000004", "1", "NACC000004_2008-02-03.nii.gz")}
    assert any(s.startswith("nacc_uds.csv line 8 (subject NACC000006, 1): image not found") for s in rep.skipped)
