"""Loading MRI files: canonical orientation, 4-D and NaN handling, and one-line errors for bad files."""
from __future__ import annotations


import nibabel as nib
import numpy as np
import pytest

from engine.errors import AlifuseInputError
from engine.imageio import Volume, load_volume


def _data(shape=(12, 14, 10), seed=0) -> np.ndarray:
    return np.random.default_rng(seed).random(shape).astype(np.float32) * 100 + 1


def test_lps_file_is_reoriented_to_ras_and_keeps_its_original_geometry(tmp_path):
    data = _data()
    affine = np.diag([-1.0, -1.2, 1.5, 1.0])
    affine[:3, 3] = [10, 20, -30]
    p = tmp_path / "lps.nii.gz"
    nib.save(nib.Nifti1Image(data, affine), str(p))

    vol = load_volume(p)
    assert isinstance(vol, Volume)
    assert vol.data.dtype == np.float32 and vol.data.shape == (12, 14, 10)
    assert nib.aff2axcodes(vol.affine) == ("R", "A", "S")
    np.testing.assert_allclose(vol.original_affine, affine, atol=1e-5)
    assert vol.original_shape == (12, 14, 10)
    assert vol.path == str(p)
    # Same world point, same value: voxel (0, 0, 0) of the file is the far corner in RAS order.
    np.testing.assert_allclose(vol.data[::-1, ::-1, :], data, rtol=1e-6)
    np.testing.assert_allclose(vol.affine @ [11, 13, 0, 1], affine @ [0, 0, 0, 1], atol=1e-4)


def test_axis_permuted_file_is_transposed_to_ras(tmp_path):
    data = _data((6, 8, 10))
    affine = np.array([[0, 0, 1.0, 0], [1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 0, 1]])  # stored as A, S, R
    p = tmp_path / "asr.nii"
    nib.save(nib.Nifti1Image(data, affine), str(p))
    vol = load_volume(p)
    assert vol.data.shape == (10, 6, 8)
    np.testing.assert_allclose(vol.data, np.transpose(data, (2, 0, 1)))
    assert nib.aff2axcodes(vol.affine) == ("R", "A", "S")


def test_four_d_uses_first_volume_and_says_so(tmp_path):
    data = np.stack([_data(seed=i) for i in range(5)], axis=-1)
    p = tmp_path / "fmri.nii.gz"
    nib.save(nib.Nifti1Image(data, np.eye(4)), str(p))
    vol = load_volume(p)
    np.testing.assert_allclose(vol.data, data[..., 0])
    assert any("4-D" in n and "volume 1 of 5" in n for n in vol.notes)
    assert vol.original_shape == (12, 14, 10)


def test_trailing_singleton_dimension_is_not_a_4d_note(tmp_path):
    data = _data()[..., None]
    p = tmp_path / "one.nii"
    nib.save(nib.Nifti1Image(data, np.eye(4)), str(p))
    vol = load_volume(p)
    assert vol.data.shape == (12, 14, 10) and vol.notes == []


def test_nan_and_inf_become_zero_with_a_note(tmp_path):
    data = _data()
    data[0, 0, :5] = np.nan
    data[1, 1, :2] = np.inf
    p = tmp_path / "nan.nii.gz"
    nib.save(nib.Nifti1Image(data, np.eye(4)), str(p))
    vol = load_volume(p)
    assert np.isfinite(vol.data).all()
    assert vol.data[0, 0, :5].tolist() == [0.0] * 5
    assert "7 NaN/Inf voxels set to 0" in vol.notes


def test_scaled_integer_data_is_read_in_real_units(tmp_path):
    ints = (np.arange(12 * 14 * 10) % 300).reshape(12, 14, 10).astype(np.int16)
    img = nib.Nifti1Image(ints, np.eye(4))
    img.header.set_slope_inter(0.5, 10.0)
    p = tmp_path / "scaled.nii"
    nib.save(img, str(p))
    vol = load_volume(p)
    np.testing.assert_allclose(vol.data, ints * 0.5 + 10.0)


def test_mgz_and_analyze_load(tmp_path):
    data = _data()
    affine = np.diag([-1.0, 1.0, 1.0, 1.0])
    mgz = tmp_path / "brain.mgz"
    nib.save(nib.MGHImage(data, affine), str(mgz))
    vol = load_volume(mgz)
    np.testing.assert_allclose(vol.data, data[::-1], rtol=1e-6)

    hdr = tmp_path / "brain.hdr"
    ana = nib.AnalyzeImage(data, None)
    ana.header.set_zooms((1.0, 2.0, 3.0))
    nib.save(ana, str(hdr))
    vol = load_volume(hdr)
    assert vol.data.shape == (12, 14, 10)
    np.testing.assert_allclose(np.linalg.norm(vol.affine[:3, :3], axis=0), [1.0, 2.0, 3.0])
    assert nib.aff2axcodes(vol.affine) == ("R", "A", "S")


# -- bad inputs: every one is an AlifuseInputError that names the file ---------------------------

def _empty(tmp_path):
    p = tmp_path / "empty.nii"
    p.write_bytes(b"")
    return p, "empty"


