"""The report is the screen on paper (issue 13, item 11): the exported PDF orients, colours and thresholds the
slices as the live window does, and carries the certainty and the scan's name."""
from __future__ import annotations

import numpy as np
import pytest
from qtpy.QtWidgets import QApplication

from alifuse_gui.layers import MRI_LAYER, RELEVANCE_LAYER
from alifuse_gui.report import report_pages
from tests.gui.test_report import bright_sides, crop_to_content, marker_case, page_panel, pdf_text

RECORD = {"subject_id": "sub-0042", "age": 71, "sex": "male", "mmse": 22,
          "summary": " ".join(f"w{n:02d}" for n in range(1, 46))}   # 45 words: the last 5 are never read


pytestmark = pytest.mark.usefixtures("collect_qt_garbage")


@pytest.fixture
def session(open_case):
    return open_case(marker_case, RECORD, "marker.nii.gz", show=True)


def view_picture(session, name: str) -> np.ndarray:
    """What view ``name`` shows now, its text and scale-bar overlays hidden (they are not anatomy)."""
    qt = session.viewer.window._qt_viewer if name == "axial" else session.views.qt_viewers[name]
    model = session.viewer if name == "axial" else session.views.models[name]
    for overlay in ("text", "scale_bar"):
        model.canvas.overlays[overlay].visible = False
    model.reset_view()
    QApplication.processEvents()
    shot = qt.screenshot(flash=False)[..., :3].astype(float) / 255
    return crop_to_content(shot, 0.02)


def lean(picture: np.ndarray) -> float:
    """Degrees between the long axis of the picture's brightest region and the horizontal (second moments); the
    outer tenth, where the page prints its orientation letters, left out."""
    h, w = picture.shape[:2]
    g = picture[h // 10:h - h // 10, w // 10:w - w // 10, :3].mean(axis=2)
    rows, cols = np.nonzero(g > 0.8 * g.max())
    cov = np.cov(np.stack([cols - cols.mean(), -(rows - rows.mean())]))
    vals, vecs = np.linalg.eigh(cov)
    x, y = vecs[:, np.argmax(vals)]
    angle = float(np.degrees(np.arctan2(y, x)))
    return (angle + 90) % 180 - 90


@pytest.mark.parametrize(("radiological", "tilt"), [(False, 0.0), (True, 0.0), (False, 20.0)])
def test_each_report_view_shows_the_bright_corner_where_the_window_shows_it(session, tmp_path, radiological, tilt):
    if tilt:
        assert session.open_image(marker_case(tmp_path / "oblique.nii.gz", tilt))
    session.set_radiological(radiological)
    vol = session.volume
    mri = session.viewer.layers[MRI_LAYER]
    assert mri.data.shape != vol.data.shape if tilt else mri.data.shape == vol.data.shape  # resampled if oblique
    centre = tuple(n // 2 for n in mri.data.shape)   # the report's slices without an explanation
    world = mri.data_to_world(centre)
    for axis, value in enumerate(world):
        session.viewer.dims.set_point(axis, value)
    fig = report_pages(vol, RECORD, session.predict_panel.run_now()[0], None, session.predictor.info, "today",
                       radiological=radiological)[1]
    for name in ("sagittal", "coronal", "axial"):
        screen = bright_sides(view_picture(session, name))
        assert bright_sides(page_panel(fig, name)) == screen, (name, screen)
        if tilt:   # an oblique scan is drawn in scanner planes on both: the bright block leans the same way
            page_angle, screen_angle = lean(page_panel(fig, name)), lean(view_picture(session, name))
            assert abs(page_angle - screen_angle) < 5, (name, page_angle, screen_angle)
            if name == "sagittal":   # tilted about left-right: the sagittal view shows the tilt
                assert abs(page_angle) > 10, page_angle
    # and the window itself is as the convention says: anterior left in the sagittal view; right on the right
    assert bright_sides(view_picture(session, "sagittal"))[0] == "left"
    assert bright_sides(view_picture(session, "axial"))[0] == ("left" if radiological else "right")


def test_exported_report_follows_the_explain_panel_and_says_what_the_card_says(session, tmp_path):
    from alifuse_gui._qt.menus import export_report, screen_settings

    pytest.importorskip("engine.explain")
    session.predict_panel.run_now()
    before = pdf_text(export_report(session, tmp_path / "predicted.pdf").read_bytes())
    assert session.last_reliance is not None and "What the prediction rests on" in before  # as the result card
    assert "Without the record:" in before and "not measured" not in before
    session.explain_panel.run_now("relevance")
    panel = session.explain_panel
    panel.threshold.setValue(80)
    panel.opacity.setValue(35)
    layer = session.viewer.layers[RELEVANCE_LAYER]
    assert tuple(layer.contrast_limits) == (0.8, 1.0)          # the window shows it so ...
    style = screen_settings(session)["style"]
    assert (style.low, style.opacity) == (0.8, 0.35)          # ... and the report paints it so
    np.testing.assert_allclose(style.colors, layer.colormap.colors)
    assert style.rgba(np.array([0.79]))[0, 3] == 0.0           # below the threshold: not drawn
    session.viewer.layers[MRI_LAYER].contrast_limits = (50.0, 400.0)
    assert screen_settings(session)["style"].mri_limits == (50.0, 400.0)
    layer.colormap = "magma"                                    # chosen in napari's layer controls
    np.testing.assert_allclose(screen_settings(session)["style"].colors, layer.colormap.colors)

    session.set_radiological(True)                              # View menu's convention, as the window shows it
    path = export_report(session, tmp_path / "case.pdf")
    assert path is not None
    text = pdf_text(path.read_bytes())
    assert "Oriented as in the viewer: radiological (patient's right on screen left)" in text
    assert "magma colour map, threshold 80%, opacity 35% (as in the Explain panel)" in text
    assert "marker.nii.gz" in text                               # the scan, by name
    certainty = session.last_prediction.certainty
    assert certainty and certainty.split(":")[0] in text         # "Not calibrated" / "Calibrated" / "Uncertain"
    assert f"{session.last_prediction.confidence:.1%}" in text
    assert "What the prediction rests on" in text                # measured with the explanation
    assert "The model read the first 40 words" in text and "the 5 after them" in text
    assert "[not read by the model:] w41 w42 w43 w44 w45" in text
