"""Read a DICOM series folder (one 2-D image per file) as a 3-D array with a RAS affine.

Voxel order follows the files: i = column, j = row, k = slice sorted along the slice normal
(the order dcm2niix and nibabel use). DICOM patient coordinates are LPS; the returned affine is RAS.
"""
from __future__ import annotations

from collections import defaultdict
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np

from engine.compressed import inflate_raw
from engine.errors import AlifuseInputError, quote_path
from engine.imageio import MAX_DECODED_BYTES, check_voxel_sizes
from engine.safe_files import MAX_IMAGE_BYTES, open_regular

_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
#: values longer than this (the pixel data) are read from the file only when used, after the size checks
_DEFER_BYTES = 4096
_DEFLATED = "1.2.840.10008.1.2.1.99"  # Deflated Explicit VR Little Endian: the whole data set is deflated
_GIB = 1 << 30


def patient_identity(ds) -> dict[str, str]:
    """``{"patient_id", "patient_name", "series_uid", "series_description"}`` of a DICOM dataset, each present only
    when the tag holds text (the series identifies the scan in the report).

    The name's DICOM components (``FAMILY^GIVEN^MIDDLE``) are joined by spaces; control characters are dropped
    (a tag is text from someone else's scanner), and each value is cut at 64 characters (the tag's own limit).
    """
    out: dict[str, str] = {}
    for key, tag in (("patient_id", "PatientID"), ("patient_name", "PatientName"),
                     ("series_uid", "SeriesInstanceUID"), ("series_description", "SeriesDescription")):
        raw = ds.get(tag, None)
        if raw is None:
            continue
        text = " ".join(part.strip() for part in str(raw).split("^") if part.strip())
        text = "".join(ch for ch in text if ch.isprintable())[:64].strip()
        if text:
            out[key] = text
    return out


