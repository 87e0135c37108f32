"""What the last review of the viewer found a user would trip over: status lines that go stale, a crosshair that
can be deleted, labels cut off on a small screen, what-if lines without units, napari's coordinates in the status
bar and a 3-D view that kept the 2-D zoom."""
from __future__ import annotations

import re

import pytest

from tests.gui.test_explain_display import explain_with, fake_explanation, skewed_map
from tests.gui.test_predict_panel import RECORD, write_case

pytestmark = pytest.mark.usefixtures("collect_qt_garbage")


@pytest.fixture
def session(open_case):
    return open_case(write_case, RECORD)


def test_the_explain_status_states_no_threshold_the_slider_has_left(session):
    explain_with(session, fake_explanation(skewed_map(session.volume.data.shape)))
    panel = session.explain_panel
    panel.threshold.setValue(panel.threshold.value() + 17)
    current = f"{panel.threshold.value() / 100:.2f}"
    stated = re.findall(r"\b\d\.\d\d\b", panel.status.text())
    assert all(v == current for v in stated), panel.status.text()
    assert current in panel.color_bar.caption()  # the bar beside the slider says where it is now


# -- the crosshair is a marker, not something to draw on; deleted, it comes back at the next click --

def click(session, qtbot, dx: float, dy: float) -> None:
    """A plain left click on the axial canvas, ``dx, dy`` screen pixels from its centre."""
    from tests.gui.test_linked_views import LEFT, NO_BUTTON, send_mouse, settle

    native = session.viewer.window._qt_viewer.canvas.native
    pos = (native.width() / 2 + dx, native.height() / 2 + dy)
    send_mouse(native, "press", pos, LEFT)
    send_mouse(native, "release", pos, NO_BUTTON)
    settle(qtbot, 60)


def test_the_crosshair_cannot_be_drawn_on_and_comes_back_after_it_is_deleted(open_case, qtbot):
    from alifuse_gui.layers import CROSSHAIR_LAYER, MRI_LAYER
    from tests.gui.test_linked_views import models, settle, yellow_lines

    session = open_case(write_case, show=True)
    settle(qtbot)
    viewer = session.viewer
    click(session, qtbot, 0, 0)
    cross = viewer.layers[CROSSHAIR_LAYER]
    viewer.layers.selection.active = cross  # the user picks it in the layer list ...
    cross.mode = "add_line"                 # ... and a drawing tool of its layer controls
    assert cross.mode == "pan_zoom" and not cross.editable
    before = tuple(viewer.dims.point)
    click(session, qtbot, 40, 30)
    assert tuple(viewer.dims.point) != before  # the click still moves the views (a drawing tool swallowed it)
    assert len(cross.data) == 3

    viewer.layers.remove_selected()  # the layer list's delete button
    settle(qtbot)
    assert CROSSHAIR_LAYER not in viewer.layers
    click(session, qtbot, -40, -30)
    assert viewer.layers[-1].name == CROSSHAIR_LAYER and not viewer.layers[CROSSHAIR_LAYER].editable
    assert viewer.layers.selection.active is viewer.layers[MRI_LAYER]
    settle(qtbot)
    for name, _model in models(session):
        rows, cols = yellow_lines(session, name)
        assert rows and cols, f"{name}: no crosshair drawn after it was deleted and the user clicked again"


# -- the view labels fit a laptop's narrow canvases --

