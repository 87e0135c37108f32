"""DICOM series folders: a series written from a known NIfTI volume loads back to the same voxels in the same place."""
from __future__ import annotations

import random
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid
from scipy.spatial.transform import Rotation

from engine.dicom import read_dicom_series
from engine.errors import AlifuseInputError
from engine.imageio import load_volume

SLOPE, INTERCEPT = 0.5, -100.0


def _ds(x: float) -> str:
    """A DS value (at most 16 characters)."""
    return f"{x:.8f}".rstrip("0").rstrip(".")[:16] if abs(x) < 1e6 else f"{x:.6g}"


def mr_header(series_uid: str, rows: int, cols: int, orientation: list[str], position: list[str],
              spacing: list[str], syntax: str = ExplicitVRLittleEndian, frames: int = 1, samples: int = 1,
              bits: int = 16, signed: bool = False) -> Dataset:
    """One MR image's header with every tag the reader needs except PixelData (also used by test_dicom_hostile)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = syntax
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = MRImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.SeriesInstanceUID = series_uid
    ds.Modality = "MR"
    ds.ImageOrientationPatient = orientation
    ds.ImagePositionPatient = position
    ds.PixelSpacing = spacing
    ds.SamplesPerPixel = samples
    ds.PhotometricInterpretation = "MONOCHROME2" if samples == 1 else "RGB"
    if samples > 1:
        ds.PlanarConfiguration = 0
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.Rows, ds.Columns = rows, cols
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = bits, bits, bits - 1, int(signed)
    return ds


def write_series(folder: Path, stored: np.ndarray, affine_ras: np.ndarray, series_uid: str | None = None,
                 shuffle: bool = True, slope: float = SLOPE, intercept: float = INTERCEPT,
                 patient_id: str = "TEST", patient_name: str | None = None) -> None:
    """Write int16 ``stored`` (X=columns, Y=rows, Z=slices) as one MR image per file.

    ``affine_ras`` maps (column, row, slice) indices to RAS mm, as a NIfTI affine would.
    """
    folder.mkdir(parents=True, exist_ok=True)
    lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ affine_ras
    col_step, row_step = lps[:3, 0], lps[:3, 1]   # along a row (next column), along a column (next row)
    row_dir = col_step / np.linalg.norm(col_step)
    col_dir = row_step / np.linalg.norm(row_step)
    series_uid = series_uid or generate_uid()
    study_uid = generate_uid()
    order = list(range(stored.shape[2]))
    if shuffle:
        random.Random(0).shuffle(order)  # file names must not decide the slice order
    for n, k in enumerate(order):
        ds = mr_header(series_uid, stored.shape[1], stored.shape[0], [_ds(v) for v in (*row_dir, *col_dir)],
                       [_ds(v) for v in (lps @ [0, 0, k, 1])[:3]],
                       [_ds(np.linalg.norm(row_step)), _ds(np.linalg.norm(col_step))], signed=True)
        ds.StudyInstanceUID = study_uid
        ds.PatientID = patient_id
        if patient_name is not None:
            ds.PatientName = patient_name
        ds.InstanceNumber = n + 1
        ds.SliceThickness = _ds(np.linalg.norm(lps[:3, 2]))
        ds.RescaleSlope = _ds(slope)
        ds.RescaleIntercept = _ds(intercept)
        ds.PixelData = np.ascontiguousarray(stored[:, :, k].T.astype("<i2")).tobytes()
        path = folder / f"IM{n:04d}.dcm"
        try:
            pydicom.dcmwrite(str(path), ds, enforce_file_format=True)
        except TypeError:  # pydicom 2.x
            pydicom.dcmwrite(str(path), ds, write_like_original=False)


def _affine(kind: str) -> np.ndarray:
    zooms = np.array([0.9, 1.1, 2.0])
    if kind == "axial":            # rows run R->L, columns A->P: the usual LPS axial stack
        lin = np.diag([-1.0, -1.0, 1.0]) @ np.diag(zooms)
    elif kind == "sagittal":       # along a row: to anterior; down a column: to inferior; slices: to right
        lin = np.array([[0, 0, 1.0], [1.0, 0, 0], [0, -1.0, 0]]) @ np.diag(zooms)
    elif kind == "oblique":
        rot = Rotation.from_euler("xz", [14, -17], degrees=True).as_matrix()
        lin = rot @ np.diag([-1.0, -1.0, 1.0]) @ np.diag(zooms)
    elif kind == "reversed":       # slices stacked against the row x column normal (det < 0)
        lin = np.diag([-1.0, -1.0, -1.0]) @ np.diag(zooms)
    else:
        raise ValueError(kind)
    a = np.eye(4)
    a[:3, :3] = lin
    a[:3, 3] = [95.5, 120.25, -60.75]
    return a


def _stored(shape=(20, 24, 9)) -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.integers(-200, 3000, size=shape).astype(np.int16)


@pytest.mark.parametrize("kind", ["axial", "sagittal", "oblique", "reversed"])
def test_series_round_trips_to_the_nifti_it_came_from(tmp_path, kind):
    stored = _stored()
    affine = _affine(kind)
    write_series(tmp_path / "series", stored, affine)
    nii = tmp_path / "ref.nii.gz"
    nib.save(nib.Nifti1Image(stored * SLOPE + INTERCEPT, affine), str(nii))

    from_dicom = load_volume(tmp_path / "series")
    from_nifti = load_volume(nii)
    np.testing.assert_allclose(from_dicom.affine, from_nifti.affine, atol=1e-4)
    np.testing.assert_array_equal(from_dicom.data, from_nifti.data)   # RescaleSlope/Intercept applied
    assert from_dicom.original_shape == stored.shape
    assert any("9 slices" in n for n in from_dicom.notes)


@pytest.mark.parametrize("kind", ["axial", "oblique"])
def test_reader_affine_is_the_ras_affine_of_the_stack(tmp_path, kind):
    stored = _stored()
    affine = _affine(kind)
    write_series(tmp_path / "s", stored, affine)
    data, got, _ = read_dicom_series(tmp_path / "s")
    np.testing.assert_allclose(got, affine, atol=1e-5)
    np.testing.assert_array_equal(data, stored * SLOPE + INTERCEPT)


@pytest.mark.filterwarnings("ignore::UserWarning")  # nibabel.nicom says it is experimental
def test_in_plane_geometry_agrees_with_nibabels_dicom_reader(tmp_path):
    """An independent reader guards against the writer and the reader sharing one mistake."""
    from nibabel.nicom import dicomwrappers

    stored = _stored()
    write_series(tmp_path / "s", stored, _affine("oblique"), shuffle=False)
    data, got, _ = read_dicom_series(tmp_path / "s")
    first = dicomwrappers.wrapper_from_file(str(tmp_path / "s" / "IM0000.dcm"))  # slice k = 0
    ref = np.diag([-1.0, -1.0, 1.0, 1.0]) @ first.affine   # nibabel: (row, column) -> LPS
    np.testing.assert_allclose(got[:, [1, 0, 3]], ref[:, [0, 1, 3]], atol=1e-5)
    np.testing.assert_allclose(data[:, :, 0], first.get_data().T)


def test_slices_against_the_normal_come_back_sorted_along_it(tmp_path):
    stored = _stored()
    affine = _affine("reversed")
    write_series(tmp_path / "s", stored, affine)
    data, got, _ = read_dicom_series(tmp_path / "s")
    # Same world geometry, slice axis flipped to run along the normal.
    np.testing.assert_array_equal(data, (stored * SLOPE + INTERCEPT)[:, :, ::-1])
    np.testing.assert_allclose(got @ [3, 4, 0, 1], affine @ [3, 4, 8, 1], atol=1e-5)
    assert got[2, 2] > 0


def test_largest_series_wins_and_other_files_are_ignored(tmp_path):
    folder = tmp_path / "study"
    write_series(folder / "a", _stored((20, 24, 9)), _affine("axial"))
    write_series(folder / "b", _stored((20, 24, 4)), _affine("axial"))
    for f in (folder / "b").iterdir():
        f.rename(folder / f"b_{f.name}")
    for f in (folder / "a").iterdir():
        f.rename(folder / f"a_{f.name}")
    (folder / "a").rmdir()
    (folder / "b").rmdir()
    (folder / "README.txt").write_text("exported by the scanner")
    vol = load_volume(folder)
    assert vol.original_shape == (20, 24, 9)
    assert any("2 series" in n for n in vol.notes)


def test_missing_slice_is_reported(tmp_path):
    write_series(tmp_path / "s", _stored(), _affine("axial"), shuffle=False)
    (tmp_path / "s" / "IM0004.dcm").unlink()
    with pytest.raises(AlifuseInputError, match="uneven slice spacing") as info:
        load_volume(tmp_path / "s")
    assert str(tmp_path / "s") in str(info.value)


def test_folder_without_dicom_is_a_user_error(tmp_path):
    folder = tmp_path / "nothing_here"
    folder.mkdir()
    (folder / "scan.txt").write_text("no images")
    (folder / "noise.dcm").write_bytes(np.random.default_rng(0).bytes(1000))
    with pytest.raises(AlifuseInputError, match="no DICOM images") as info:
        load_volume(folder)
    assert str(folder) in str(info.value)


def test_the_series_patient_id_and_name_reach_the_volume(tmp_path):
    """The viewer shows whose scan it is and flags a record of another subject: the IDs travel with the volume."""
    write_series(tmp_path / "s", _stored(), _affine("axial"), series_uid="1.2.826.0.1.3680043.8.498.7",
                 patient_id="ADNI-002_S_0413", patient_name="DOE^JANE^Q\x07")
    vol = load_volume(tmp_path / "s")
    assert vol.metadata == {"patient_id": "ADNI-002_S_0413", "patient_name": "DOE JANE Q",
                            "series_uid": "1.2.826.0.1.3680043.8.498.7"}   # the report names the series
    identity: dict = {}
    read_dicom_series(tmp_path / "s", identity)
    assert identity == vol.metadata
    write_series(tmp_path / "anon", _stored(), _affine("axial"), patient_id="")
    anon = load_volume(tmp_path / "anon").metadata                 # empty tags are left out, never ""
    assert set(anon) == {"series_uid"} and anon["series_uid"]
    nii = tmp_path / "ref.nii.gz"
    nib.save(nib.Nifti1Image(_stored().astype(np.float32), np.eye(4)), str(nii))
    assert load_volume(nii).metadata == {}
