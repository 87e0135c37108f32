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
    image does in the Alifuse window: the reader's plain layer gives way to the case's. The last one already open
    when the first dock is made is taken at once; later ones as napari adds them."""
    layers = session.viewer.layers

    def adopt(layer) -> None:
        # gone: removed by the user before the event loop came back; unmarked: already tried once
        if layer not in layers or not layer.metadata.pop(READER_MARK, False):
            return
        layers.remove(layer)
        if not session.open_image(layer.metadata["path"]):  # it said why; the user keeps the plain layer
            layers.append(layer)

    def inserted(event) -> None:
        layer = event.value
        if layer.metadata.get(READER_MARK):
            # not inside napari's insertion: the layer list is being changed while this runs
            QTimer.singleShot(0, lambda: adopt(layer))

    layers.events.inserted.connect(inserted)
    waiting = [layer for layer in layers if layer.metadata.get(READER_MARK)]
    if waiting:
        QTimer.singleShot(0, lambda: adopt(waiting[-1]))


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
