"""Model-grid preprocessing: world coordinates survive the round trip, whatever the file's orientation."""
from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.spatial.transform import Rotation

from engine.errors import AlifuseInputError
from engine.preprocess import (
    GridMapping,
    Volume,
    load_volume,
    model_grid_affine,
    preprocess,
    to_model_grid,
    to_original_grid,
)

SHAPE = (40, 48, 36)          # non-cubic on purpose
ZOOMS = (1.0, 1.2, 1.5)       # anisotropic on purpose


def _affine(kind: str) -> np.ndarray:
    """Voxel -> world affines in the orientations files come in."""
    a = np.eye(4)
    if kind == "RAS":
        lin = np.diag(ZOOMS)
    elif kind == "LAS":
        lin = np.diag([-ZOOMS[0], ZOOMS[1], ZOOMS[2]])
    elif kind == "LPS":
        lin = np.diag([-ZOOMS[0], -ZOOMS[1], ZOOMS[2]])
    elif kind == "oblique":  # 15 deg about x and 16 deg about y, plus an axis swap (PIR-ish storage)
        rot = Rotation.from_euler("xy", [15, 16], degrees=True).as_matrix()
        swap = np.array([[0, 0, -1], [1, 0, 0], [0, -1, 0]], dtype=float)
        lin = rot @ swap @ np.diag(ZOOMS)
    else:
        raise ValueError(kind)
    a[:3, :3] = lin
    # Put the array centre near world (0, 0, 0), as scanners roughly do.
    a[:3, 3] = -lin @ ((np.asarray(SHAPE) - 1) / 2) + np.array([3.0, -5.0, 7.0])
    return a


def _world_grid(shape, affine) -> np.ndarray:
    ijk = np.indices(shape).reshape(3, -1).astype(np.float64)
    return (affine[:3, :3] @ ijk + affine[:3, 3:]).T  # (N, 3)


def _blob(shape, affine, centre_world, radius=4.0, background=0.0) -> np.ndarray:
    """A soft ball of ~radius mm at a world coordinate (soft edges keep its centre of mass exact)."""
    d = np.linalg.norm(_world_grid(shape, affine) - centre_world, axis=1)
    ball = 800.0 / (1.0 + np.exp((d - radius) / 0.7))
    return (ball + background).reshape(shape).astype(np.float32)


def _com_world(arr: np.ndarray, affine: np.ndarray) -> np.ndarray:
    w = np.clip(arr.astype(np.float64), 0, None).reshape(-1)
    assert w.sum() > 0, "the blob vanished"
    return (_world_grid(arr.shape, affine) * w[:, None]).sum(0) / w.sum()


def _save(tmp_path, data, affine, name="img.nii.gz"):
    p = tmp_path / name
    nib.save(nib.Nifti1Image(data, affine), str(p))
    return p


@pytest.mark.parametrize("kind", ["RAS", "LAS", "LPS", "oblique"])
@pytest.mark.parametrize("image_size", [16, 32])
def test_blob_keeps_its_world_position(tmp_path, kind, image_size):
    affine = _affine(kind)
    # Off-centre, so that a flip or a wrong pad would move it by many mm.
    target = affine[:3, :3] @ np.array([11.0, 30.0, 24.0]) + affine[:3, 3]
    p = _save(tmp_path, _blob(SHAPE, affine, target), affine)

    vol = load_volume(p)
    x, mapping = preprocess(vol, image_size)
    model_aff = model_grid_affine(mapping)
    tol = mapping.voxel_size_mm  # one model voxel

    assert x.shape == (image_size,) * 3 and x.dtype == np.float32
    assert np.linalg.norm(_com_world(x, model_aff) - target) < tol

    back = to_original_grid(x, mapping)
    assert back.shape == SHAPE and back.dtype == np.float32
    assert np.linalg.norm(_com_world(back, affine) - target) < tol

    # The same holds after writing the map as NIfTI with the input's affine and reading it elsewhere.
    out = tmp_path / "map.nii.gz"
    nib.save(nib.Nifti1Image(back, mapping.original_affine), str(out))
    again = nib.load(str(out))
    assert np.linalg.norm(_com_world(np.asarray(again.dataobj), again.affine) - target) < tol


@pytest.mark.parametrize("kind", ["RAS", "LPS", "oblique"])
def test_model_grid_axes_point_right_anterior_superior(kind):
    affine = _affine(kind)
    vol = Volume(_blob(SHAPE, affine, affine[:3, 3]), np.eye(4), affine, SHAPE, "x", [])
    # Build the canonical pair the loader would.
    from nibabel.orientations import apply_orientation, inv_ornt_aff, io_orientation

    ornt = io_orientation(affine)
    vol.data = apply_orientation(vol.data, ornt).astype(np.float32)
    vol.affine = affine @ inv_ornt_aff(ornt, SHAPE)
    _, mapping = preprocess(vol, 16)
    assert nib.aff2axcodes(model_grid_affine(mapping)) == ("R", "A", "S")
    sizes = np.linalg.norm(model_grid_affine(mapping)[:3, :3], axis=0)
    np.testing.assert_allclose(sizes, mapping.voxel_size_mm, rtol=1e-6)  # isotropic model voxels
    # The cube holds the longest side of the volume in mm: 48 x 1.2 = 57.6 mm.
    assert mapping.voxel_size_mm * 16 == pytest.approx(57.6, rel=1e-6)


