"""The viewer: world placement of the MRI, windowing, linked orthogonal views, bad files, drops, overlays."""
from __future__ import annotations

import gc
from types import SimpleNamespace

import nibabel as nib
import numpy as np
import pytest
from qtpy.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from qtpy.QtGui import QDragEnterEvent, QDropEvent
from qtpy.QtWidgets import QApplication

from alifuse_gui.display import AXIS_LABELS, original_to_canonical, percentile_limits, placement, view_spec
from alifuse_gui.layers import MRI_LAYER, RELEVANCE_LAYER, relevance_colormap

# A file stored LPS-like (x and y flipped), so canonical reordering really happens.
FILE_AFFINE = np.array([[-2.0, 0, 0, 60.0], [0, -2.0, 0, 70.0], [0, 0, 2.5, -40.0], [0, 0, 0, 1]])
HOT = (3, 5, 7)          # a bright voxel, as indexed in the file
SHAPE = (20, 24, 18)


def write_case(path, hot=HOT, value=1000.0):
    """A head-like ellipsoid (values 100-200) with one bright voxel at ``hot``."""
    x, y, z = np.mgrid[0:SHAPE[0], 0:SHAPE[1], 0:SHAPE[2]]
    d = ((x - 10) / 8) ** 2 + ((y - 12) / 10) ** 2 + ((z - 9) / 7) ** 2
    data = np.where(d < 1, 150 + 50 * np.sin(x / 2.0) * np.cos(y / 3.0), 0).astype(np.float32)
    data[hot] = value
    nib.save(nib.Nifti1Image(data, FILE_AFFINE), str(path))
    return path


@pytest.fixture(autouse=True)
def _collect_qt_garbage():
    """Free each test's Qt wrappers while QApplication still exists (not at interpreter exit)."""
    yield
    gc.collect()


@pytest.fixture
def case_file(tmp_path):
    return write_case(tmp_path / "case.nii.gz")


@pytest.fixture
def session(make_napari_viewer, tiny_checkpoint):
    from alifuse_gui._qt.session import AlifuseSession

    viewer = make_napari_viewer(show=True)
    return AlifuseSession(viewer, tiny_checkpoint)


# -- Qt-free display rules --

def test_placement_of_an_axis_aligned_affine():
    p = placement(np.array([[2.0, 0, 0, -10], [0, 3.0, 0, 5], [0, 0, 1.5, 7], [0, 0, 0, 1]]))
    assert p.scale == (2.0, 3.0, 1.5) and p.translate == (-10.0, 5.0, 7.0) and p.obliquity_deg == 0.0
    c, s = np.cos(np.radians(10)), np.sin(np.radians(10))
    tilted = np.array([[1.0, 0, 0, 0], [0, c, -s, 0], [0, s, c, 0], [0, 0, 0, 1]])
    assert placement(tilted).obliquity_deg == pytest.approx(10.0)


def test_contrast_window_ignores_outliers_and_background():
    data = np.zeros((20, 20, 20), np.float32)
    data[5:15, 5:15, 5:15] = np.linspace(100, 200, 1000).reshape(10, 10, 10)
    data[0, 0, 0] = 1e6  # one hot pixel would make a min/max window useless
    lo, hi = percentile_limits(data)
    assert 100 < lo < 103 and 197 < hi < 200


def test_radiological_flips_left_right_only_in_axial_and_coronal():
    for name in ("axial", "coronal"):
        assert view_spec(name).orientation2d == ("up", "right")
        assert view_spec(name, radiological=True).orientation2d == ("up", "left")
    assert view_spec("sagittal").orientation2d == view_spec("sagittal", True).orientation2d
    assert view_spec("axial").order[0] == 2 and view_spec("coronal").order[0] == 1 and view_spec("sagittal").order[0] == 0


def test_relevance_colormap_is_transparent_at_zero():
    cmap = relevance_colormap()
    assert cmap.map(np.array([0.0]))[0, 3] == 0.0
    assert cmap.map(np.array([1.0]))[0, 3] == 1.0


# -- the viewer --

def test_open_image_places_voxels_at_their_world_position(session, case_file):
    assert session.open_image(case_file)
    layer = session.viewer.layers[MRI_LAYER]
    world = (FILE_AFFINE @ np.array([*HOT, 1.0]))[:3]
    index = np.round(layer.world_to_data(world)).astype(int)
    assert layer.data[tuple(index)] == 1000.0
    hot_canonical = np.unravel_index(np.argmax(layer.data), layer.data.shape)
    np.testing.assert_allclose(layer.data_to_world(hot_canonical), world)
    assert tuple(session.viewer.dims.axis_labels) == AXIS_LABELS
    lo, hi = layer.contrast_limits
    assert hi < 1000.0 and lo > 0  # percentile window, not min/max (the hot voxel and the background)


def test_linked_views_mirror_layers_and_follow_the_slice(session, case_file):
    session.open_image(case_file)
    views = session.views
    for name, model in views.models.items():
        assert MRI_LAYER in model.layers
        assert model.dims.order == view_spec(name).order
        assert model.layers[MRI_LAYER].data is session.viewer.layers[MRI_LAYER].data  # shared, not copied
    assert session.viewer.dims.order == view_spec("axial").order
    step = list(session.viewer.dims.current_step)
    step[2] = 4
    session.viewer.dims.current_step = step
    assert views.models["coronal"].dims.current_step[2] == 4
    views.models["sagittal"].dims.current_step = (7, step[1], 4)
    assert session.viewer.dims.current_step[0] == 7
    session.viewer.layers[MRI_LAYER].contrast_limits = (120.0, 160.0)
    assert tuple(views.models["coronal"].layers[MRI_LAYER].contrast_limits) == (120.0, 160.0)


