"""Hostile manifests (issue 14): only regular files are read or hashed; skipped-row warnings carry no subject id."""
from __future__ import annotations

import os

import nibabel as nib
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import AlifuseInputError
from trainer.cache import content_hash
from trainer.records import read_manifest
from tests.hang_guard import finishes

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")


def _write(folder, rows):
    lines = ["subject_id,visit,image,label"] + [",".join(r) for r in rows]
    (folder / "m.csv").write_text("\n".join(lines) + "\n")
    return folder / "m.csv"


@needs_fifo
def test_rows_whose_image_is_a_fifo_or_a_device_are_skipped_without_reading_them(tmp_path):
    nib.save(nib.Nifti1Image(np.ones((4, 4, 4), np.float32), np.eye(4)), tmp_path / "ok.nii")
    os.mkfifo(tmp_path / "pipe.nii")
    manifest = _write(tmp_path, [("002_S_0295", "bl", "ok.nii", "NC"), ("002_S_0413", "bl", "pipe.nii", "AD"),
                                 ("002_S_0619", "m06", "/dev/zero", "MCI"), ("002_S_0816", "bl", "gone.nii", "AD")])
    rep = finishes(lambda: read_manifest(manifest))
    assert [r.subject_id for r in rep.records] == ["002_S_0295"]
    assert rep.skipped == ["m.csv line 3 (visit bl): the image is a named pipe (FIFO), not a regular file",
                           "m.csv line 4 (visit m06): the image is a character device, not a regular file",
                           "m.csv line 5 (visit bl): image not found"]
    with pytest.raises(AlifuseInputError, match="named pipe"):
        finishes(lambda: content_hash(tmp_path / "pipe.nii"))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sid=st.text(st.characters(whitelist_categories=("L", "N"), whitelist_characters="_-"), min_size=3,
                   max_size=20))
def test_a_skipped_rows_warning_never_names_the_subject(tmp_path, sid):
    manifest = _write(tmp_path, [(sid, "bl", f"{sid}.nii", "NC")])
    rep = read_manifest(manifest)
    assert rep.records == [] and len(rep.skipped) == 1
    assert sid not in rep.skipped[0].replace("m.csv line 2 (visit bl)", "")


@needs_fifo
def test_a_manifest_that_is_a_fifo_is_refused_at_once(tmp_path):
    os.mkfifo(tmp_path / "m.csv")
    with pytest.raises(AlifuseInputError, match="manifest is a named pipe"):
        finishes(lambda: read_manifest(tmp_path / "m.csv"))


# ---- numbers as a person writes them, one label per visit (issue 14) ----

def _ehr_manifest(folder, column, value, rows=None):
    lines = [f"subject_id,visit,image,label,{column}"] + (rows or [f"s1,bl,x.nii,NC,{value}"])
    (folder / "e.csv").write_text("\n".join(lines) + "\n")
    return folder / "e.csv"


@pytest.mark.parametrize("column, cell, expected", [
    ("mmse", " 29 ", 29), ("mmse", "29.0", 29), ("age", "74.5", 74.5), ("age", "+70", 70), ("cdr", ".5", 0.5),
    ("cdr_sb", "2.5", 2.5), ("education_years", "12", 12),
])
def test_plain_decimals_are_read(tmp_path, column, cell, expected):
    rec = read_manifest(_ehr_manifest(tmp_path, column, cell), check_images=False).records[0]
    assert rec.ehr[column] == expected and type(rec.ehr[column]) is type(expected)


@pytest.mark.parametrize("column, cell", [
    ("mmse", "2_9"), ("age", "7_0"), ("age", "1e2"), ("mmse", "0x1d"), ("age", "nan"), ("age", "inf"),
    ("mmse", "\uff12\uff19"), ("age", "0.001"), ("age", "0.5"), ("age", "74.123"), ("mmse", "29,0"),
])
def test_numbers_no_person_writes_are_refused_naming_field_and_line(tmp_path, column, cell):
    with pytest.raises(AlifuseInputError, match=rf"e\.csv line 2: field '{column}'"):
        read_manifest(_ehr_manifest(tmp_path, column, f'"{cell}"'), check_images=False)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(st.sampled_from("0123456789_.eE+-x "), min_size=1, max_size=6))
def test_a_number_cell_is_its_plain_decimal_or_refused(tmp_path, cell):
    import re

    try:
        rec = read_manifest(_ehr_manifest(tmp_path, "mmse", f'"{cell}"'), check_images=False).records[0]
    except AlifuseInputError as exc:
        assert "field 'mmse'" in str(exc)
        return
    if "mmse" in rec.ehr:  # read: it was a plain decimal, and its value is what it says
        assert re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)", cell.strip()) and rec.ehr["mmse"] == float(cell.strip())
    else:
        assert not cell.strip()


def test_one_visit_with_two_labels_is_refused_naming_the_lines(tmp_path):
    rows = ["s1,bl,x.nii,NC,", "s2,bl,y.nii,AD,", "S1 ,BL,z.nii,AD,"]
    with pytest.raises(AlifuseInputError, match=r"line 4: the subject and visit of line 2 again") as exc:
        read_manifest(_ehr_manifest(tmp_path, "mmse", "", rows), check_images=False)
    assert "s1" not in str(exc.value).lower().replace("e.csv", "")
    same = ["s1,bl,x.nii,NC,", "s1,bl,x2.nii,NC,", "s1,m12,y.nii,AD,"]  # a repeat with the same label, a later visit
    assert len(read_manifest(_ehr_manifest(tmp_path, "mmse", "", same), check_images=False).records) == 3
