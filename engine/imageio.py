"""Read one MRI volume from disk and bring it to RAS+ canonical voxel order.

Reads what nibabel reads (NIfTI ``.nii``/``.nii.gz``, MGH/MGZ, Analyze ``.hdr``/``.img``) and DICOM
series folders (``engine.dicom``). Every problem with the file becomes an ``AlifuseInputError``
that names the path; no nibabel/gzip/zlib traceback reaches the user.
"""
from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np
from nibabel.orientations import apply_orientation, inv_ornt_aff, io_orientation

from engine.compressed import check_stream, require_decoder
from engine.errors import AlifuseInputError, quote_path
from engine.safe_files import MAX_IMAGE_BYTES, check_regular

#: A garbled header can claim an absurd shape; refuse before allocating (≈ 1024 x 1024 x 512).
MAX_SPATIAL_VOXELS = 1 << 29
#: The most memory one volume may take once decoded, as its header declares it (voxels x bytes per voxel, and
#: voxels x 4 for the float32 copy): checked before a byte is decompressed, so a 3 KB .nii.bz2 that claims a
#: 12 GB volume is refused from its header. A 512^3 float32 volume is 0.5 GiB.
MAX_DECODED_BYTES = 1 << 30
#: compression suffixes nibabel opens transparently
_COMPRESSED = (".gz", ".bz2", ".zst")
#: Voxel geometry scanners produce: edges from 0.05 mm (micro-MRI) to 20 mm, at most 50 times longer one way than
#: another. Anything else is a wrong header, and would make the anti-aliasing kernel grow without bound.
MIN_VOXEL_MM, MAX_VOXEL_MM, MAX_VOXEL_ASPECT = 0.05, 20.0, 50.0
#: what a compressed stream may decompress to beyond the data its header declares (NIfTI extensions, MGH tags)
_STREAM_SLACK_BYTES = 64 << 20
#: how far a compressed file nibabel cannot open is read for damage that would explain it (its header is at the start)
_DIAGNOSE_BYTES = 64 << 20


@dataclass
class Volume:
    """One 3-D MRI volume.

    ``data`` is float32 (X, Y, Z) in RAS+ canonical voxel order and ``affine`` maps its voxel
    indices to world millimetres. ``original_affine``/``original_shape`` describe the voxel grid of
    the file as stored, so maps can be written back onto it. ``metadata`` holds what the file says about
    the scan: ``patient_id``, ``patient_name``, ``series_uid`` and ``series_description`` of a DICOM series (each
    absent when the file does not say).
    """

    data: np.ndarray
    affine: np.ndarray
    original_affine: np.ndarray
    original_shape: tuple[int, int, int]
    path: str
    notes: list[str] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)


def load_volume(path: str | Path) -> Volume:
    """Load an image file (or a DICOM series folder) as a canonical (RAS+) float32 ``Volume``."""
    p = Path(path)
    notes: list[str] = []
    identity: dict[str, str] = {}
    if not p.exists():
        raise AlifuseInputError(f"{p}: no such file or folder")
    if p.is_dir():
        from engine.dicom import read_dicom_series

        data, affine, dicom_notes = read_dicom_series(p, identity)
        notes.extend(dicom_notes)
    else:
        data, affine = _read_with_nibabel(p, notes)
    volume = _to_volume(p, data, affine, notes)
    volume.metadata.update(identity)
    return volume


