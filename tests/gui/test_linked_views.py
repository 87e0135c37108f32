"""The three linked views: each new image opens on its middle slices, fitted to each canvas once laid out."""
from __future__ import annotations

import gc

import nibabel as nib
import numpy as np
import pytest
from qtpy.QtCore import QPointF, Qt
from qtpy.QtGui import QMouseEvent
from qtpy.QtWidgets import QApplication

from alifuse_gui.layers import MRI_LAYER


@pytest.fixture(autouse=True)
def _collect_qt_garbage():
    yield
    gc.collect()


def write_image(path, shape, voxel, origin, affine=None):
    """A bright box filling most of ``shape``, so any slice but the edges shows something."""
    data = np.zeros(shape, np.float32)
    lo = [s // 8 for s in shape]
    hi = [s - s // 8 for s in shape]
    data[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] = 100.0
    if affine is None:
        affine = np.diag([*voxel, 1.0])
        affine[:3, 3] = origin
    nib.save(nib.Nifti1Image(data, affine), str(path))
    return path


def settle(qtbot, ms: int = 200) -> None:
    """Let Qt lay the window out and the canvases draw."""
    for _ in range(3):
        QApplication.processEvents()
        qtbot.wait(ms // 3)


def canvas_hw(session, name: str) -> tuple[int, int]:
    """The size on screen of a view's canvas (Qt's own widget, not napari's record of it)."""
    qtv = session.viewer.window._qt_viewer if name == "axial" else session.views.qt_viewers[name]
    native = qtv.canvas.native
    return native.height(), native.width()


def models(session):
    return [("axial", session.viewer), *session.views.models.items()]


def assert_whole_image_visible(session) -> None:
    """In every view, the image's extent (voxel edges, in world mm) lies within the canvas at the camera's zoom."""
    for name, model in models(session):
        layer = model.layers[MRI_LAYER]
        h, w = canvas_hw(session, name)
        assert h > 50 and w > 50, f"{name}: canvas {w}x{h} not laid out"
        zoom = model.scene.camera.zoom
        centre = np.asarray(model.scene.camera.center)[-2:]
        rows, cols = model.dims.displayed
        ext = np.asarray(layer.extent.world)
        half_voxel = 0.5 * np.abs(np.asarray(layer.extent.step))
        for axis, size_px, c in ((rows, h, centre[0]), (cols, w, centre[1])):
            lo, hi = ext[0, axis] - half_voxel[axis], ext[1, axis] + half_voxel[axis]
            half_span = size_px / zoom / 2
            assert c - half_span <= lo + 1e-6 and hi - 1e-6 <= c + half_span, (
                f"{name}: axis {axis} extent {lo:.1f}..{hi:.1f} mm not within {c - half_span:.1f}..{c + half_span:.1f}")


def assert_middle_slices(session) -> None:
    """Every view is at the middle of the image along every axis (within one voxel)."""
    for name, model in models(session):
        layer = model.layers[MRI_LAYER]
        voxel = np.round(layer.world_to_data(model.dims.point)).astype(int)
        middle = (np.asarray(layer.data.shape) - 1) / 2
        assert np.all(np.abs(voxel - middle) <= 1), f"{name}: at voxel {voxel}, middle {middle}"


@pytest.fixture
def session(make_napari_viewer, tiny_checkpoint):
    from alifuse_gui._qt.session import AlifuseSession

    return AlifuseSession(make_napari_viewer(show=True), tiny_checkpoint)


def test_each_new_image_opens_on_its_middle_slices_and_fits_every_view(session, tmp_path, qtbot):
    a = write_image(tmp_path / "a.nii.gz", (40, 48, 36), (2.0, 2.0, 2.0), (-40.0, -50.0, -30.0))
    b = write_image(tmp_path / "b.nii.gz", (90, 30, 60), (1.0, 3.0, 1.5), (10.0, 80.0, 20.0))
    assert session.open_image(a)
    settle(qtbot)
    session.viewer.dims.current_step = (2, 3, 1)  # the user looked at a corner of A
    assert session.open_image(b)
    settle(qtbot)
    assert_middle_slices(session)
    assert_whole_image_visible(session)


def test_the_view_is_fitted_after_the_window_is_laid_out(make_napari_viewer, tiny_checkpoint, tmp_path, qtbot):
    """As ``alifuse-gui IMAGE`` starts: the image is shown before the docks have their sizes."""
    from alifuse_gui.app import LaunchPlan, launch
    from engine.imageio import load_volume

    path = write_image(tmp_path / "wide.nii.gz", (120, 100, 80), (1.5, 1.5, 1.5), (-90.0, -75.0, -60.0))
    plan = LaunchPlan(path, load_volume(path), None, tiny_checkpoint, "cpu", False, None, "relevance")
    session = launch(plan, viewer=make_napari_viewer(show=True))
    settle(qtbot, 600)
    session.finish_startup()
    settle(qtbot, 600)
    assert_middle_slices(session)
    assert_whole_image_visible(session)
    window = session.viewer.window._qt_window
    window.resize(window.width() - 200, window.height() - 150)  # the user makes the window smaller
    settle(qtbot)
    assert_whole_image_visible(session)


def test_a_camera_the_user_moved_stays_where_it_is(session, tmp_path, qtbot):
    session.open_image(write_image(tmp_path / "a.nii.gz", (40, 48, 36), (2.0, 2.0, 2.0), (0.0, 0.0, 0.0)))
    settle(qtbot)
    session.viewer.scene.camera.zoom *= 3  # the user zoomed in
    zoom = session.viewer.scene.camera.zoom
    window = session.viewer.window._qt_window
    window.resize(window.width() - 100, window.height() - 50)
    settle(qtbot)
    assert session.viewer.scene.camera.zoom == pytest.approx(zoom)


# -- the crosshair: a click in one view moves the others there --

LEFT, NO_BUTTON = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton  # the buttons held during an event

def send_mouse(widget, kind, pos, buttons) -> None:
    """A real Qt mouse event on a view's canvas, as the user's mouse makes it."""
    types = {"press": QMouseEvent.Type.MouseButtonPress, "move": QMouseEvent.Type.MouseMove,
             "release": QMouseEvent.Type.MouseButtonRelease}
    button = Qt.MouseButton.NoButton if kind == "move" else Qt.MouseButton.LeftButton
    p = QPointF(*pos)
    QApplication.sendEvent(widget, QMouseEvent(types[kind], p, widget.mapToGlobal(p), button, buttons,
                                               Qt.KeyboardModifier.NoModifier))


def yellow_lines(session, name: str) -> tuple[list[int], list[int]]:
    """Rows and columns of a view's canvas drawn mostly in the crosshair's yellow (over a grey MRI)."""
    qtv = session.viewer.window._qt_viewer if name == "axial" else session.views.qt_viewers[name]
    rgb = np.asarray(qtv.screenshot(flash=False))[..., :3].astype(int)
    yellow = (rgb[..., 0] > 180) & (rgb[..., 1] > 150) & (rgb[..., 2] < 90)
    rows = [int(r) for r in np.flatnonzero(yellow.sum(axis=1) > 40)]  # a line across the image, not a speck
    cols = [int(c) for c in np.flatnonzero(yellow.sum(axis=0) > 40)]
    return rows, cols


def test_a_click_moves_the_other_views_to_the_point_and_marks_it_in_all(session, tmp_path, qtbot):
    from alifuse_gui.layers import CROSSHAIR_LAYER

    session.open_image(write_image(tmp_path / "a.nii.gz", (60, 70, 50), (2.0, 2.0, 2.0), (-60.0, -70.0, -50.0)))
    settle(qtbot)
    viewer, views = session.viewer, session.views
    target = np.array([-30.0, 20.0, 0.0])  # world mm (x, y); z: the axial view's slice
    target[2] = viewer.dims.point[2]
    rows, cols = viewer.dims.displayed
    viewer.scene.camera.center = (target[rows], target[cols])  # the target under the canvas's centre
    native = viewer.window._qt_viewer.canvas.native
    centre = (native.width() / 2, native.height() / 2)
    assert CROSSHAIR_LAYER not in viewer.layers and yellow_lines(session, "axial") == ([], [])
    send_mouse(native, "press", centre, LEFT)
    send_mouse(native, "release", centre, NO_BUTTON)
    settle(qtbot)
    voxel = 2.0
    assert abs(views.models["coronal"].dims.point[1] - target[1]) <= voxel  # the coronal view slices y there
    assert abs(views.models["sagittal"].dims.point[0] - target[0]) <= voxel  # the sagittal view slices x there
    assert abs(viewer.dims.point[2] - target[2]) <= voxel  # the clicked view stays on its slice
    for name, model in models(session):
        cross = model.layers[CROSSHAIR_LAYER]
        assert cross.visible
        centre_of_lines = np.array([cross.data_to_world(line.mean(axis=0)) for line in cross.data])
        for axis in range(3):  # each line lies through the clicked point on the two axes it does not run along
            others = [a for a in range(3) if a != axis]
            np.testing.assert_allclose(centre_of_lines[axis][others], target[others], atol=voxel)
        h_rows, v_cols = yellow_lines(session, name)
        assert h_rows and v_cols, f"{name}: no crosshair drawn"
    h_rows, v_cols = yellow_lines(session, "axial")
    assert min(abs(r - centre[1]) for r in h_rows) <= 2 and min(abs(c - centre[0]) for c in v_cols) <= 2
    assert viewer.layers.selection.active is viewer.layers[MRI_LAYER]  # the user's layer stays the active one


def test_a_drag_pans_and_moves_no_slice(session, tmp_path, qtbot):
    from alifuse_gui.layers import CROSSHAIR_LAYER

    session.open_image(write_image(tmp_path / "a.nii.gz", (60, 70, 50), (2.0, 2.0, 2.0), (-60.0, -70.0, -50.0)))
    settle(qtbot)
    before = {name: tuple(model.dims.point) for name, model in models(session)}
    centre_before = tuple(session.viewer.scene.camera.center)
    native = session.viewer.window._qt_viewer.canvas.native
    start = (native.width() / 2, native.height() / 2)
    send_mouse(native, "press", start, LEFT)
    for step in range(1, 6):
        send_mouse(native, "move", (start[0] + 10 * step, start[1]), LEFT)
    send_mouse(native, "release", (start[0] + 50, start[1]), NO_BUTTON)
    settle(qtbot)
    assert tuple(session.viewer.scene.camera.center) != centre_before  # the drag reached napari: it panned
    assert {name: tuple(model.dims.point) for name, model in models(session)} == before
    assert CROSSHAIR_LAYER not in session.viewer.layers


def test_a_new_image_hides_the_old_crosshair_and_opens_on_its_own_middle(session, tmp_path, qtbot):
    from alifuse_gui.layers import CROSSHAIR_LAYER

    session.open_image(write_image(tmp_path / "a.nii.gz", (60, 70, 50), (2.0, 2.0, 2.0), (-60.0, -70.0, -50.0)))
    session.views.go_to((10.0, 10.0, 0.0))
    assert session.viewer.layers[CROSSHAIR_LAYER].visible
    session.open_image(write_image(tmp_path / "b.nii.gz", (30, 30, 30), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0)))
    settle(qtbot)
    assert not session.viewer.layers[CROSSHAIR_LAYER].visible
    assert not session.views.models["coronal"].layers[CROSSHAIR_LAYER].visible
    assert_middle_slices(session)  # of B alone: the old crosshair does not widen the range to A's extent
    assert_whole_image_visible(session)
    for name, model in models(session):  # fitted to B, not to A and B: B fills its canvas along one axis at least
        h, w = canvas_hw(session, name)
        rows, cols = model.dims.displayed
        ext = np.asarray(model.layers[MRI_LAYER].extent.world)
        span = ext[1] - ext[0] + 1.0
        zoom = model.scene.camera.zoom
        assert max(span[rows] * zoom / h, span[cols] * zoom / w) > 0.8, name


def test_the_crosshair_stays_above_the_relevance_map(session, tmp_path):
    from types import SimpleNamespace

    from alifuse_gui.layers import CROSSHAIR_LAYER, RELEVANCE_LAYER
    from engine.imageio import load_volume

    path = write_image(tmp_path / "a.nii.gz", (30, 32, 28), (2.0, 2.0, 2.0), (0.0, 0.0, 0.0))
    session.open_image(path)
    session.views.go_to((20.0, 20.0, 20.0))
    vol = load_volume(path)
    session.last_case = SimpleNamespace(volume=vol)
    session.accept_explanation(SimpleNamespace(image_original=np.ones(vol.original_shape, np.float32)))
    for name, model in models(session):
        names = [layer.name for layer in model.layers]
        assert names[-1] == CROSSHAIR_LAYER and RELEVANCE_LAYER in names, f"{name}: {names}"
