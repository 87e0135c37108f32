"""The Alifuse docks of napari's Plugins menu (npe2 widgets, see napari.yaml): each panel of the viewer's session in a
scroll area, as the Alifuse window docks it.

napari makes a widget contribution by calling it with the viewer when its ``__init__`` takes ``napari_viewer``; plain
napari stacks the docks in one column, so unscrolled their rows ran below a 1366 x 768 screen."""
from __future__ import annotations

from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QScrollArea

from alifuse_gui._qt.window_fit import scrolled
from alifuse_gui.plugin import READER_MARK


def _session(napari_viewer):
    """The viewer's Alifuse session; plain napari did not start through ``alifuse_gui.app.main``, so its workarounds
    are applied here, when the first dock is made (once: the calls after it do nothing)."""
    from alifuse_gui._qt.session import session_for
    from alifuse_gui._qt.workarounds import apply_startup_workarounds, unproxied_viewer

    apply_startup_workarounds()
    session = session_for(unproxied_viewer(napari_viewer))
    if not getattr(session, "adopts_reader_layers", False):
        session.adopts_reader_layers = True
        _adopt_reader_layers(session)
    return session


def _adopt_reader_layers(session) -> None:
    """An MRI opened with the plugin's reader (File > Open, a drop) becomes the docks' case, as File > Open MRI
    image does in the Alifuse window: the reader's plain layer gives way to the case's. Reader layers that arrive
    together (several files opened at once, or those already open when the first dock is made) are one patient:
    the last becomes the case, once; the others are not taken (and lose the mark)."""
    layers = session.viewer.layers
    pending: list = []

    def adopt_last() -> None:
        # gone: removed by the user before the event loop came back; unmarked: already tried once
        batch = [layer for layer in pending if layer in layers and layer.metadata.get(READER_MARK)]
        pending.clear()
        for layer in batch:  # unmarked, so that a copy of one (Duplicate Layer copies metadata) is not taken later
            layer.metadata.pop(READER_MARK, None)
        if not batch:
            return
        layer = batch[-1]
        layers.remove(layer)
        if not session.open_image(layer.metadata["path"]):  # it said why; the user keeps the plain layer
            layers.append(layer)

    def schedule(layer) -> None:
        if not pending:  # not inside napari's insertion: the layer list is being changed while this runs
            QTimer.singleShot(0, adopt_last)
        pending.append(layer)

    def inserted(event) -> None:
        if event.value.metadata.get(READER_MARK):
            schedule(event.value)

    layers.events.inserted.connect(inserted)
    for layer in list(layers):
        if layer.metadata.get(READER_MARK):
            schedule(layer)


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
