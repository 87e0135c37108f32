"""Small things a user saw in the viewer: words cut off in the Explain panel, field bars without units, colour-bar
labels on top of each other, a slider total under the splitter, a status bar that only the axial view fed, docks that
did not scroll on a laptop screen."""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from qtpy.QtWidgets import QApplication

from alifuse_gui.record_model import RecordModel
from tests.gui.test_explain_display import explain_with, skewed_map
from tests.gui.test_predict_panel import write_case

pytestmark = pytest.mark.usefixtures("collect_qt_garbage")

DEMO_RECORD = Path(__file__).resolve().parents[2] / "resources" / "demo" / "demo_case.json"


def demo_record() -> dict:
    return json.loads(DEMO_RECORD.read_text())


def settle(rounds: int = 8) -> None:
    for _ in range(rounds):
        QApplication.processEvents()


def demo_explanation(shape, record: dict):
    """An explanation whose words are the whole text the model reads for ``record`` (as the demo case has them)."""
    model = RecordModel()
    model.set_dict(record)
    words = " ".join(s for _, s in model.preview()).split()
    relevance = list(np.linspace(0.0, 1.0, len(words)))
    fields = {"age": 0.02, "sex": 0.01, "education_years": 0.01, "mmse": 0.55, "cdr": 0.25, "cdr_sb": 0.01,
              "logical_memory_delayed": 0.01, "summary": 0.14}
    return SimpleNamespace(method="integrated_gradients", image_original=skewed_map(shape), words=words,
                           word_relevance=relevance, word_field=[""] * len(words), field_relevance=fields,
                           reliance=None)


@pytest.fixture
def shown_explained(open_case, qtbot):
    """A shown window with the demo record explained and the Explain tab in front."""
    session = open_case(write_case, demo_record(), show=True)
    explain_with(session, demo_explanation(session.volume.data.shape, demo_record()))
    session.docks["explain"].raise_()
    settle()
    return session


# -- 1. the words the model read are all visible --

def test_the_explain_panel_shows_every_line_of_the_words_without_scrolling(shown_explained):
    words = shown_explained.explain_panel.words
    assert len(words.words) > 40  # the demo's text: five lines or more in the panel
    assert words.isVisible()
    assert words.verticalScrollBar().maximum() == 0, "the words box scrolls: its last lines are hidden"
    document_height = words.document().size().height()
    assert document_height <= words.viewport().height(), (document_height, words.viewport().height())
    # the box does not take the dock for itself: no taller than its words need
    assert words.viewport().height() - document_height < 30


# -- 2. the field chart names the fields as the record form does, units included --

def test_the_field_chart_labels_are_the_record_forms_labels_with_their_units(shown_explained):
    from qtpy.QtWidgets import QLabel

    form_labels = {label.text() for label in shown_explained.record_form.findChildren(QLabel)}
    chart = shown_explained.explain_panel.chart
    chart.figure.canvas.draw()
    shown = [t.get_text().replace("\n", " ") for t in chart.axes.get_yticklabels()]
    assert len(shown) == 8
    assert set(shown) <= form_labels, set(shown) - form_labels
    assert {"Age (years)", "Education (years)", "MMSE (points)"} <= set(shown)
    renderer = chart.figure.canvas.get_renderer()
    for text in chart.axes.get_yticklabels():  # wrapped, the long ones still fit the chart
        box = text.get_window_extent(renderer)
        assert box.x0 >= 0 and box.y0 >= 0 and box.y1 <= chart.figure.bbox.height, text.get_text()


# -- 3. the colour bar's labels never print over each other --

def drawn_labels(bar, monkeypatch) -> list[tuple[object, str]]:
    """(box, text) of every text the colour bar paints, as the painter lays it out."""
    from qtpy.QtGui import QPainter

    from alifuse_gui._qt import color_bar

    drawn: list[tuple[object, str]] = []

    class Recording(QPainter):
        def drawText(self, rect, flags, text):  # noqa: N802 - Qt override
            drawn.append((self.boundingRect(rect, flags, text), text))
            super().drawText(rect, flags, text)

    monkeypatch.setattr(color_bar, "QPainter", Recording)
    bar.grab()  # paints it
    return drawn


@pytest.mark.parametrize("width", [120, 123, 160, 250])
@pytest.mark.parametrize("threshold", [0.02, 0.35, 0.61, 0.97])
def test_the_colour_bar_labels_do_not_overlap_on_a_narrow_bar(qtbot, monkeypatch, width, threshold):
    from alifuse_gui._qt.color_bar import ColorBar

    bar = ColorBar()
    qtbot.addWidget(bar)
    bar.set_style(np.array([[0, 0, 1, 0], [1, 0, 0, 1]], dtype=float), threshold, 0.6)
    bar.resize(width, bar.sizeHint().height())
    labels = sorted(drawn_labels(bar, monkeypatch), key=lambda label: label[0].left())  # left to right
    texts = [t for _, t in labels]
    assert any(f"{threshold:.2f}" in t for t in texts), texts  # the threshold's value is always there
    boxes = [box for box, _ in labels]
    for a, b in zip(boxes, boxes[1:]):
        assert b.left() - a.right() >= 3, (width, threshold, texts)  # a space between two labels
    assert boxes[0].left() >= 0 and boxes[-1].right() < width, (width, texts)  # none cut at the edges
    if width >= 250:
        assert texts[0] == "0" and texts[-1].startswith("1")  # a bar as wide as the dock's keeps its ends


# -- 4. every view's slider shows its whole total --

DEMO_IMAGE = DEMO_RECORD.with_name("demo_case.nii.gz")