def read_dicom_series(folder: str | Path, identity: dict[str, str] | None = None
                      ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Read the largest series in ``folder``.

    Returns ``(data, affine, notes)``: float32 (columns, rows, slices) with RescaleSlope/Intercept
    applied, the (4, 4) voxel -> RAS world (mm) affine, and human-readable notes. ``identity``, when given,
    receives the series' :func:`patient_identity` (the patient ID and name the viewer shows with the case).
    """
    import pydicom

    folder = Path(folder)
    notes: list[str] = []
    series: dict[str, list] = defaultdict(list)
    try:
        files = sorted(f for f in folder.iterdir() if f.is_file())
    except OSError as exc:
        raise AlifuseInputError(f"{folder}: the folder cannot be listed ({exc.strerror or exc})") from exc
    inflated = 0  # bytes of deflated data sets held in memory, over all files
    for f in files:
        try:
            ds, size = _read_file(f, MAX_DECODED_BYTES - inflated, inflated)
        except AlifuseInputError:
            raise
        except Exception:  # InvalidDicomError, OSError, ...
            continue  # not DICOM (or unreadable): a folder often holds a README or DICOMDIR
        inflated += size
        if "PixelData" not in ds or "ImagePositionPatient" not in ds or "ImageOrientationPatient" not in ds:
            continue  # DICOMDIR, structured reports, localisers without geometry
        series[str(ds.get("SeriesInstanceUID", ""))].append((f, ds))
    if not series:
        raise AlifuseInputError(f"{folder}: no DICOM images (with position and orientation) in this folder")
    uid, slices = max(series.items(), key=lambda kv: len(kv[1]))
    if identity is not None:
        identity.update(patient_identity(slices[0][1]))
    if len(series) > 1:
        notes.append(f"DICOM folder holds {len(series)} series: used {uid or 'unnamed'} ({len(slices)} images)")
    try:
        return _stack(folder, slices, notes)
    except AlifuseInputError:
        raise
    except Exception as exc:  # odd tags, undecodable compressed pixel data, ...
        msg = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise AlifuseInputError(f"{folder}: the DICOM series cannot be read: {msg}") from exc


def _read_file(f: Path, budget: int, used: int) -> tuple[Any, int]:
    """One file's data set, its pixel data not yet read, and the bytes it holds in memory (a deflated data set is
    inflated whole, to at most ``budget`` bytes: its header cannot be trusted, since it is inside the stream)."""
    import pydicom
    from pydicom.dataset import FileDataset
    from pydicom.filereader import _read_file_meta_info, read_dataset, read_preamble

    with open_regular(f, MAX_IMAGE_BYTES, "the DICOM file") as fh:
        preamble = read_preamble(fh, False)  # not DICOM: InvalidDicomError, and the file is passed over
        meta = _read_file_meta_info(fh)
        if str(meta.get("TransferSyntaxUID", "")) != _DEFLATED:
            return pydicom.dcmread(str(f), defer_size=_DEFER_BYTES), 0  # pydicom inflates with no bound
        what = f"the deflated DICOM data set ({used / _GIB:.3g} GiB inflated before it in this folder)" if used \
            else "the deflated DICOM data set"
        body = inflate_raw(fh, budget, f, what, f"{MAX_DECODED_BYTES / _GIB:.3g} GiB, the most a series may take "
                                                 f"in memory")
    dataset = read_dataset(BytesIO(body), is_implicit_VR=False, is_little_endian=True)
    return FileDataset(str(f), dataset, preamble, meta, False, True), len(body)


def _pixel_spacing(f: Path, ds: Any) -> tuple[float, float]:
    """(between rows, between columns) in mm: two finite, positive numbers, or one line naming the file."""
    raw = ds.get("PixelSpacing", None)
    try:
        values = tuple(float(v) for v in raw) if raw is not None else ()
    except (TypeError, ValueError):
        values = ()
    if len(values) != 2 or not all(np.isfinite(v) and v > 0 for v in values):
        shown = " ".join(str(raw).split())[:40] if raw is not None else "missing"
        raise AlifuseInputError(f"{quote_path(f)}: PixelSpacing is {shown}; two positive sizes in mm are needed")
    return values  # type: ignore[return-value]


def _check_declared_pixels(folder: Path, slices: list) -> None:
    """Refuse, from the headers and before a pixel is read or decoded (JPEG, RLE, ...), a series whose pixel data
    declares more than ``MAX_DECODED_BYTES`` once read: Rows x Columns x samples x frames x bytes per sample
    (at least the 4 of the float32 copy), summed over the files."""
    total = 0
    for f, ds in slices:
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        samples = int(ds.get("SamplesPerPixel", 1) or 1)
        bits = int(ds.get("BitsAllocated", 16) or 16)
        if frames < 1 or samples < 1 or bits < 1:
            raise AlifuseInputError(f"{quote_path(f)}: NumberOfFrames {frames}, SamplesPerPixel {samples}, "
                                    f"BitsAllocated {bits}: not an image")
        total += int(ds.Rows) * int(ds.Columns) * samples * frames * max(-(-bits // 8), 4)
        if total > MAX_DECODED_BYTES:
            raise AlifuseInputError(
                f"{quote_path(f)}: the series' pixel data would take more than {MAX_DECODED_BYTES / _GIB:.3g} GiB, "
                f"the most an image may take in memory, once read ({ds.Rows}x{ds.Columns} x {samples} sample(s) x "
                f"{frames} frame(s) at {bits} bits in this file, {len(slices)} files): refused before decoding")
        if frames > 1:
            raise AlifuseInputError(f"{quote_path(f)}: multi-frame (enhanced) DICOM is not supported; export one "
                                    f"image per file")


def _stack(folder: Path, slices: list, notes: list[str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    first = slices[0][1]
    _check_declared_pixels(folder, slices)
    iop = np.asarray([float(v) for v in first.ImageOrientationPatient], dtype=np.float64)
    row_dir, col_dir = iop[:3], iop[3:]  # direction of increasing column index, of increasing row index
    if abs(np.linalg.norm(row_dir) - 1) > 1e-3 or abs(np.linalg.norm(col_dir) - 1) > 1e-3 or abs(row_dir @ col_dir) > 1e-3:
        raise AlifuseInputError(f"{folder}: ImageOrientationPatient {iop.tolist()} is not two unit, orthogonal vectors")
    normal = np.cross(row_dir, col_dir)
    spacing = _pixel_spacing(slices[0][0], first)  # (between rows, between columns)
    rows, cols = int(first.Rows), int(first.Columns)
    for f, ds in slices:
        if int(ds.Rows) != rows or int(ds.Columns) != cols:
            raise AlifuseInputError(f"{folder}: {f.name} is {ds.Rows}x{ds.Columns}, the series is {rows}x{cols}")
        other_spacing = _pixel_spacing(f, ds)
        if max(abs(a - b) for a, b in zip(other_spacing, spacing)) > 1e-4 * max(spacing):
            raise AlifuseInputError(
                f"{quote_path(f)}: pixel spacing {other_spacing[0]:.6g} x {other_spacing[1]:.6g} mm, the series' "
                f"first image ({quote_path(slices[0][0].name)}) has {spacing[0]:.6g} x {spacing[1]:.6g} mm; "
                f"one series must share one voxel grid")
        other = np.asarray([float(v) for v in ds.ImageOrientationPatient])
        if np.max(np.abs(other - iop)) > 1e-4:
            raise AlifuseInputError(f"{folder}: {f.name} has a different ImageOrientationPatient from the series")
    positions = np.asarray([[float(v) for v in ds.ImagePositionPatient] for _, ds in slices])
    along = positions @ normal
    order = np.argsort(along, kind="stable")
    positions, along = positions[order], along[order]
    slices = [slices[i] for i in order]
    if len(slices) > 1:
        gaps = np.diff(along)
        if np.min(gaps) < 1e-3:
            raise AlifuseInputError(
                f"{folder}: several images share one slice position (multi-echo or repeated series?)"
            )
        if np.max(gaps) - np.min(gaps) > 0.1 * np.mean(gaps):
            raise AlifuseInputError(
                f"{folder}: uneven slice spacing ({np.min(gaps):.3g} to {np.max(gaps):.3g} mm); slices missing?"
            )
        slice_vec = (positions[-1] - positions[0]) / (len(slices) - 1)
    else:
        thick = float(first.get("SpacingBetweenSlices", first.get("SliceThickness", 1.0)) or 1.0)
        slice_vec = normal * thick
    # the geometry the header declares, refused as the NIfTI path refuses it, before a pixel is decoded
    check_voxel_sizes(folder, np.array([spacing[1], spacing[0], float(np.linalg.norm(slice_vec))]))
    affine_lps = np.eye(4)
    affine_lps[:3, 0] = row_dir * spacing[1]
    affine_lps[:3, 1] = col_dir * spacing[0]
    affine_lps[:3, 2] = slice_vec
    affine_lps[:3, 3] = positions[0]
    data = np.empty((cols, rows, len(slices)), dtype=np.float32)
    for k, (_, ds) in enumerate(slices):
        pixels = np.asarray(ds.pixel_array)
        if pixels.shape != (rows, cols):
            raise AlifuseInputError(f"{folder}: pixel data of shape {pixels.shape} is not one grey-level image")
        slope = float(ds.get("RescaleSlope", 1.0) or 1.0)
        intercept = float(ds.get("RescaleIntercept", 0.0) or 0.0)
        data[:, :, k] = (pixels.astype(np.float64) * slope + intercept).T
    notes.append(f"DICOM series: {len(slices)} slices of {rows}x{cols}")
    return data, _LPS_TO_RAS @ affine_lps, notes