def test_output_is_in_unit_range_and_robust_to_outliers(tmp_path):
    ramp = np.linspace(100, 900, 30, dtype=np.float32)
    data = np.broadcast_to(ramp[:, None, None], (30, 34, 28)).copy()
    data[:3] = 0.0                      # background
    data[10, 10, 10] = 1e7              # a hot voxel must not squash the rest into black
    data[11, 11, 11] = -5e4
    vol = load_volume(_save(tmp_path, data, np.diag([1.0, 1.0, 1.0, 1.0])))
    x, mapping = preprocess(vol, 16)
    assert x.min() >= 0.0 and x.max() <= 1.0
    assert x.max() > 0.85                              # min/max scaling would give ~1e-4 here
    assert np.median(x[x > 0.05]) == pytest.approx(0.5, abs=0.12)  # mid-ramp stays mid-grey
    assert 850 < mapping.intensity_high < 1000 and 100 < mapping.intensity_low < 200


def test_isotropic_input_matches_pad_then_trilinear_resize():
    """The paper's recipe (centred zero pad to a cube, trilinear, align_corners=False) on isotropic data."""
    rng = np.random.default_rng(1)
    data = rng.random((10, 8, 6)).astype(np.float32) + 1.0
    aff = np.diag([2.0, 2.0, 2.0, 1.0])
    vol = Volume(data, aff, aff, data.shape, "x", [])
    x, mapping = preprocess(vol, 20)  # upsampling: no anti-alias filter involved

    scaled = np.clip((data - mapping.intensity_low) / (mapping.intensity_high - mapping.intensity_low), 0, 1)
    padded = np.pad(scaled, [(0, 0), (1, 1), (2, 2)])  # centred pad to 10^3
    ref = F.interpolate(torch.from_numpy(padded)[None, None], size=(20, 20, 20), mode="trilinear",
                        align_corners=False)[0, 0].numpy()
    # torch clamps at the outer half voxel where we fade into the zero pad: compare the interior.
    np.testing.assert_allclose(x[1:-1, 1:-1, 1:-1], ref[1:-1, 1:-1, 1:-1], atol=1e-5)


def test_mapping_json_round_trip_gives_the_same_geometry(tmp_path):
    affine = _affine("oblique")
    vol = load_volume(_save(tmp_path, _blob(SHAPE, affine, affine[:3, 3]), affine))
    x, mapping = preprocess(vol, 16)
    restored = GridMapping.from_dict(json.loads(json.dumps(mapping.to_dict())))
    np.testing.assert_allclose(model_grid_affine(restored), model_grid_affine(mapping))
    np.testing.assert_array_equal(to_original_grid(x, restored), to_original_grid(x, mapping))


def test_mapping_from_dict_names_the_missing_field():
    with pytest.raises(AlifuseInputError, match="original_affine"):
        d = GridMapping(8, 1.0, (8, 8, 8), np.eye(4), (8, 8, 8), np.eye(4), 0.0, 1.0).to_dict()
        del d["original_affine"]
        GridMapping.from_dict(d)


@pytest.mark.parametrize("kind", ["LPS", "oblique"])
def test_to_model_grid_puts_a_mask_where_the_image_is(tmp_path, kind):
    """A mask drawn on the file as stored lands on the blob in the model input."""
    affine = _affine(kind)
    target = affine[:3, :3] @ np.array([28.0, 12.0, 10.0]) + affine[:3, 3]
    img = _blob(SHAPE, affine, target, radius=5.0)
    vol = load_volume(_save(tmp_path, img, affine))
    x, mapping = preprocess(vol, 32)
    mask = (img > 400).astype(np.float32)
    on_model = to_model_grid(mask, mapping)
    assert on_model.shape == (32, 32, 32)
    inside = on_model > 0.5
    assert inside.any()
    assert x[inside].mean() > 4 * x[~inside].mean()
    model_aff = model_grid_affine(mapping)
    assert np.linalg.norm(_com_world(on_model, model_aff) - target) < mapping.voxel_size_mm
    # Labels stay labels with order=0.
    labels = to_model_grid(mask * 3, mapping, order=0)
    assert set(np.unique(labels).tolist()) <= {0.0, 3.0}


def test_to_original_grid_rejects_wrong_shape(tmp_path):
    affine = _affine("RAS")
    vol = load_volume(_save(tmp_path, _blob(SHAPE, affine, affine[:3, 3]), affine))
    _, mapping = preprocess(vol, 16)
    with pytest.raises(ValueError, match="16"):
        to_original_grid(np.zeros((8, 8, 8), np.float32), mapping)


def test_bad_image_size_is_a_user_error(tmp_path):
    affine = _affine("RAS")
    vol = load_volume(_save(tmp_path, _blob(SHAPE, affine, affine[:3, 3]), affine))
    with pytest.raises(AlifuseInputError, match="image_size"):
        preprocess(vol, 0)