def ink_columns(widget) -> int:
    """How many pixel columns of ``widget``, painted alone, hold light text (the dark theme's text on dark)."""
    image = widget.grab().toImage()
    return sum(any(image.pixelColor(x, y).lightness() > 150 for y in range(image.height()))
               for x in range(image.width()))


def test_the_slider_totals_show_every_digit_in_all_three_views(open_case, qtbot):
    import shutil

    session = open_case(lambda path: shutil.copy(DEMO_IMAGE, path), show=True)
    session.finish_startup()
    settle()
    viewers = {"axial": session.viewer.window._qt_viewer, **session.views.qt_viewers}
    totals = {}
    for name, qt_viewer in viewers.items():
        for slider in qt_viewer.dims.slider_widgets:
            if not slider.isVisible():
                continue
            label = slider.totslice_label
            totals[name] = label.text()
            shown = ink_columns(label)
            width = label.width()
            label.setFixedWidth(width + 40)  # the same text with room to spare: all of it
            whole = ink_columns(label)
            label.setFixedWidth(width)
            assert shown == whole, f"{name}: the total {label.text()!r} is cut ({shown} of {whole} columns)"
    assert totals == {"axial": "147", "coronal": "159", "sagittal": "151"}  # the demo case's three totals


# -- 5. the cursor over the coronal and sagittal views gives the status bar its position too --

def status_bar_position(session) -> list[str]:
    from qtpy.QtWidgets import QLabel

    bar = session.viewer.window._qt_window.statusBar()
    return [w.text() for w in bar.findChildren(QLabel) if "mm (RAS)" in w.text()]


@pytest.mark.parametrize("name", ["coronal", "sagittal"])
def test_the_mouse_over_a_linked_view_gives_the_status_bar_its_scanner_position(open_case, qtbot, name):
    from qtpy.QtCore import QEvent

    from alifuse_gui.cursor_position import file_voxel
    from alifuse_gui.layers import MRI_LAYER
    from tests.gui.test_linked_views import NO_BUTTON, send_mouse
    from tests.gui.test_linked_views import settle as settle_views

    session = open_case(write_case, show=True)
    session.finish_startup()
    settle_views(qtbot)
    model = session.views.models[name]
    native = session.views.qt_viewers[name].canvas.native
    before = status_bar_position(session)
    centre = (native.width() / 2 + 3, native.height() / 2 - 2)
    QApplication.sendEvent(native, QEvent(QEvent.Type.Enter))  # the mouse comes onto the view ...
    send_mouse(native, "move", centre, NO_BUTTON)  # ... and moves on it
    settle_views(qtbot, 60)
    shown = status_bar_position(session)
    assert shown and shown != before, f"moving over the {name} view left the status bar at {before}"
    point = model.cursor.position  # where napari put the cursor in this view (world mm = scanner mm)
    x, y, z = point[:3]
    volume = session.volume
    i, j, k = file_voxel(point, volume.original_affine, volume.original_shape)
    assert shown[0].startswith(f"{x:.1f}, {y:.1f}, {z:.1f} mm (RAS) · voxel {i}, {j}, {k}"), shown
    value = session.viewer.layers[MRI_LAYER].get_value(point, world=True)
    assert float(shown[0].rsplit(": ", 1)[1]) == pytest.approx(float(value), abs=1)  # the MRI's value there, kept


# -- 6. the plugin's docks (plain napari's Plugins menu) scroll on a laptop screen --

def test_the_plugins_docks_scroll_so_a_laptop_screen_reaches_every_row(make_napari_viewer):
    from qtpy.QtCore import QRect
    from qtpy.QtWidgets import QComboBox, QPushButton, QScrollArea, QStyle, QStyleOptionComboBox

    from alifuse_gui._qt.session import session_for
    from alifuse_gui._qt.window_fit import fit_window
    from tests.gui.test_window_fit import unclipped

    viewer = make_napari_viewer(show=True)
    for name in ("Record", "Predict", "Explain"):  # as the Plugins menu opens them: one column on the right
        viewer.window.add_plugin_dock_widget("alifuse-viewer", name)
    session = session_for(viewer)  # the three docks share the window's one session
    window = viewer.window._qt_window
    laptop = QRect(0, 0, 1366, 768)
    fit_window(window, width=1366, height=768, available=laptop)
    settle()
    assert laptop.contains(window.frameGeometry()), (window.frameGeometry(), window.minimumSizeHint())
    clear = next(b for b in session.record_form.findChildren(QPushButton) if b.text() == "Clear")
    last_rows = {"Record": clear, "Predict": session.predict_panel.predict_button,
                 "Explain": session.explain_panel.words}
    for name, widget in last_rows.items():
        area = widget.parentWidget()
        while area is not None and not isinstance(area, QScrollArea):
            area = area.parentWidget()
        assert area is not None, f"{name}: its dock does not scroll"
        area.ensureWidgetVisible(widget)  # what the user's scrolling does
        settle()
        assert unclipped(widget, window), f"{name}: {widget} cannot be brought into view"
    # the Record dock's choice boxes show their whole value ("unknown" was cut to "unknc")
    for combo in session.record_form.findChildren(QComboBox):
        opt = QStyleOptionComboBox()
        combo.initStyleOption(opt)
        text_room = combo.style().subControlRect(QStyle.ComplexControl.CC_ComboBox, opt,
                                                 QStyle.SubControl.SC_ComboBoxEditField, combo).width()
        need = combo.fontMetrics().horizontalAdvance(combo.currentText())
        assert text_room >= need, f"{combo.objectName()}: {text_room} px for {combo.currentText()!r} ({need} px)"
