"""ADNIMERGE reader: label mapping (new DX, old DXCHANGE/DX_bl), EHR fields, skips, images."""
from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import AlifuseInputError
from trainer.readers import read_adni

FIX = Path(__file__).parent / "fixtures"


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def _by_visit(report):
    return {(r.subject_id, r.visit): r for r in report.records}


def test_current_release_labels_and_fields_value_by_value():
    rep = read_adni(FIX / "adnimerge.csv", None)
    got = {k: (r.label, r.ehr) for k, r in _by_visit(rep).items()}
    assert got == {
        ("011_S_0002", "bl"): ("NC", {"subject_id": "011_S_0002", "age": 74.3, "sex": "male", "education_years": 16,
                                      "mmse": 28, "cdr_sb": 0.0, "logical_memory_delayed": 10}),
        # AGE is age at baseline: 74.3 + Years_bl 0.490075 -> 74.8
        ("011_S_0002", "m06"): ("NC", {"subject_id": "011_S_0002", "age": 74.8, "sex": "male", "education_years": 16,
                                       "mmse": 29, "cdr_sb": 0.0, "logical_memory_delayed": 13}),
        ("011_S_0003", "bl"): ("AD", {"subject_id": "011_S_0003", "age": 81.3, "sex": "male", "education_years": 18,
                                      "mmse": 20, "cdr_sb": 4.5, "logical_memory_delayed": 2}),
        # empty MMSE and LDELTOTAL -4 are missing, not zero
        ("011_S_0003", "m12"): ("AD", {"subject_id": "011_S_0003", "age": 82.3, "sex": "male", "education_years": 18,
                                       "cdr_sb": 6.0}),
        ("022_S_0004", "bl"): ("MCI", {"subject_id": "022_S_0004", "age": 67.5, "sex": "female", "education_years": 10,
                                       "mmse": 27, "cdr_sb": 1.0, "logical_memory_delayed": 4}),
        ("011_S_0005", "bl"): ("NC", {"subject_id": "011_S_0005", "age": 73.7, "sex": "male", "education_years": 16,
                                      "mmse": 29, "cdr_sb": 0.0, "logical_memory_delayed": 14}),
        ("011_S_0008", "bl"): ("NC", {"subject_id": "011_S_0008", "age": 84.5, "sex": "female", "education_years": 18,
                                      "mmse": 29, "cdr_sb": 0.0, "logical_memory_delayed": 15}),
    }
    assert {r.dataset for r in rep.records} == {"adni"}
    assert all(r.image == Path("") for r in rep.records)


def test_current_release_skips_name_line_subject_and_reason():
    skipped = read_adni(FIX / "adnimerge.csv", None).skipped
    assert skipped == [
        "adnimerge.csv line 8 (subject 100_S_0006, bl): DX: unknown diagnosis 'Other'",
        "adnimerge.csv line 9 (subject 022_S_0007, bl): MMSE: field 'mmse': 31 is out of range 0-30 "
        "and is not a documented missing code",
        "adnimerge.csv line 11 (subject 011_S_0009, m24): no diagnosis in DX "
        "(DX_bl is used only at the baseline visit)",
    ]


def test_older_release_uses_dxchange_then_baseline_dx_bl():
    rep = read_adni(FIX / "adnimerge_old.csv", None)
    got = {k: r.label for k, r in _by_visit(rep).items()}
    assert got == {
        ("002_S_0010", "bl"): "NC",     # DX_bl SMC at baseline, DXCHANGE empty
        ("002_S_0010", "m12"): "MCI",   # DXCHANGE 4: NL -> MCI
        ("002_S_0011", "bl"): "MCI",    # DXCHANGE 2: stable MCI
        ("002_S_0011", "m24"): "AD",    # DXCHANGE 5: MCI -> AD
        ("002_S_0013", "bl"): "MCI",
        ("002_S_0014", "uns1"): "NC",   # DXCHANGE 1: stable NL
    }
    assert any("002_S_0012, m06): no diagnosis in DXCHANGE" in s for s in rep.skipped)
    assert any("002_S_0015, bl): DXCHANGE: unknown code '12'" in s for s in rep.skipped)
    assert len(rep.skipped) == 2


