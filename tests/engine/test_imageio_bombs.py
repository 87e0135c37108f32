"""Images that are bombs or not files (issue 14): refused from the header or the file's type, at once.

A few KB of .nii.gz / .nii.bz2 whose header declares gigabytes, a complex volume, a NIfTI that is a FIFO, an
Analyze header whose image half is a FIFO: each is one AlifuseInputError naming the file, before data is read.
"""
from __future__ import annotations

import bz2
import gzip
import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import AlifuseInputError
from engine.imageio import MAX_DECODED_BYTES, load_volume
from tests.hang_guard import finishes

COMPRESS = {".nii": lambda b: b, ".nii.gz": gzip.compress, ".nii.bz2": bz2.compress}


def _header_only(shape, dtype, data: bytes = b"\0" * 64) -> bytes:
    """A NIfTI-1 single file: header, empty extension flag, then only ``data`` (far less than declared)."""
    hdr = nib.Nifti1Header()
    hdr.set_data_dtype(dtype)
    hdr.set_data_shape(shape)
    hdr.set_qform(np.eye(4), code=1)
    hdr["vox_offset"] = 352
    return hdr.binaryblock + b"\0\0\0\0" + data


@pytest.mark.parametrize("suffix", list(COMPRESS))
@pytest.mark.timeout(120)  # a hang guard, not a speed test: a hang would never end
def test_a_tiny_file_declaring_a_huge_volume_is_refused_from_its_header(tmp_path, suffix):
    path = tmp_path / f"bomb{suffix}"
    raw = _header_only((1024, 1024, 400), np.float32)  # 1.6 GiB declared (under the voxel-count limit)
    path.write_bytes(COMPRESS[suffix](raw))
    assert path.stat().st_size < 4000 or suffix == ".nii"
    with pytest.raises(AlifuseInputError, match=r"bomb.*declares a 1024x1024x400 volume.*before decompressing"):
        finishes(lambda: load_volume(path))


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_complex_volumes_are_refused_from_the_header(tmp_path, dtype):
    path = tmp_path / "c.nii.gz"
    path.write_bytes(gzip.compress(_header_only((400, 400, 400), dtype)))
    with pytest.raises(AlifuseInputError, match="complex.*not a scalar intensity image"):
        finishes(lambda: load_volume(path))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(shape=st.tuples(st.integers(2, 3000), st.integers(2, 3000), st.integers(2, 3000)),
       dtype=st.sampled_from([np.uint8, np.int16, np.int32, np.float32, np.float64, np.complex64, np.int64]),
       suffix=st.sampled_from(list(COMPRESS)))
def test_declared_sizes_are_bounded_before_reading(tmp_path, shape, dtype, suffix):
    """Whatever a header declares, loading ends fast with a Volume or one error; a volume over the limit, or a
    complex one, is refused from the header."""
    path = tmp_path / f"h{suffix}"
    path.write_bytes(COMPRESS[suffix](_header_only(shape, dtype)))
    need = int(np.prod(shape, dtype=np.int64)) * max(np.dtype(dtype).itemsize, 4)
    try:
        finishes(lambda: load_volume(path), 10)
    except AlifuseInputError as exc:
        msg = str(exc)
        assert str(path) in msg and "\n" not in msg
        if np.dtype(dtype).kind == "c":  # refused for its type, or first for a shape no scanner makes
            assert "not a scalar intensity image" in msg or "implausibly large" in msg
        elif need > MAX_DECODED_BYTES:
            assert "before decompressing" in msg or "implausibly large" in msg
        return
    raise AssertionError("a header with 64 bytes of data cannot give a volume")


needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")


@needs_fifo
@pytest.mark.parametrize("name", ["scan.nii", "scan.nii.gz", "scan.mgz"])
def test_an_image_that_is_a_fifo_is_refused_at_once(tmp_path, name):
    fifo = tmp_path / name
    os.mkfifo(fifo)
    with pytest.raises(AlifuseInputError, match="named pipe"):
        finishes(lambda: load_volume(fifo))


@needs_fifo
@pytest.mark.parametrize("img_name", ["scan.img", "scan.img.gz"])
def test_an_analyze_header_whose_image_file_is_a_fifo_is_refused_at_once(tmp_path, img_name):
    data = np.random.default_rng(0).random((6, 7, 5)).astype(np.float32)
    nib.save(nib.AnalyzeImage(data, np.eye(4)), str(tmp_path / "real.hdr"))
    hdr = tmp_path / "scan.hdr"
    hdr.write_bytes((tmp_path / "real.hdr").read_bytes())
    os.mkfifo(tmp_path / img_name)
    with pytest.raises(AlifuseInputError, match=rf"{img_name}: the image file is a named pipe"):
        finishes(lambda: load_volume(hdr))
    assert load_volume(tmp_path / "real.hdr").data.shape == (6, 7, 5)  # a real pair still loads


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_a_link_to_dev_zero_is_refused(tmp_path):
    link = tmp_path / "zero.nii"
    link.symlink_to("/dev/zero")
    with pytest.raises(AlifuseInputError, match="character device"):
        finishes(lambda: load_volume(link))