def label_right_edge(session, qtbot) -> tuple[int, int]:
    """The rightmost column of the label's light pixels at the top of the axial canvas, and the canvas's width."""
    import numpy as np

    from tests.gui.test_linked_views import settle

    settle(qtbot)
    rgb = np.asarray(session.viewer.window._qt_viewer.screenshot(flash=False))[..., :3].astype(int)
    band = rgb[: rgb.shape[0] // 8]  # the label's lines; the image lies lower in a narrow, tall canvas
    light = np.flatnonzero((band.min(axis=2) > 150).any(axis=0))
    return (int(light.max()) if light.size else -1), rgb.shape[1]


def test_the_axial_label_is_not_cut_off_in_a_narrow_canvas(open_case, qtbot):
    from tests.gui.test_linked_views import settle

    session = open_case(write_case, show=True)
    native = session.viewer.window._qt_viewer.canvas.native
    native.setMaximumWidth(275)  # the axial canvas of the window on a 1366 x 768 screen (Explain dock shown)
    settle(qtbot)
    right, width = label_right_edge(session, qtbot)
    assert 0 < right < width - 4, f"the label runs to column {right} of a {width}-pixel canvas"
    text = session.viewer.canvas.overlays["text"].text
    assert "axial" in text and "neurological" in text  # nothing dropped to make it fit


# -- the what-if lines name the fields as the form does --

def test_what_if_lines_name_fields_with_the_forms_labels_and_units(session):
    from qtpy.QtWidgets import QLabel

    panel, form = session.predict_panel, session.record_form
    panel.run_now()
    form.editors["age"].setText("80")
    form.editors["mmse"].setText("12")
    form.set_entry("cdr", 2)
    panel.run_now()
    text = panel.changes.text()
    labels = {w.text() for w in form.findChildren(QLabel)}
    for shown, change in (("Age (years)", "74 -> 80"), ("MMSE (points)", "24 -> 12"), ("CDR", "0.5 -> 2")):
        assert shown in labels  # the form's own label ...
        assert f"{shown}: {change}" in text  # ... is the what-if line's


# -- the status bar speaks scanner millimetres and the file's voxels --

def test_the_status_bar_gives_the_cursor_in_scanner_mm_and_the_files_voxel(open_case, qtbot):
    import numpy as np
    from qtpy.QtWidgets import QLabel

    session = open_case(write_case, RECORD, show=True)
    viewer, volume = session.viewer, session.volume
    voxel = (10, 12, 9)  # a voxel of the file as stored (its affine flips x and y)
    world = (np.asarray(volume.original_affine) @ np.array([*voxel, 1.0]))[:3]
    viewer.dims.point = tuple(world)
    viewer.mouse_over_canvas = True
    viewer.cursor.position = tuple(world)
    viewer.update_status_from_cursor()  # what napari's status thread does when the mouse moves there
    shown = [w.text() for w in viewer.window._qt_window.statusBar().findChildren(QLabel) if "mm" in w.text()]
    x, y, z = world
    assert len(shown) == 1, shown
    assert shown[0].startswith(f"{x:.1f}, {y:.1f}, {z:.1f} mm (RAS) · voxel 10, 12, 9: ")
    assert shown[0].split(": ")[-1].startswith("102")  # the MRI's value there (150 + 50 sin 5), kept

    outside = world + np.array([0.0, 0.0, 100.0])
    viewer.cursor.position = tuple(outside)
    viewer.update_status_from_cursor()
    assert any("mm (RAS) · outside the image" in w.text()
               for w in viewer.window._qt_window.statusBar().findChildren(QLabel))


# -- 3-D opens fitted to the image; each mode keeps the camera the user left it with --

def test_3d_opens_fitted_and_each_mode_keeps_the_users_camera(open_case, tmp_path, qtbot):
    from tests.gui.test_linked_views import settle, write_image

    session = open_case(write_case, show=True)
    viewer = session.viewer
    cam = viewer.scene.camera
    settle(qtbot)
    cam.zoom *= 4  # the user zooms in on a slice ...
    viewer.dims.current_step = (3, 4, 5)  # ... away from the middle
    zoom_2d, center_2d, point_2d = cam.zoom, tuple(cam.center), tuple(viewer.dims.point)
    viewer.dims.ndisplay = 3
    settle(qtbot)
    zoom_3d = cam.zoom
    viewer.reset_view()  # what "fitted to the whole image" is in 3-D
    assert zoom_3d == pytest.approx(cam.zoom) and zoom_3d < zoom_2d / 2
    cam.angles = (10.0, 20.0, 30.0)  # the user turns the 3-D view
    viewer.dims.ndisplay = 2
    settle(qtbot)
    assert cam.zoom == pytest.approx(zoom_2d) and tuple(cam.center) == pytest.approx(center_2d)
    assert tuple(viewer.dims.point) == pytest.approx(point_2d)  # the slice the user was on
    viewer.dims.ndisplay = 3
    settle(qtbot)
    assert tuple(cam.angles) == pytest.approx((10.0, 20.0, 30.0))  # the user's 3-D camera, not a new fit

    viewer.dims.ndisplay = 2
    assert session.open_image(write_image(tmp_path / "big.nii.gz", (60, 70, 50), (2.0, 2.0, 2.0), (0.0, 0.0, 0.0)))
    viewer.dims.ndisplay = 3  # a new image: fitted again, not the old image's 3-D camera
    settle(qtbot)
    zoom_new = cam.zoom
    viewer.reset_view()
    assert zoom_new == pytest.approx(cam.zoom)


# -- a record file is held to the form's rule for numbers --

def test_a_record_file_with_1e2_is_refused_as_the_form_refuses_it(session, tmp_path, boxes):
    form = session.record_form
    form.editors["age"].setText("1e2")
    typed_error = form.model.error("age")
    assert typed_error.startswith("Age (years): '1e2' is not a number") and "digits 0-9" in typed_error
    form.editors["age"].setText("74")
    path = tmp_path / "record.json"
    path.write_text('{"age": 1e2, "mmse": 24}')
    assert form.load(path) is False
    assert boxes == [("Cannot load the record", f"{path}: Age (years) ('age' in the file): '1e2' is not a plain "
                      "number; write it with the digits 0-9 and a decimal point (1e2 = 100)")]
    assert form.editors["age"].text() == "74"  # the form keeps what it held
    path.write_text('{"age": 74.5, "cdr_sb": 0.5}')  # plain decimals still load
    assert form.load(path) is True and form.editors["age"].text() == "74.5"
