"""A damaged .nii.gz is an error, never a quietly wrong volume; voxel geometry no scanner makes is refused from
the header, before any kernel is sized from it (issue 14)."""
from __future__ import annotations

import gzip
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import AlifuseInputError
from engine.imageio import Volume, load_volume
from engine.preprocess import preprocess

ONCE = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def small_volume(seed: int = 0) -> np.ndarray:
    """12 x 14 x 10 random voxels in [1, 2) (also the volume of test_imageio_compressed)."""
    return np.random.default_rng(seed).random((12, 14, 10)).astype(np.float32) + 1


def nifti_bytes(folder: Path, name: str, seed: int = 0) -> bytes:
    """The file of :func:`small_volume` saved as ``folder / name`` (gzipped where name ends in .gz)."""
    p = folder / name
    nib.save(nib.Nifti1Image(small_volume(seed), np.diag([1.0, 1.1, 1.2, 1.0])), p)
    return p.read_bytes()


def load_bytes(tmp_path: Path, raw: bytes, name: str = "x.nii.gz") -> Volume:
    """``raw`` written as ``tmp_path / name`` and loaded as the viewer loads a file."""
    p = tmp_path / name
    p.write_bytes(raw)
    return load_volume(p)


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    return nifti_bytes(tmp_path_factory.mktemp("gz"), "good.nii.gz")


@settings(max_examples=40, **ONCE)
@given(where=st.floats(0.0, 1.0, exclude_max=True), flip=st.integers(1, 255))
def test_a_changed_byte_is_an_error_or_the_same_volume(tmp_path, good, where, flip):
    raw = bytearray(good)
    i = int(where * len(raw))
    raw[i] ^= flip
    try:
        vol = load_bytes(tmp_path, bytes(raw))
    except AlifuseInputError as exc:
        assert "\n" not in str(exc)
        return
    # only bytes that change no decoded byte may go unnoticed (gzip header's mtime and OS, a few unused bits of
    # deflate's code tables): what loads is the volume that was written
    np.testing.assert_array_equal(np.sort(vol.data.ravel()), np.sort(small_volume().ravel()))


@settings(max_examples=25, **ONCE)
@given(cut=st.integers(1, 4000))
def test_a_truncated_stream_is_an_error(tmp_path, good, cut):
    with pytest.raises(AlifuseInputError):
        load_bytes(tmp_path, good[:max(0, len(good) - cut)])


@settings(max_examples=25, **ONCE)
@given(tail=st.binary(min_size=1, max_size=64).filter(lambda b: b.strip(b"\0")))
def test_trailing_garbage_and_joined_files_are_errors(tmp_path, good, tail):
    with pytest.raises(AlifuseInputError, match="gzip stream|more than its header declares"):
        load_bytes(tmp_path, good + tail)
    with pytest.raises(AlifuseInputError, match="more than its header declares"):
        load_bytes(tmp_path, good + good)


def test_zero_padding_and_a_multi_member_gzip_of_one_file_are_read(tmp_path, good):
    assert load_bytes(tmp_path, good + b"\0" * 512).data.shape == (12, 14, 10)
    plain = gzip.decompress(good)
    two = gzip.compress(plain[:1000]) + gzip.compress(plain[1000:])  # as bgzip writes: members one after another
    np.testing.assert_array_equal(load_bytes(tmp_path, two).data, load_bytes(tmp_path, good).data)


def test_a_bad_crc_is_named(tmp_path, good):
    raw = bytearray(good)
    raw[-8] ^= 0xFF  # the CRC-32 of the only member
    with pytest.raises(AlifuseInputError, match="CRC-32"):
        load_bytes(tmp_path, bytes(raw))


@settings(max_examples=40, **ONCE)
@given(sizes=st.tuples(*[st.floats(1e-7, 1e3, allow_nan=False)] * 3))
@pytest.mark.timeout(120)  # a hang guard, not a speed test: a hang would never end
def test_voxel_sizes_no_scanner_makes_are_refused_from_the_header(tmp_path, sizes):
    p = tmp_path / "v.nii"
    nib.save(nib.Nifti1Image(small_volume(), np.diag([*sizes, 1.0])), p)
    plausible = min(sizes) >= 0.05 and max(sizes) <= 20 and max(sizes) <= 50 * min(sizes)
    try:
        x, _ = preprocess(load_volume(p), 16)
    except AlifuseInputError as exc:
        assert not plausible and ("voxel size" in str(exc) or "degenerate" in str(exc)), str(exc)
    else:
        assert plausible and np.isfinite(x).all()


@pytest.mark.parametrize("zooms", [(1e-5, 1e-5, 1e-5), (400.0, 1e-6, 1.0), (1.0, 1.0, 60.0), (0.01, 1.0, 1.0)])
@pytest.mark.timeout(120)  # a hang guard, not a speed test: a hang would never end
def test_absurd_geometry_is_refused_before_preprocessing(tmp_path, zooms):
    p = tmp_path / "a.nii.gz"
    nib.save(nib.Nifti1Image(small_volume(), np.diag([*zooms, 1.0])), p)
    with pytest.raises(AlifuseInputError, match="voxel size"):
        load_volume(p)
    # a Volume built in code (not read from a file) is refused before the anti-aliasing kernel is built
    vol = Volume(small_volume(), np.diag([*zooms, 1.0]), np.diag([*zooms, 1.0]), (12, 14, 10), "mem")
    with pytest.raises(AlifuseInputError, match="voxel size"):
        preprocess(vol, 16)
