"""The Alifuse docks, menus and drag and drop in napari's window, around one session.

The session (``session.py``) owns the case and the model; this module only lays its panels out and connects the
window's entry points (menus, drops) to the session's public API (``session_api.CaseSession``).
"""
from __future__ import annotations

from typing import Any

from qtpy.QtCore import Qt, QTimer

from alifuse_gui._qt.dropping import install_drop_handler
from alifuse_gui._qt.menus import install_menus
from alifuse_gui._qt.session_api import CaseSession
from alifuse_gui._qt.window_fit import fit_window, scrolled
from alifuse_gui._qt.workarounds import qt_window

#: the panels' column and the views' column at start-up (px): the panels' rows readable, the views take the rest
PANEL_WIDTH, VIEWS_WIDTH = 420, 300


class SessionWindow:
    """The docks (``docks``: record, predict, explain), the menus and the drop handler of ``session``'s window."""

    def __init__(self, session: CaseSession) -> None:
        self.session = session
        viewer, views = session.viewer, session.views
        win = viewer.window
        # each panel scrolls in its dock: a long form must not make the window taller than a laptop's screen
        self.docks: dict[str, Any] = {
            "record": win.add_dock_widget(scrolled(session.record_form), name="Record", area="right"),
            "predict": win.add_dock_widget(scrolled(session.predict_panel), name="Predict", area="right"),
            "explain": win.add_dock_widget(scrolled(session.explain_panel), name="Explain", area="right")}
        qwin = qt_window(viewer)
        if views.dock is not None:  # views and panels side by side, not stacked
            qwin.splitDockWidget(views.dock, self.docks["record"], Qt.Orientation.Horizontal)
        # tabbed after the split: splitting a tabbed dock would take it out of its tabs
        qwin.tabifyDockWidget(self.docks["record"], self.docks["predict"])
        qwin.tabifyDockWidget(self.docks["predict"], self.docks["explain"])
        self.menus = install_menus(session)
        fit_window(qwin)
        QTimer.singleShot(0, self._first_layout)  # once the window has laid its docks out (it undoes both)
        self.drop_handler = install_drop_handler(session)

    def _first_layout(self) -> None:
        """The panels' column wide enough for their rows, and the Predict tab in front."""
        views = self.session.views
        if views.closed:
            return
        if views.dock is not None:
            qt_window(self.session.viewer).resizeDocks([views.dock, self.docks["record"]], [VIEWS_WIDTH, PANEL_WIDTH],
                                                       Qt.Orientation.Horizontal)
        self.docks["predict"].raise_()
