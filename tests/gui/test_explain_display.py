"""What the Explain dock and the form show (issue 13, item 10): a colour bar for the map, a threshold that suits the
map, readable field labels, fields named as the form names them, plain numbers only, status lines and progress of
the current case only, and 3-D called 3-D."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from qtpy.QtWidgets import QApplication

from alifuse_gui.layers import RELEVANCE_LAYER
from alifuse_gui.map_threshold import default_threshold
from alifuse_gui.record_model import RecordModel
from engine.ehr import FIELD_SPECS
from tests.gui.test_predict_panel import RECORD, write_case


pytestmark = pytest.mark.usefixtures("collect_qt_garbage")


@pytest.fixture
def session(open_case):
    return open_case(write_case, RECORD)


def skewed_map(shape, seed: int = 0) -> np.ndarray:
    """A map like Integrated Gradients': most voxels near 0, a few high; 1 at its maximum."""
    rng = np.random.default_rng(seed)
    rel = rng.exponential(0.04, size=shape)
    rel.flat[0] = rel.max() * 5
    return (rel / rel.max()).astype(np.float32)


def fake_explanation(image_original: np.ndarray, method: str = "integrated_gradients"):
    return SimpleNamespace(method=method, image_original=image_original, words=["The", "education", "is", "15"],
                           word_relevance=[0.1, 0.2, 0.1, 0.9], word_field=["", "education_years", "", "education_years"],
                           field_relevance={"education_years": 1.0}, reliance=None)


def explain_with(session, expl) -> None:
    session.predict_panel.run_now()
    session.explanation_job = lambda method: (lambda report, cancelled: expl)
    session.explain_panel.run_now(expl.method)


def settle() -> None:
    for _ in range(5):
        QApplication.processEvents()


# -- the threshold suits the map --

def test_the_default_threshold_shows_the_top_of_each_map():
    rel = skewed_map((40, 40, 40))
    head = np.zeros_like(rel)
    head[5:35, 5:35, 5:35] = 1
    t = default_threshold(rel, head)
    shown = (rel[head != 0] >= t).mean()
    assert 0.01 <= shown < 0.02  # the top 1 % (rounded down to the slider's step: a little more, never less)
    assert t < 0.5  # at a fixed 50 % such a map was all but invisible
    assert default_threshold(np.zeros((4, 4, 4))) == 0.0


def test_an_integrated_gradients_map_is_visible_when_it_arrives(session):
    mri = session.volume
    rel = skewed_map(mri.data.shape)  # the test image's affine is a flip: on its own grid, the same voxels
    from alifuse_gui.display import original_to_canonical

    explain_with(session, fake_explanation(rel))
    panel = session.explain_panel
    expected = default_threshold(original_to_canonical(rel, mri.original_affine, mri.data.shape), mri.data)
    assert panel.threshold.value() == round(expected * 100) and panel.threshold.value() < 50
    layer = session.viewer.layers[RELEVANCE_LAYER]
    assert layer.contrast_limits[0] == pytest.approx(panel.threshold.value() / 100)
    assert (layer.data[mri.data != 0] > layer.contrast_limits[0]).mean() >= 0.01  # coloured voxels on screen


# -- the colour bar --

def bar_colour_at(bar, value: float) -> tuple[int, int, int]:
    """The RGB the colour bar shows on screen at relevance ``value``."""
    image, rect = bar.grab().toImage(), bar.bar_rect()
    c = image.pixelColor(rect.left() + round(value * (rect.width() - 1)), rect.center().y())
    return c.red(), c.green(), c.blue()


