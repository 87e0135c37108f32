"""Fuzz: whatever bytes a user opens, the loader returns a sane Volume or one AlifuseInputError."""
from __future__ import annotations

import gzip
import io
import tempfile
from pathlib import Path

import nibabel as nib
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import AlifuseInputError
from engine.imageio import Volume, load_volume

SUFFIXES = [".nii", ".nii.gz", ".mgz"]


def _valid_bytes(suffix: str) -> bytes:
    """A small valid image file of the given kind, uncompressed where the format allows."""
    data = np.random.default_rng(0).random((6, 7, 5)).astype(np.float32)
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / ("x.mgh" if suffix == ".mgz" else "x.nii")
        img = nib.MGHImage(data, np.eye(4)) if suffix == ".mgz" else nib.Nifti1Image(data, np.eye(4))
        nib.save(img, str(p))
        return p.read_bytes()


VALID = {s: _valid_bytes(s) for s in SUFFIXES}


def _check(raw: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / f"fuzz{suffix}"
        p.write_bytes(raw)
        try:
            vol = load_volume(p)
        except AlifuseInputError as exc:
            assert str(p) in str(exc) and "\n" not in str(exc)
            return
        # Garbage that still parses must give a usable volume.
        assert isinstance(vol, Volume)
        assert vol.data.ndim == 3 and vol.data.dtype == np.float32
        assert np.isfinite(vol.data).all() and np.isfinite(vol.affine).all()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=st.binary(max_size=3000), suffix=st.sampled_from(SUFFIXES))
def test_random_bytes_never_raise_anything_else(raw, suffix):
    _check(raw, suffix)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    suffix=st.sampled_from(SUFFIXES),
    edits=st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), min_size=1, max_size=12),
    cut=st.one_of(st.none(), st.integers(0, 2000)),
)
def test_corrupted_headers_never_raise_anything_else(suffix, edits, cut):
    """Random bytes rarely get past the magic number; flipping header bytes of a real file does."""
    raw = bytearray(VALID[suffix])
    for pos, value in edits:
        raw[pos % len(raw)] = value
    raw = bytes(raw if cut is None else raw[:cut])
    if suffix != ".nii":
        buf = io.BytesIO()
        with gzip.GzipFile(fileobj=buf, mode="wb") as gz:
            gz.write(raw)
        raw = buf.getvalue()
    _check(raw, suffix)