def _random_bytes(tmp_path):
    p = tmp_path / "noise.nii"
    p.write_bytes(np.random.default_rng(0).bytes(4000))
    return p, "not a readable image"


def _text_file(tmp_path):
    p = tmp_path / "notes.txt"
    p.write_text("hello")
    return p, "not a readable image"


def _truncated_gz(tmp_path):
    p = tmp_path / "cut.nii.gz"
    nib.save(nib.Nifti1Image(_data((32, 32, 32)), np.eye(4)), str(p))
    raw = p.read_bytes()
    p.write_bytes(raw[: len(raw) // 2])
    return p, "truncated"


def _not_gzip(tmp_path):
    p = tmp_path / "plain.nii.gz"  # an uncompressed NIfTI wearing a .gz name
    nib.save(nib.Nifti1Image(_data(), np.eye(4)), str(tmp_path / "plain.nii"))
    p.write_bytes((tmp_path / "plain.nii").read_bytes()[:200])
    return p, ""


def _two_d(tmp_path):
    p = tmp_path / "slice.nii.gz"
    nib.save(nib.Nifti1Image(_data((20, 20)), np.eye(4)), str(p))
    return p, "2-D"


def _single_slice(tmp_path):
    p = tmp_path / "slab.nii.gz"
    nib.save(nib.Nifti1Image(_data((20, 20, 1)), np.eye(4)), str(p))
    return p, "2-D"


def _five_d(tmp_path):
    p = tmp_path / "five.nii.gz"
    nib.save(nib.Nifti1Image(_data((6, 6, 6, 2, 2)), np.eye(4)), str(p))
    return p, "5-D"


def _all_zero(tmp_path):
    p = tmp_path / "zeros.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((8, 8, 8), np.float32), np.eye(4)), str(p))
    return p, "all voxels are 0"


def _constant(tmp_path):
    p = tmp_path / "const.nii.gz"
    nib.save(nib.Nifti1Image(np.full((8, 8, 8), 7, np.float32), np.eye(4)), str(p))
    return p, "same value 7"


def _all_nan(tmp_path):
    p = tmp_path / "nan.nii.gz"
    nib.save(nib.Nifti1Image(np.full((8, 8, 8), np.nan, np.float32), np.eye(4)), str(p))
    return p, "all voxels are NaN/Inf"


def _degenerate_affine(tmp_path):
    p = tmp_path / "flat.nii.gz"
    affine = np.eye(4)
    affine[:3, 2] = affine[:3, 1]  # two voxel axes point the same way
    img = nib.Nifti1Image(_data((8, 8, 8)), None)
    img.set_sform(affine, code=2)
    img.set_qform(None, code=0)
    nib.save(img, str(p))
    return p, "degenerate"


def _zero_voxel_size(tmp_path):
    p = tmp_path / "zero_zoom.nii.gz"
    img = nib.Nifti1Image(_data((8, 8, 8)), None)
    img.set_sform(np.diag([1.0, 0.0, 1.0, 1.0]), code=2)
    img.set_qform(None, code=0)
    nib.save(img, str(p))
    return p, "degenerate"


def _missing(tmp_path):
    return tmp_path / "nowhere.nii.gz", "no such file"


def _empty_folder(tmp_path):
    d = tmp_path / "series"
    d.mkdir()
    (d / "README.txt").write_text("not dicom")
    return d, "no DICOM"


BAD = [_empty, _random_bytes, _text_file, _truncated_gz, _not_gzip, _two_d, _single_slice, _five_d,
       _all_zero, _constant, _all_nan, _degenerate_affine, _zero_voxel_size, _missing, _empty_folder]


@pytest.mark.parametrize("make", BAD, ids=[f.__name__.strip("_") for f in BAD])
def test_bad_input_is_one_user_error_naming_the_file(tmp_path, make):
    path, words = make(tmp_path)
    with pytest.raises(AlifuseInputError) as info:
        load_volume(path)
    msg = str(info.value)
    assert str(path) in msg
    assert words in msg
    assert "\n" not in msg
    assert "Traceback" not in msg


def test_gzip_error_is_not_shown_as_a_traceback(tmp_path):
    path, _ = _truncated_gz(tmp_path)
    with pytest.raises(AlifuseInputError) as info:
        load_volume(str(path))  # a str path works too
    # The cause stays attached for developers, the message stays one line for users.
    assert info.value.__cause__ is not None


def test_header_fixes_become_notes_not_stderr_lines(tmp_path, capfd):
    import struct

    from nibabel.imageglobals import logger

    p = tmp_path / "odd.nii"
    nib.save(nib.Nifti1Image(_data(), np.eye(4)), str(p))
    raw = bytearray(p.read_bytes())
    raw[252:254] = struct.pack("<h", 99)  # qform_code: not a valid code
    p.write_bytes(bytes(raw))
    handlers = list(logger.handlers)

    vol = load_volume(p)
    assert any(n.startswith("header:") and "qform_code 99" in n for n in vol.notes)
    assert "qform_code" not in capfd.readouterr().err
    assert logger.handlers == handlers  # nibabel's own logging is left as it was
