"""Hostile manifests (issue 14): only regular files are read or hashed; skipped-row warnings carry no subject id."""
from __future__ import annotations

import os
import threading

import nibabel as nib
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import AlifuseInputError
from trainer.cache import content_hash
from trainer.records import read_manifest

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")


def _finishes(fn, seconds=5.0):
    out = {}

    def target():
        try:
            out["v"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed back
            out["e"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"blocked for more than {seconds} s"
    if "e" in out:
        raise out["e"]
    return out["v"]


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
    rep = _finishes(lambda: read_manifest(manifest))
    assert [r.subject_id for r in rep.records] == ["002_S_0295"]
    assert rep.skipped == ["m.csv line 3 (visit bl): the image is a named pipe (FIFO), not a regular file",
                           "m.csv line 4 (visit m06): the image is a character device, not a regular file",
                           "m.csv line 5 (visit bl): image not found"]
    with pytest.raises(AlifuseInputError, match="named pipe"):
        _finishes(lambda: content_hash(tmp_path / "pipe.nii"))


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
        _finishes(lambda: read_manifest(tmp_path / "m.csv"))
