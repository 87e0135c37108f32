"""DICOM folders that are bombs or lie about their geometry (issue 14): a deflated data set is inflated with a
bound, pixel data is sized from the headers before it is decoded, and a series shares one plausible voxel grid."""
from __future__ import annotations

import struct
import zlib
from io import BytesIO
from pathlib import Path

import numpy as np
import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset, write_file_meta_info
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian, RLELossless, generate_uid

import engine.dicom
from engine.dicom import read_dicom_series
from engine.errors import AlifuseInputError
from engine.imageio import MAX_DECODED_BYTES, load_volume
from tests.engine.test_dicom import _affine, _stored, mr_header, write_series
from tests.hang_guard import finishes

ONCE = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _header(k: int, rows: int, cols: int, syntax: str, uid: str, spacing=("1", "1"), gap: float = 2.0,
            frames: int = 1, samples: int = 1, bits: int = 16) -> Dataset:
    """Slice ``k`` of an axial series, ``gap`` mm apart: every tag the reader needs except PixelData."""
    return mr_header(uid, rows, cols, ["1", "0", "0", "0", "1", "0"], ["0", "0", f"{k * gap:.6g}"], list(spacing),
                     syntax, frames, samples, bits)


def _deflated_file(path: Path, ds: Dataset, pixel_bytes: int, value: int = 0) -> int:
    """A Deflated Explicit VR Little Endian file whose PixelData is ``pixel_bytes`` bytes of ``value``, deflated
    as it is written (megabytes of the same bytes repeat one compressed block: no gigabyte is ever held)."""
    body = DicomBytesIO()
    body.is_little_endian, body.is_implicit_VR = True, False
    write_dataset(body, ds)
    head = body.getvalue() + struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OW", 0, pixel_bytes)
    c = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    out = [c.compress(head), c.flush(zlib.Z_FULL_FLUSH)]
    mb, whole = divmod(pixel_bytes, 1 << 20)
    if mb:  # after a full flush the compressor starts afresh: each identical megabyte compresses to one block
        block = c.compress(bytes([value]) * (1 << 20)) + c.flush(zlib.Z_FULL_FLUSH)
        out.append(block * mb)
    out += [c.compress(bytes([value]) * whole), c.flush()]
    fh = BytesIO()
    fh.write(b"\0" * 128 + b"DICM")
    write_file_meta_info(fh, ds.file_meta, enforce_standard=True)
    stream = b"".join(out)
    path.write_bytes(fh.getvalue() + stream)
    return len(stream)