def test_older_release_handedness_and_age_from_visit_month():
    recs = _by_visit(read_adni(FIX / "adnimerge_old.csv", None))
    assert recs[("002_S_0010", "bl")].ehr["handedness"] == "right"
    assert recs[("002_S_0011", "bl")].ehr["handedness"] == "left"
    assert "handedness" not in recs[("002_S_0013", "bl")].ehr  # PTHAND -4
    # no Years_bl column: m12 adds one year, m24 two; an unscheduled visit has no age
    assert recs[("002_S_0010", "m12")].ehr["age"] == 71
    assert recs[("002_S_0011", "m24")].ehr["age"] == pytest.approx(67.2)
    assert "age" not in recs[("002_S_0014", "uns1")].ehr


@pytest.mark.parametrize("drop", [["DX", "DX_bl"], ["PTID", "RID"]])
def test_missing_required_column_names_file_and_column(tmp_path, drop):
    import pandas as pd
    df = pd.read_csv(FIX / "adnimerge.csv", dtype=str).drop(columns=drop)
    bad = tmp_path / "ADNIMERGE_bad.csv"
    df.to_csv(bad, index=False)
    with pytest.raises(AlifuseInputError) as err:
        read_adni(bad, None)
    assert str(bad) in str(err.value)
    assert repr(drop[0]) in str(err.value) and "missing" in str(err.value)


def test_images_by_subject_and_visit_and_missing_image_reported(tmp_path):
    root = tmp_path / "img"
    a = _touch(root / "011_S_0002" / "bl" / "t1.nii.gz")
    b = _touch(root / "011_S_0002_m06.nii")
    for sid, vis in [("011_S_0003", "bl"), ("011_S_0003", "m12"), ("022_S_0004", "bl"), ("011_S_0008", "bl")]:
        _touch(root / sid / vis / "scan.nii.gz")
    rep = read_adni(FIX / "adnimerge.csv", root)
    recs = _by_visit(rep)
    assert recs[("011_S_0002", "bl")].image == a
    assert recs[("011_S_0002", "m06")].image == b
    assert ("011_S_0005", "bl") not in recs
    missing = [s for s in rep.skipped if "011_S_0005" in s]
    assert len(missing) == 1 and "line 7" in missing[0] and "image not found" in missing[0]
    assert str(root / "011_S_0005" / "bl") in missing[0]
    assert len(rep.records) == 6 and len(rep.skipped) == 4


def test_explicit_pattern_with_adni_download_layout(tmp_path):
    root = tmp_path / "ADNI"
    want = _touch(root / "011_S_0002" / "MPRAGE" / "2005-09-08_13_31_43.0" / "I13722" / "ADNI_011_S_0002.nii")
    rep = read_adni(FIX / "adnimerge.csv", root, image_pattern="{ptid}/MPRAGE/{examdate}_*/*/*.nii")
    assert [(r.subject_id, r.visit, r.image) for r in rep.records] == [("011_S_0002", "bl", want)]


def test_dx_bl_is_not_used_for_a_visit_whose_code_is_blank(tmp_path):
    table = tmp_path / "adnimerge.csv"
    table.write_text("RID,PTID,VISCODE,EXAMDATE,DX_bl,DX,AGE\n"
                     "20,002_S_0020,bl,2010-01-04,AD,,70\n"
                     "20,002_S_0020,,2011-01-10,AD,,70\n")
    rep = read_adni(table, None)
    assert [(r.visit, r.label) for r in rep.records] == [("bl", "AD")]
    assert rep.skipped == ["adnimerge.csv line 3 (subject 002_S_0020, 2011-01-10): no diagnosis in DX "
                           "(DX_bl is used only at the baseline visit)"]