def test_the_colour_bar_shows_the_colours_above_the_threshold(session):
    explain_with(session, fake_explanation(skewed_map(session.volume.data.shape)))
    panel = session.explain_panel
    bar = panel.color_bar
    panel.threshold.setValue(60)

    def colour_at(value: float):
        return bar_colour_at(bar, value)

    hidden = colour_at(0.3)
    assert hidden == colour_at(0.1)            # below the threshold: one "not painted" colour
    top = colour_at(1.0)
    turbo_top = np.asarray(panel._colors[-1][:3])
    expected = np.round(255 * (turbo_top * 0.6 + 0.5 * 0.4))  # the overlay's opacity over the grey underlay
    assert np.abs(np.array(top) - expected).max() <= 2
    assert "threshold 0.60" in bar.caption()
    panel.threshold.setValue(20)               # the bar follows the slider: 0.3 is now painted
    assert colour_at(0.3) != hidden and colour_at(0.1) == hidden
    assert "threshold 0.20" in bar.caption()


# -- the field chart --

def test_the_field_chart_labels_do_not_overlap(session, qtbot):
    panel = session.explain_panel
    chart = panel.chart
    chart.set_values({name: 0.1 * (i + 1) for i, name in enumerate(FIELD_SPECS) if name != "subject_id"})
    chart.setParent(None)  # on its own, at the height the Explain dock gives it at least
    qtbot.addWidget(chart)
    chart.show()
    chart.resize(380, chart.minimumHeight())
    qtbot.waitExposed(chart)
    settle()
    assert chart.figure.bbox.height <= chart.minimumHeight() + 1  # the figure is drawn at the widget's size
    chart.figure.canvas.draw()
    renderer = chart.figure.canvas.get_renderer()
    boxes = sorted((t.get_window_extent(renderer) for t in chart.axes.get_yticklabels()), key=lambda b: b.y0)
    assert len(boxes) == len(FIELD_SPECS) - 1
    gaps = [b.y0 - a.y1 for a, b in zip(boxes, boxes[1:])]
    assert min(gaps) > 0, gaps                                     # no label runs into the next
    assert min(b.x0 for b in boxes) >= 0                           # none cut off at the left edge
    assert min(b.y0 for b in boxes) >= 0 and max(b.y1 for b in boxes) <= chart.figure.bbox.height


# -- fields named as the form names them --

def test_messages_name_fields_as_the_form_does(session, tmp_path, boxes):
    form = session.record_form
    form.set_entry("education_years", "31")
    assert form.status.text() == "Fix the marked fields: Education (years): 31 is out of range 0-30 years"
    assert form.editors["education_years"].toolTip() == "Education (years): 31 is out of range 0-30 years"
    assert session.predict_panel.start() is None
    assert "Education (years): 31" in session.predict_panel.status.text()
    assert "education_years" not in session.predict_panel.status.text()
    bad = tmp_path / "r.json"
    bad.write_text('{"education_years": 31}')
    assert not form.load(bad)
    assert boxes[-1] == ("Cannot load the record",
                         f"{bad}: Education (years) ('education_years' in the file): 31 is out of range 0-30 years")
    words = session.explain_panel.words
    words.set_words(["15"], [0.5], ["education_years"])
    assert words.tooltip_for(0) == "15 (Education (years)): relevance 0.500"


# -- plain numbers only --

@pytest.mark.parametrize("field,typed", [("age", "1e2"), ("age", "0x1d"), ("age", "inf"), ("mmse", "1_0"),
                                         ("mmse", "２９"), ("cdr_sb", "5e-1")])
def test_scientific_hex_and_other_non_plain_numbers_are_refused(session, qtbot, field, typed):
    form = session.record_form
    form.editors[field].setText(typed)
    assert form.invalid_fields() == [field]
    assert form.model.valid_dict().get(field) is None
    label = FIELD_SPECS[field].label
    assert form.status.text().startswith(f"Fix the marked fields: {label}") and f"'{typed}'" in form.status.text()
    assert "digits 0-9" in form.status.text()