def _deflated_series(folder: Path, n: int, rows: int, cols: int, pixel_bytes: int | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    uid = generate_uid()
    for k in range(n):
        ds = _header(k, rows, cols, DeflatedExplicitVRLittleEndian, uid)
        _deflated_file(folder / f"IM{k:04d}.dcm", ds, rows * cols * 2 if pixel_bytes is None else pixel_bytes,
                       value=k + 1)
    return folder


@pytest.mark.slow  # inflates 1 GiB before it refuses
def test_a_small_deflated_folder_that_inflates_to_gigabytes_is_refused_while_inflating(tmp_path):
    """The issue's case: a folder of about a megabyte whose data sets inflate past the memory limit."""
    folder = _deflated_series(tmp_path / "bomb", 3, 16384, 16384)  # 3 x 512 MiB of pixels once inflated
    assert sum(f.stat().st_size for f in folder.iterdir()) < 2 << 20
    with pytest.raises(AlifuseInputError) as info:
        finishes(lambda: load_volume(folder), 120)
    msg = str(info.value)
    assert "IM0001.dcm" in msg and "refused while inflating" in msg and "1 GiB" in msg and "\n" not in msg


@settings(max_examples=25, **ONCE)
@given(n=st.integers(2, 4), rows=st.integers(2, 300), cols=st.integers(2, 300), limit_kb=st.integers(8, 600))
def test_deflated_series_load_or_are_refused_by_what_they_inflate_to(tmp_path_factory, monkeypatch, n, rows, cols,
                                                                     limit_kb):
    """Whatever a deflated series holds, it loads whole (the voxels that were written) when it fits the limit, and
    is refused while inflating, naming the file, when it would inflate to more."""
    monkeypatch.setattr(engine.dicom, "MAX_DECODED_BYTES", limit_kb << 10)
    folder = _deflated_series(tmp_path_factory.mktemp("d"), n, rows, cols)
    try:
        data, _, _ = read_dicom_series(folder)
    except AlifuseInputError as exc:
        msg = str(exc)
        assert "refused" in msg and ".dcm" in msg and "\n" not in msg, msg
        if "while inflating" in msg:
            assert n * (rows * cols * 2 + 1024) > limit_kb << 10, msg  # the tags take less than 1 KB a file
        else:  # inflated within the limit, but the float32 copy of the pixels would not fit
            assert "refused before decoding" in msg and n * rows * cols * 4 > limit_kb << 10, msg
        return
    assert n * rows * cols * 4 <= limit_kb << 10
    slices = 257 * np.arange(1, n + 1, dtype=np.float32)  # every byte of slice k is k + 1
    np.testing.assert_array_equal(data, np.broadcast_to(slices, (cols, rows, n)))


@settings(max_examples=20, **ONCE)
@given(cut=st.floats(0, 1, exclude_max=True), tail=st.binary(min_size=1, max_size=16).filter(lambda b: b.strip(b"\0")))
def test_a_damaged_deflated_file_is_one_line(tmp_path_factory, cut, tail):
    folder = _deflated_series(tmp_path_factory.mktemp("d"), 3, 20, 20)
    f = folder / "IM0001.dcm"
    stream = _deflated_file(f, _header(1, 20, 20, DeflatedExplicitVRLittleEndian, "1.2.3"), 800, 2)
    good = f.read_bytes()
    for damaged, says in ((good[:-1 - int(cut * (stream - 1))], "ends early"), (good + tail, "trailing garbage")):
        f.write_bytes(damaged)
        with pytest.raises(AlifuseInputError, match=says) as info:
            read_dicom_series(folder)
        assert "IM0001.dcm" in str(info.value) and "\n" not in str(info.value)


def _save(ds: Dataset, path: Path) -> None:
    try:
        pydicom.dcmwrite(str(path), ds, enforce_file_format=True)
    except TypeError:  # pydicom 2.x
        pydicom.dcmwrite(str(path), ds, write_like_original=False)


def _tiny_pixels(syntax: str) -> bytes:
    if syntax == ExplicitVRLittleEndian:
        return b"\0" * 64
    from pydicom.encaps import encapsulate

    return encapsulate([struct.pack("<16I", 1, 64, *([0] * 14)) + b"\x81\0" * 4])  # one RLE segment, a few bytes


@settings(max_examples=40, **ONCE)
@given(rows=st.integers(1, 65535), cols=st.integers(1, 65535), frames=st.integers(1, 3000),
       samples=st.sampled_from([1, 3]), bits=st.sampled_from([8, 16, 32]), n=st.integers(1, 4),
       syntax=st.sampled_from([ExplicitVRLittleEndian, RLELossless]))
def test_declared_pixel_data_is_sized_before_anything_is_decoded(tmp_path_factory, rows, cols, frames, samples,
                                                                   bits, n, syntax):
    """A few bytes of (native or RLE-compressed) pixel data whose headers declare any size: loading ends at once
    with one line, and a series that declares more than the memory limit is refused before decoding, by name."""
    folder = tmp_path_factory.mktemp("p")
    uid = generate_uid()
    for k in range(n):
        ds = _header(k, rows, cols, syntax, uid, frames=frames, samples=samples, bits=bits)
        ds.PixelData = _tiny_pixels(syntax)
        if syntax == RLELossless:
            ds["PixelData"].VR = "OB"
            ds["PixelData"].is_undefined_length = True
        _save(ds, folder / f"IM{k:04d}.dcm")
    declared = n * rows * cols * frames * samples * max(bits // 8, 4)
    with pytest.raises(AlifuseInputError) as info:
        finishes(lambda: load_volume(folder), 20)
    msg = str(info.value)
    assert "\n" not in msg and str(folder) in msg
    per_file = rows * cols * frames * samples * max(bits // 8, 4)
    if per_file > MAX_DECODED_BYTES or (frames == 1 and declared > MAX_DECODED_BYTES):
        assert "refused before decoding" in msg and ".dcm" in msg, msg


def _respaced(folder: Path, name: str, spacing: list[str]) -> None:
    ds = pydicom.dcmread(str(folder / name))
    ds.PixelSpacing = spacing
    _save(ds, folder / name)


@settings(max_examples=20, **ONCE)
@given(k=st.integers(0, 8), which=st.integers(0, 1), factor=st.floats(0.5, 2.0).filter(lambda f: abs(f - 1) > 1e-3))
def test_one_slice_of_another_pixel_spacing_is_refused_naming_it(tmp_path_factory, k, which, factor):
    folder = tmp_path_factory.mktemp("s")
    write_series(folder, _stored(), _affine("axial"), shuffle=False)  # PixelSpacing 1.1 x 0.9 mm
    spacing = [1.1, 0.9]
    spacing[which] = round(spacing[which] * factor, 4)
    _respaced(folder, f"IM{k:04d}.dcm", [f"{v:.6g}" for v in spacing])
    with pytest.raises(AlifuseInputError, match="pixel spacing") as info:
        load_volume(folder)
    msg = str(info.value)
    shown = f"{spacing[0]:.6g} x {spacing[1]:.6g} mm"
    assert shown in msg and ("IM0000.dcm" in msg or "IM0001.dcm" in msg) and "\n" not in msg, msg
    assert f"IM{k:04d}.dcm" in msg


@pytest.mark.parametrize("spacing", [["1"], ["0", "1"], ["-1", "1"], ["nan", "1"], ["inf", "1"]])
def test_pixel_spacing_that_is_not_two_sizes_is_refused(tmp_path, spacing):
    write_series(tmp_path / "s", _stored(), _affine("axial"), shuffle=False)
    _respaced(tmp_path / "s", "IM0003.dcm", spacing)
    with pytest.raises(AlifuseInputError, match="IM0003.dcm: PixelSpacing"):
        load_volume(tmp_path / "s")


@settings(max_examples=40, **ONCE)
@given(row=st.floats(1e-6, 1e3), col=st.floats(1e-6, 1e3), gap=st.floats(1e-2, 1e3))
def test_voxel_sizes_from_the_headers_are_checked_before_pixels_are_decoded(tmp_path_factory, row, col, gap):
    """PixelSpacing and the distance between slices along their normal are the voxel sizes the NIfTI path checks;
    a series no scanner makes is refused from its headers (its pixel data here is too short to decode at all)."""
    folder = tmp_path_factory.mktemp("v")
    uid = generate_uid()
    for k in range(3):
        ds = _header(k, 8, 8, ExplicitVRLittleEndian, uid, spacing=(f"{row:.6g}", f"{col:.6g}"), gap=gap)
        ds.PixelData = b"\0" * 16
        _save(ds, folder / f"IM{k}.dcm")
    sizes = [float(f"{col:.6g}"), float(f"{row:.6g}"), float(f"{2 * gap:.6g}") / 2]  # the stack's mean gap
    plausible = min(sizes) >= 0.05 and max(sizes) <= 20 and max(sizes) <= 50 * min(sizes)
    with pytest.raises(AlifuseInputError) as info:
        load_volume(folder)
    msg = str(info.value)
    if plausible:
        assert "voxel size" not in msg, msg
    else:
        assert "voxel size" in msg or "uneven slice spacing" in msg, msg