def _read_with_nibabel(p: Path, notes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Read image data (first volume of a 4-D file) and its affine; shape (X, Y, Z) or fewer dims."""
    for part in _image_files(p):  # regular files only: a FIFO (the .img of an Analyze pair too) would block
        if check_regular(part, MAX_IMAGE_BYTES, "the image file") == 0:
            raise AlifuseInputError(f"{quote_path(part)}: the file is empty")
        require_decoder(part)
    # Garbled headers make numpy warn inside nibabel; the checks below report what matters.
    with _header_messages_into(notes), np.errstate(all="ignore"):
        return _read_image(p, notes)


def _read_image(p: Path, notes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    try:
        img = nib.load(str(p))
    except Exception as exc:  # nibabel raises many kinds on garbage; the user needs one line
        for part in _image_files(p):  # a damaged compressed stream is the likelier reason, and says more
            check_stream(part, _DIAGNOSE_BYTES, diagnose=True)
        raise AlifuseInputError(
            f"{p}: not a readable image (NIfTI, MGH/MGZ, Analyze or a DICOM folder): {_why(exc, p)}"
        ) from exc
    if not hasattr(img, "dataobj") or not hasattr(img, "affine"):
        raise AlifuseInputError(f"{p}: {type(img).__name__} is not a volume image")
    try:
        shape = tuple(int(n) for n in img.shape)
    except Exception as exc:
        raise AlifuseInputError(f"{p}: unreadable image shape: {_why(exc, p)}") from exc
    # Trailing singleton dimensions (X, Y, Z, 1) carry nothing.
    while len(shape) > 3 and shape[-1] == 1:
        shape = shape[:-1]
    _check_shape(p, shape)
    _check_declared_data(p, img, shape)
    try:
        header_affine = np.asarray(img.affine, dtype=np.float64)
    except Exception:  # noqa: BLE001 - an unreadable affine is reported with the data below
        header_affine = None
    if header_affine is not None:  # from the header, before a byte of data is decompressed
        _check_affine(p, header_affine)
    for part in _image_files(p):  # nibabel reads a compressed file only as far as it needs: no CRC, no end checked
        # NIfTI/Analyze hold nothing after the data; MGH keeps tags there
        slack = 0 if isinstance(img, nib.analyze.AnalyzeImage) else _STREAM_SLACK_BYTES
        check_stream(part, _declared_bytes(img, shape) + slack)
    try:
        if len(shape) == 4:
            notes.append(f"4-D file: used volume 1 of {shape[3]}")
            raw = img.dataobj[..., 0]
        else:
            raw = np.asanyarray(img.dataobj)
        data = np.asarray(raw).reshape(shape[:3])
        if np.iscomplexobj(data) or data.dtype.fields is not None:
            raise AlifuseInputError(f"{p}: data type {data.dtype} is not a scalar intensity image")
        data = data.astype(np.float32)  # overflow becomes Inf, reported as a note
        affine = np.asarray(img.affine, dtype=np.float64)
    except AlifuseInputError:
        raise
    except Exception as exc:  # truncated gzip, short file, bad scaling, unknown dtype ...
        raise AlifuseInputError(f"{p}: the image data cannot be read (file truncated or corrupt?): {_why(exc, p)}") from exc
    return data, affine


def _image_files(p: Path) -> list[Path]:
    """The files an image is read from: the file itself and, for Analyze/NIfTI pairs, the other half."""
    name = p.name
    comp = next((c for c in _COMPRESSED if name.lower().endswith(c)), "")
    base = name[:-len(comp)] if comp else name
    stem, _, ext = base.rpartition(".")
    other = {"hdr": "img", "img": "hdr", "HDR": "IMG", "IMG": "HDR"}.get(ext)
    files = [p]
    if other:
        for c in dict.fromkeys((comp, "", *_COMPRESSED)):
            q = p.with_name(f"{stem}.{other}{c}")
            if q.exists() or q.is_symlink():
                files.append(q)
                break
    return files


def _check_declared_data(p: Path, img: object, shape: tuple[int, ...]) -> None:
    """Refuse from the header, before any data is read or decompressed: types that are not scalar intensities
    (complex, RGB, structured) and volumes whose declared size exceeds ``MAX_DECODED_BYTES``."""
    try:
        dtype = np.dtype(img.get_data_dtype())  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - an image class without a header dtype: the checks after reading apply
        return
    if dtype.fields is not None or dtype.kind not in "biuf":
        what = "complex" if dtype.kind == "c" else "RGB or structured" if dtype.fields is not None else dtype.kind
        raise AlifuseInputError(f"{p}: data type {dtype} ({what}) is not a scalar intensity image")
    voxels = int(np.prod(shape[:3], dtype=np.int64))
    need = voxels * max(int(dtype.itemsize), 4)
    if need > MAX_DECODED_BYTES:
        raise AlifuseInputError(f"{p}: the header declares a {'x'.join(map(str, shape[:3]))} volume of {dtype} "
                                f"({need / (1 << 30):.3g} GiB once read; at most {MAX_DECODED_BYTES / (1 << 30):.3g} "
                                f"GiB): refused before decompressing")


def _declared_bytes(img: object, shape: tuple[int, ...]) -> int:
    """Bytes the header says the file holds: its data (every volume) after the header."""
    try:
        itemsize = int(np.dtype(img.get_data_dtype()).itemsize)  # type: ignore[attr-defined]
        offset = int(getattr(img.dataobj, "offset", 0) or 0)  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001
        itemsize, offset = 8, 0
    header = 348 if offset <= 0 else 0  # an Analyze pair's .hdr, or a header whose vox_offset says nothing
    return int(np.prod(shape, dtype=np.int64)) * itemsize + max(offset, 0) + header


@contextlib.contextmanager
def _header_messages_into(notes: list[str]) -> Iterator[None]:
    """Turn nibabel's header-fix log lines (printed to stderr by default) into notes."""
    from nibabel.imageglobals import logger

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            msg = f"header: {record.getMessage()}"
            if msg not in notes:
                notes.append(msg)

    saved = list(logger.handlers)
    for h in saved:
        logger.removeHandler(h)
    collector = _Collect()
    logger.addHandler(collector)
    try:
        yield
    finally:
        logger.removeHandler(collector)
        for h in saved:
            logger.addHandler(h)


def _check_shape(p: Path, shape: tuple[int, ...]) -> None:
    if len(shape) < 3 or (len(shape) == 3 and min(shape) == 1):
        raise AlifuseInputError(f"{p}: the image is 2-D (shape {shape}); a 3-D brain volume is needed")
    if len(shape) > 4:
        raise AlifuseInputError(f"{p}: the image is {len(shape)}-D (shape {shape}); a 3-D (or 4-D) volume is needed")
    if min(shape) < 1:
        raise AlifuseInputError(f"{p}: the image has an empty dimension (shape {shape})")
    if int(np.prod(shape[:3], dtype=np.int64)) > MAX_SPATIAL_VOXELS:
        raise AlifuseInputError(f"{p}: the image is implausibly large (shape {shape})")


def _check_affine(p: Path, affine: np.ndarray) -> None:
    if affine.shape != (4, 4) or not np.all(np.isfinite(affine)):
        raise AlifuseInputError(f"{p}: the voxel-to-world affine is not a finite 4x4 matrix")
    lin = affine[:3, :3]
    norms = np.linalg.norm(lin, axis=0)
    # Relative determinant: 1 for orthogonal axes, ~0 when two axes collapse onto each other.
    if np.any(norms < 1e-6) or abs(np.linalg.det(lin)) < 1e-3 * float(np.prod(norms)):
        raise AlifuseInputError(
            f"{p}: the voxel-to-world affine is degenerate (voxel sizes {np.round(norms, 6).tolist()})"
        )
    check_voxel_sizes(p, norms)


def check_voxel_sizes(p: Path | str, sizes: np.ndarray) -> None:
    """Refuse voxel edges no scanner produces (``MIN_VOXEL_MM``..``MAX_VOXEL_MM``, aspect <= ``MAX_VOXEL_ASPECT``):
    a header with 1e-5 mm voxels, or 400 by 1e-6 mm, is wrong, and its anti-aliasing kernel would be unbounded."""
    sizes = np.asarray(sizes, dtype=np.float64)
    shown = " x ".join(f"{x:.3g}" for x in sizes)
    if not np.all(np.isfinite(sizes)) or sizes.min() < MIN_VOXEL_MM or sizes.max() > MAX_VOXEL_MM:
        raise AlifuseInputError(f"{quote_path(p)}: voxel size {shown} mm: no scanner makes voxels under "
                                f"{MIN_VOXEL_MM} mm or over {MAX_VOXEL_MM:g} mm; the header's geometry is wrong")
    if sizes.max() > MAX_VOXEL_ASPECT * sizes.min():
        raise AlifuseInputError(f"{quote_path(p)}: voxel size {shown} mm: more than {MAX_VOXEL_ASPECT:g} times longer "
                                f"one way than another; the header's geometry is wrong")


def _to_volume(p: Path, data: np.ndarray, affine: np.ndarray, notes: list[str]) -> Volume:
    """Validate values and affine, then reorder voxels to the closest RAS+ canonical grid."""
    _check_shape(p, tuple(data.shape))
    _check_affine(p, affine)
    bad = ~np.isfinite(data)
    n_bad = int(bad.sum())
    if n_bad:
        data = np.where(bad, np.float32(0), data).astype(np.float32)
        notes.append(f"{n_bad} NaN/Inf voxels set to 0")
    lo, hi = float(data.min()), float(data.max())
    if lo == hi:
        if n_bad == data.size:
            what = "all voxels are NaN/Inf"
        else:
            what = "all voxels are 0" if lo == 0 else f"all voxels have the same value {lo:g}"
        raise AlifuseInputError(f"{p}: the volume is blank ({what})")
    ornt = io_orientation(affine)
    canonical = np.ascontiguousarray(apply_orientation(data, ornt), dtype=np.float32)
    canonical_affine = affine @ inv_ornt_aff(ornt, data.shape)
    return Volume(
        data=canonical,
        affine=canonical_affine,
        original_affine=affine.copy(),
        original_shape=tuple(int(n) for n in data.shape),  # type: ignore[arg-type]
        path=str(p),
        notes=notes,
    )


def _why(exc: BaseException, p: Path | None = None) -> str:
    """One line naming the underlying problem, without a traceback (or a second copy of the path)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if p is not None:
        text = text.replace(f'"{p}"', "it").replace(str(p), "it")
    return text if len(text) <= 200 else text[:197] + "..."
