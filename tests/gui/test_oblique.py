"""An oblique scan is shown in scanner millimetres: a voxel is drawn, and read, where the scanner put it."""
from __future__ import annotations

import gc
import warnings
from types import SimpleNamespace

import nibabel as nib
import numpy as np
import pytest

from alifuse_gui.display import display_grid
from alifuse_gui.layers import MRI_LAYER, RELEVANCE_LAYER

SHAPE = (40, 44, 36)
VOXEL = 2.0
BLOB = (8, 34, 27)  # far from the middle: a 10 degree tilt moves it by about 10 mm if ignored


def oblique_affine(degrees: float = 10.0) -> np.ndarray:
    """Stored LPS-like (x, y flipped) and tilted about x, as a scanner's oblique acquisition."""
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    tilt = np.array([[1.0, 0, 0, 0], [0, c, -s, 0], [0, s, c, 0], [0, 0, 0, 1]])
    grid = np.diag([-VOXEL, -VOXEL, VOXEL, 1.0])
    grid[:3, 3] = (40.0, 44.0, -36.0)
    return tilt @ grid


def write_oblique(path, affine):
    x, y, z = np.mgrid[0:SHAPE[0], 0:SHAPE[1], 0:SHAPE[2]]
    d = ((x - 20) / 17) ** 2 + ((y - 22) / 19) ** 2 + ((z - 18) / 16) ** 2
    data = np.where(d < 1, 150.0, 0.0).astype(np.float32)
    data[tuple(slice(b - 1, b + 2) for b in BLOB)] = 1000.0  # a 3-voxel bright cube
    nib.save(nib.Nifti1Image(data, affine), str(path))
    return path


def blob_world(affine) -> np.ndarray:
    return (affine @ np.array([*BLOB, 1.0]))[:3]


def centroid(layer, above: float) -> np.ndarray:
    idx = np.argwhere(np.asarray(layer.data) > above)
    assert len(idx), "the blob is not in the layer"
    return idx.mean(axis=0)


@pytest.fixture(autouse=True)
def _collect_qt_garbage():
    yield
    gc.collect()


@pytest.fixture
def session(make_napari_viewer, tiny_checkpoint):
    from alifuse_gui._qt.session import AlifuseSession

    return AlifuseSession(make_napari_viewer(show=True), tiny_checkpoint)


def test_an_oblique_scan_shows_its_voxels_at_their_scanner_position(session, tmp_path):
    affine = oblique_affine()
    path = write_oblique(tmp_path / "oblique.nii.gz", affine)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # napari warns when it drops a rotation out of the plane
        assert session.open_image(path)
    mri = session.viewer.layers[MRI_LAYER]
    world = blob_world(affine)
    assert np.linalg.norm(mri.data_to_world(centroid(mri, 500)) - world) <= VOXEL
    session.viewer.dims.point = world  # the slices through the blob's scanner position, in every view
    assert mri.get_value(world, world=True) > 500  # the cursor on the blob's scanner position reads the blob
    for name, model in session.views.models.items():  # each view draws the same voxels at the same place
        copy = model.layers[MRI_LAYER]
        assert copy.get_value(world, world=True) > 500, name
    assert "oblique" in session.viewer.canvas.overlays["text"].text

    # the relevance overlay: a map on the file's voxel grid, hot at the blob, lands on the blob
    from engine.imageio import load_volume

    vol = load_volume(path)
    hot = np.zeros(vol.original_shape, np.float32)
    hot[tuple(slice(b - 1, b + 2) for b in BLOB)] = 1.0
    session.last_case = SimpleNamespace(volume=vol)
    session.accept_explanation(SimpleNamespace(image_original=hot), opacity=0.5, threshold=0.25)
    rel = session.viewer.layers[RELEVANCE_LAYER]
    np.testing.assert_allclose(rel.affine.affine_matrix, mri.affine.affine_matrix)
    np.testing.assert_allclose(rel.scale, mri.scale)
    np.testing.assert_allclose(rel.translate, mri.translate)
    assert rel.data.shape == mri.data.shape
    assert np.linalg.norm(rel.data_to_world(centroid(rel, 0.5)) - world) <= VOXEL
    assert RELEVANCE_LAYER in session.views.models["coronal"].layers


def test_an_axis_aligned_scan_is_shown_as_it_is():
    affine = np.diag([2.0, 2.0, 2.5, 1.0])
    grid = display_grid(affine, (10, 12, 8))
    data = np.ones((10, 12, 8), np.float32)
    assert not grid.resampled and grid.shape == (10, 12, 8)
    assert grid.to_display(data) is data  # no copy, no blur


def test_the_display_grid_holds_the_whole_oblique_volume():
    from nibabel.orientations import inv_ornt_aff, io_orientation

    file_affine = oblique_affine()
    canonical = file_affine @ inv_ornt_aff(io_orientation(file_affine), SHAPE)
    grid = display_grid(canonical, SHAPE)
    assert grid.resampled
    ones = grid.to_display(np.ones(SHAPE, np.float32))
    # a 10 degree tilt about x widens y and z, x stays; every source corner lies inside the grid
    assert grid.shape[0] == SHAPE[0] and grid.shape[1] > SHAPE[1] and grid.shape[2] > SHAPE[2]
    assert ones[grid.shape[0] // 2, grid.shape[1] // 2, grid.shape[2] // 2] == pytest.approx(1.0)
    assert ones[0, 0, 0] == 0.0  # outside the tilted volume: background
