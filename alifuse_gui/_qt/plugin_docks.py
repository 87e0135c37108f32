"""The Alifuse docks of napari's Plugins menu (npe2 widgets, see napari.yaml): each panel of the viewer's session in a
scroll area, as the Alifuse window docks it.

napari makes a widget contribution by calling it with the viewer when its ``__init__`` takes ``napari_viewer``; plain
napari stacks the docks in one column, so unscrolled their rows ran below a 1366 x 768 screen."""
from __future__ import annotations

from qtpy.QtWidgets import QScrollArea

from alifuse_gui._qt.window_fit import scrolled


def _session(napari_viewer):
    """The viewer's Alifuse session; plain napari did not start through ``alifuse_gui.app.main``, so its workarounds
    are applied here, when the first dock is made (once: the calls after it do nothing)."""
    from alifuse_gui._qt.session import session_for
    from alifuse_gui._qt.workarounds import apply_startup_workarounds, unproxied_viewer

    apply_startup_workarounds()
    return session_for(unproxied_viewer(napari_viewer))


class _PanelDock(QScrollArea):
    """One panel of the viewer's session, scrolled; subclasses name the session's attribute that holds it."""

    panel_name = ""

    def __init__(self, napari_viewer) -> None:
        super().__init__()
        scrolled(getattr(_session(napari_viewer), self.panel_name), area=self)


class RecordDock(_PanelDock):
    panel_name = "record_form"


class PredictDock(_PanelDock):
    panel_name = "predict_panel"


class ExplainDock(_PanelDock):
    panel_name = "explain_panel"
