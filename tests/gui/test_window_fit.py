"""Everything essential fits a laptop screen (issue 13, item 6): at 1366 x 768 and at 1600 x 1000 the window lies
within the screen's available area, and the Explain sliders, the words, the panels' tabs, the slice slider and the
status bar are drawn inside it, unclipped."""
from __future__ import annotations

import gc

import pytest
from qtpy.QtCore import QPoint, QRect
from qtpy.QtWidgets import QApplication, QTabBar, QWidget

from tests.gui.test_predict_panel import RECORD, write_case


@pytest.fixture(autouse=True)
def _collect_qt_garbage():
    yield
    gc.collect()


def settle(rounds: int = 10) -> None:
    for _ in range(rounds):
        QApplication.processEvents()


def unclipped(widget: QWidget, window: QWidget) -> bool:
    """``widget`` is shown and its whole rectangle lies inside each of its parents up to ``window`` (a scroll area's
    viewport, a dock, the window itself): nothing of it is cut off."""
    if not widget.isVisible() or widget.width() <= 0 or widget.height() <= 0:
        return False
    parent = widget.parentWidget()
    while parent is not None:
        if not parent.rect().contains(QRect(widget.mapTo(parent, QPoint(0, 0)), widget.size())):
            return False
        if parent is window:
            return True
        parent = parent.parentWidget()
    return False


def panel_tabs(window) -> QTabBar:
    """The tab bar that switches between the Record, Predict and Explain docks."""
    for bar in window.findChildren(QTabBar):
        names = [bar.tabText(i) for i in range(bar.count())]
        if "Predict" in names and "Explain" in names:
            return bar
    raise AssertionError("no tab bar with Predict and Explain")


@pytest.mark.parametrize("screen", [(1366, 768), (1600, 1000)])
def test_the_window_and_its_essentials_fit_the_screen(make_napari_viewer, tiny_checkpoint, tmp_path, screen):
    from alifuse_gui._qt.session import AlifuseSession
    from alifuse_gui._qt.window_fit import fit_window

    s = AlifuseSession(make_napari_viewer(show=True), tiny_checkpoint)
    assert s.open_image(write_case(tmp_path / "case.nii.gz"))
    s.record_form.set_record(RECORD)
    s.predict_panel.run_now()
    s.explain_panel.run_now("relevance")  # the Explain dock at its fullest: status, reliance, words, chart
    window = s.viewer.window._qt_window
    area = QRect(0, 0, *screen)
    fit_window(window, available=area)  # what the session does on the screen it opens on
    settle()
    tabs = panel_tabs(window)
    assert tabs.tabText(tabs.currentIndex()) == "Predict"  # in front at the start
    assert s.docks["predict"].width() >= 380, s.docks["predict"].width()  # the panels' rows have room
    s.docks["explain"].raise_()
    settle()
    assert area.contains(window.frameGeometry()), (window.frameGeometry(), window.minimumSizeHint())
    sliders = [w for w in s.viewer.window._qt_viewer.dims.slider_widgets if w.isVisible()]
    assert sliders, "no slice slider shown"
    panel = s.explain_panel
    essentials = {"opacity slider": panel.opacity, "threshold slider": panel.threshold, "words": panel.words,
                  "panel tabs": tabs, "slice slider": sliders[0], "status bar": window.statusBar()}
    cut = [name for name, widget in essentials.items() if not unclipped(widget, window)]
    assert cut == []
    s.docks["predict"].raise_()
    settle()
    assert unclipped(s.predict_panel.predict_button, window) and unclipped(s.predict_panel.current.label, window)
