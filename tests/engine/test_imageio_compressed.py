"""Every compressed image (gzip, bzip2, zstd where Python reads it) is read to its end once, in bounded memory,
before its data is used (issue 14): a truncated stream, a failed check, trailing garbage or two files joined is
one line naming the file, never a quietly wrong volume, and a stream that expands past what its header declares
is stopped while it streams."""
from __future__ import annotations

import bz2
import gzip
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.compressed import _zstd_module
from engine.errors import AlifuseInputError
from engine.imageio import load_volume
from tests.engine.test_imageio_integrity import load_bytes, nifti_bytes, small_volume
from tests.hang_guard import finishes

ONCE = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
ZSTD = _zstd_module()
KINDS = {".gz": ("gzip", gzip.compress), ".bz2": ("bzip2", bz2.compress)}
if ZSTD is not None:
    KINDS[".zst"] = ("zstd", lambda b: ZSTD.compress(b, options={ZSTD.CompressionParameter.checksum_flag: 1}))
kinds = st.sampled_from(sorted(KINDS))


SEED = 1


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    return nifti_bytes(tmp_path_factory.mktemp("nii"), "plain.nii", SEED)


def _load(tmp_path, raw: bytes, suffix: str):
    return load_bytes(tmp_path, raw, f"x.nii{suffix}")


@settings(max_examples=40, **ONCE)
@given(suffix=kinds, where=st.floats(0.0, 1.0, exclude_max=True), flip=st.integers(1, 255))
def test_a_changed_byte_is_an_error_or_the_same_volume(tmp_path, plain, suffix, where, flip):
    raw = bytearray(KINDS[suffix][1](plain))
    raw[int(where * len(raw))] ^= flip
    try:
        vol = _load(tmp_path, bytes(raw), suffix)
    except AlifuseInputError as exc:
        assert "\n" not in str(exc) and "x.nii" in str(exc)
        return
    # only bytes that change no decoded byte may go unnoticed (a header's time stamp, the unused bits at the end)
    np.testing.assert_array_equal(np.sort(vol.data.ravel()), np.sort(small_volume(SEED).ravel()))


@settings(max_examples=30, **ONCE)
@given(suffix=kinds, cut=st.floats(0.0, 1.0, exclude_max=True))
def test_a_truncated_stream_is_an_error(tmp_path, plain, suffix, cut):
    raw = KINDS[suffix][1](plain)
    with pytest.raises(AlifuseInputError) as info:
        _load(tmp_path, raw[:int(cut * (len(raw) - 1))], suffix)
    assert "\n" not in str(info.value)


@settings(max_examples=30, **ONCE)
@given(suffix=kinds, tail=st.binary(min_size=1, max_size=64).filter(lambda b: b.strip(b"\0")))
def test_trailing_garbage_and_joined_files_are_errors(tmp_path, plain, suffix, tail):
    kind, pack = KINDS[suffix]
    raw = pack(plain)
    with pytest.raises(AlifuseInputError, match=f"{kind} stream|more than its header declares"):
        _load(tmp_path, raw + tail, suffix)
    with pytest.raises(AlifuseInputError, match="more than its header declares"):
        _load(tmp_path, raw + raw, suffix)


@pytest.mark.parametrize("suffix", sorted(KINDS))
def test_zero_padding_and_several_members_of_one_file_are_read(tmp_path, plain, suffix):
    pack = KINDS[suffix][1]
    assert _load(tmp_path, pack(plain) + b"\0" * 512, suffix).data.shape == (12, 14, 10)
    two = pack(plain[:1000]) + pack(plain[1000:])  # as pbzip2 and bgzip write: streams one after another
    np.testing.assert_array_equal(_load(tmp_path, two, suffix).data, small_volume(SEED))


def test_a_bad_bzip2_crc_is_named(tmp_path, plain):
    raw = bytearray(bz2.compress(plain))
    raw[10] ^= 0x10  # the first block's CRC: after "BZh9" and the block's 6-byte magic
    with pytest.raises(AlifuseInputError, match="bzip2 stream is damaged.*CRC"):
        _load(tmp_path, bytes(raw), ".bz2")


@pytest.mark.parametrize("suffix", [".gz", ".bz2"])
@pytest.mark.timeout(120)  # a hang guard, not a speed test
def test_a_stream_that_expands_past_its_header_is_stopped_in_bounded_memory(tmp_path, plain, suffix):
    """A few hundred bytes after the data that expand to 64 MiB: refused, and the check never holds more than a
    few MiB of it (the whole expansion at once would be 64 MiB)."""
    path = tmp_path / f"bomb.nii{suffix}"
    path.write_bytes(KINDS[suffix][1](plain + bytes(64 << 20)))
    assert path.stat().st_size < 200_000
    tracemalloc.start()
    try:
        with pytest.raises(AlifuseInputError, match="bomb.*more than its header declares"):
            finishes(lambda: load_volume(path), 60)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, peak


@pytest.mark.skipif(ZSTD is not None, reason="this Python reads .zst")
def test_a_zst_image_without_a_zstd_module_is_one_clear_line(tmp_path):
    p = tmp_path / "x.nii.zst"
    p.write_bytes(b"\x28\xb5\x2f\xfd" + bytes(60))
    with pytest.raises(AlifuseInputError, match=r"x\.nii\.zst: reading a \.zst image needs the Python package"):
        load_volume(p)


@pytest.mark.parametrize("suffix", [".gz", ".bz2"])
def test_a_whole_stream_of_something_else_is_not_called_damaged(tmp_path, monkeypatch, suffix):
    """A sound compressed file that holds no image, longer than the search for damage goes: the line says it is
    not an image, not that the stream is damaged or longer than a header it does not have."""
    import engine.imageio

    monkeypatch.setattr(engine.imageio, "_DIAGNOSE_BYTES", 1 << 20)  # the search's bound, made small: 64 MiB
    path = tmp_path / f"notes.nii{suffix}"
    path.write_bytes(KINDS[suffix][1](b"minutes of the meeting\n" * 400_000))  # 9.2 MB once expanded
    with pytest.raises(AlifuseInputError, match="notes.*not a readable image") as info:
        load_volume(path)
    assert "damaged" not in str(info.value) and "header declares" not in str(info.value)