def test_plain_numbers_still_read():
    m = RecordModel()
    for field, typed, value in (("age", " 74 ", 74), ("age", "74,5", 74.5), ("age", "+74.25", 74.25),
                                ("cdr_sb", ".5", 0.5), ("mmse", "029", 29)):
        assert m.set_entry(field, typed) is None, typed
        assert m.valid_dict()[field] == value


# -- status lines and progress of the current case only --

def test_a_prediction_of_the_previous_case_says_nothing_in_the_new_one(session, qtbot, tmp_path):
    panel = session.predict_panel
    job = panel.start()
    assert job is not None
    assert session.open_image(write_case(tmp_path / "other.nii.gz"))  # a new case while it runs
    with qtbot.waitSignal(job.done, timeout=60_000):
        pass
    settle()
    assert panel.status.text() == "A new case: fill in its record and press Predict."
    assert panel.progress.value() == 0 and panel.current.label.text() == "—"
    assert panel.predict_button.isEnabled() and not panel.cancel_button.isEnabled()


def test_an_explanation_of_the_previous_case_says_nothing_after_new_case(session, qtbot):
    session.predict_panel.run_now()
    panel = session.explain_panel
    job = panel.start()
    assert job is not None
    session.close_image()  # File → New case while it runs
    new_case_line = panel.status.text()
    with qtbot.waitSignal(job.done, timeout=60_000):
        pass
    settle()
    assert panel.status.text() == new_case_line and new_case_line.startswith("A new case")
    assert panel.progress.value() == 0
    assert panel.explain_button.isEnabled() and not panel.cancel_button.isEnabled()
    assert RELEVANCE_LAYER not in session.viewer.layers or not session.viewer.layers[RELEVANCE_LAYER].visible


# -- 3-D is called 3-D --

def test_the_main_view_says_3d_in_3d(session):
    overlay = session.viewer.canvas.overlays["text"]
    assert overlay.text.startswith("axial")
    session.viewer.dims.ndisplay = 3
    assert overlay.text.startswith("3-D") and "axial" not in overlay.text
    session.set_radiological(True)
    assert overlay.text.startswith("3-D")
    session.viewer.dims.ndisplay = 2
    assert overlay.text.startswith("axial") and "radiological" in overlay.text


def test_the_colour_bar_follows_the_layer_controls(session):
    explain_with(session, fake_explanation(skewed_map(session.volume.data.shape)))
    layer = session.viewer.layers[RELEVANCE_LAYER]
    bar = session.explain_panel.color_bar
    layer.colormap = "magma"  # changed in napari's layer controls
    assert np.allclose(bar.colors, layer.colormap.colors)
    layer.contrast_limits = (0.3, 0.9)
    assert (bar.threshold, bar.high) == pytest.approx((0.3, 0.9)) and "threshold 0.30" in bar.caption()


def test_the_colour_bar_shows_the_overlays_colours_for_uneven_control_points(session):
    from napari.utils.colormaps import Colormap

    explain_with(session, fake_explanation(skewed_map(session.volume.data.shape)))
    layer = session.viewer.layers[RELEVANCE_LAYER]
    bar = session.explain_panel.color_bar
    # blue, red, yellow with red at 10 %: spread evenly (red at 50 %) the middle would be red, not orange
    layer.colormap = Colormap([[0, 0, 1, 1], [1, 0, 0, 1], [1, 1, 0, 1]], controls=[0, 0.1, 1], name="uneven")
    layer.contrast_limits, layer.opacity = (0.2, 1.0), 0.6
    for value in (0.3, 0.6, 0.9):
        painted = layer.colormap.map(np.array([(value - 0.2) / 0.8]))[0]  # what napari paints at this value
        alpha = painted[3] * 0.6
        expected = np.round(255 * (painted[:3] * alpha + 0.5 * (1 - alpha)))  # over the bar's grey underlay
        assert np.abs(np.array(bar_colour_at(bar, value)) - expected).max() <= 2, value
    assert bar_colour_at(bar, 0.6)[1] > 100  # orange: red and green mixed, as the overlay shows it