def test_radiological_toggle_flips_the_cameras(session, case_file):
    session.open_image(case_file)
    session.set_radiological(True)
    assert tuple(map(str, session.viewer.scene.camera.orientation2d)) == ("up", "left")
    assert tuple(map(str, session.views.models["coronal"].scene.camera.orientation2d)) == ("up", "left")
    assert "radiological" in session.viewer.canvas.overlays["text"].text
    session.set_radiological(False)
    assert tuple(map(str, session.viewer.scene.camera.orientation2d)) == ("up", "right")


def test_2d_orientation_changes_keep_the_3d_direction_listeners(session, case_file):
    """The flip sets napari's 3-D direction listeners aside only for the change, and only in 2-D."""
    from alifuse_gui._qt.workarounds import unheard_3d_directions as _unheard_3d_directions

    session.open_image(case_file)
    events = session.viewer.scene.camera.events
    events.view_direction.connect(lambda _e=None: None, ref="named_listener")  # names must survive too
    listeners = lambda: (list(events.view_direction.callbacks), list(events.up_direction.callbacks),  # noqa: E731
                         list(events.view_direction.callback_refs))
    before = listeners()
    assert before[0], "napari's canvas listens to the view direction"
    session.set_radiological(True)
    assert listeners() == before
    with _unheard_3d_directions(session.viewer):
        assert listeners() == ([], [], [])
    session.viewer.dims.ndisplay = 3
    with _unheard_3d_directions(session.viewer):  # in 3-D the directions matter: nothing is set aside
        assert listeners() == before
    session.viewer.dims.ndisplay = 2


def test_the_first_orientation_needs_no_scipy_spatial():
    """Orienting the axial view at start-up does not import scipy.spatial (0.2 s of the first image)."""
    import subprocess
    import sys

    code = ("import sys, napari\n"
            "from alifuse_gui._qt.linked_views import LinkedViews\n"
            "viewer = napari.Viewer(show=False)\n"
            "views = LinkedViews(viewer, build=False)\n"
            "print(tuple(map(str, viewer.scene.camera.orientation2d)), 'scipy.spatial' in sys.modules)\n"
            "viewer.close()\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "('up', 'right') False"


def test_bad_file_keeps_the_open_case_and_says_why(session, case_file, tmp_path, boxes):
    session.open_image(case_file)
    bad = tmp_path / "broken.nii.gz"
    bad.write_bytes(b"this is not an image")
    assert session.open_image(bad) is False
    assert len(boxes) == 1 and boxes[0][0] == "Cannot open the image"
    assert boxes[0][1].startswith(f"{bad}: ")
    assert session.volume.path == str(case_file)
    assert session.viewer.layers[MRI_LAYER].metadata["path"] == str(case_file)


def test_dropping_a_file_on_the_window_opens_it(session, case_file, boxes):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(case_file))])
    target = session.viewer.window._qt_viewer
    args = (Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    enter = QDragEnterEvent(QPoint(10, 10), *args)
    QApplication.sendEvent(target, enter)  # Qt delivers a drop only after an accepted drag-enter
    assert enter.isAccepted()
    QApplication.sendEvent(target, QDropEvent(QPointF(10, 10), *args))
    assert session.volume is not None and session.volume.path == str(case_file)
    assert MRI_LAYER in session.viewer.layers and boxes == []


def test_screenshot_shows_the_brain(session, case_file, tmp_path):
    session.open_image(case_file)
    shot = session.viewer.screenshot(str(tmp_path / "canvas.png"), canvas_only=True, flash=False)
    rgb = shot[..., :3].astype(float)
    h, w = rgb.shape[:2]
    assert rgb.std() > 10                       # not a blank canvas
    centre = rgb[h // 2 - 10:h // 2 + 10, w // 2 - 10:w // 2 + 10].mean()
    corner = rgb[:10, :10].mean()
    assert centre > 60 and centre > corner + 40  # bright anatomy in the middle, dark background outside


def test_relevance_overlay_lands_on_the_same_world_voxel(session, case_file):
    session.open_image(case_file)
    from engine.imageio import load_volume

    vol = load_volume(case_file)
    hot = np.zeros(vol.original_shape, np.float32)
    hot[HOT] = 1.0
    session.last_case = SimpleNamespace(volume=vol)
    session.accept_explanation(SimpleNamespace(image_original=hot), opacity=0.5, threshold=0.25)
    rel, mri = session.viewer.layers[RELEVANCE_LAYER], session.viewer.layers[MRI_LAYER]
    assert rel.data.shape == mri.data.shape
    np.testing.assert_allclose(rel.affine.affine_matrix, mri.affine.affine_matrix)
    np.testing.assert_allclose(rel.data_to_world(np.unravel_index(rel.data.argmax(), rel.data.shape)),
                               (FILE_AFFINE @ np.array([*HOT, 1.0]))[:3])
    assert str(rel.blending) == "translucent" and rel.opacity == 0.5 and tuple(rel.contrast_limits) == (0.25, 1.0)
    assert RELEVANCE_LAYER in session.views.models["sagittal"].layers


def test_overlay_of_a_wrong_grid_is_refused():
    with pytest.raises(ValueError, match="does not match"):
        original_to_canonical(np.zeros((4, 4, 4)), np.eye(4), (5, 5, 5))
