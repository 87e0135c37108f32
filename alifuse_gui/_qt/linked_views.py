"""Three linked orthogonal views inside napari's own window.

napari draws one canvas. As in napari's "multiple viewer widget" example, extra ``ViewerModel`` s with
their own ``QtViewer`` are added as dock widgets; every layer of the main viewer is mirrored into
them (sharing the data array) and all of them follow one ``dims.point``. A click in any of them moves the
others to the clicked point and marks it with a crosshair (as in ITK-SNAP and 3D Slicer).
"""
from __future__ import annotations

from typing import Any, Callable

from napari.components import ViewerModel
from napari.layers import Layer
from qtpy.QtCore import QEvent, QObject, QSize, Qt, QTimer
from qtpy.QtWidgets import QSizePolicy, QSplitter, QWidget

import numpy as np

from alifuse_gui._qt.workarounds import (forget_cameras_of_other_modes, qt_viewer, qt_viewer_class, request_draw,
                                         show_whole_slice_totals, shutdown_slicer, unheard_3d_directions)
from alifuse_gui.display import AXIS_LABELS, ViewSpec, view_spec
from alifuse_gui.layers import CROSSHAIR_LAYER, MRI_LAYER, show_crosshair

#: Layer properties that follow the main viewer's layer.
_MIRRORED = ("data", "scale", "translate", "contrast_limits_range", "contrast_limits", "colormap", "opacity",
             "visible", "gamma", "blending")

#: a press and release this many screen pixels apart or more is a drag (pan), not a click
_CLICK_SLOP_PX = 3


def set_overlay_text(model, text: str, position: str = "top_left") -> None:
    """The canvas text overlay of a viewer model (orientation labels); a scale bar in millimetres beside it."""
    overlay = model.canvas.overlays["text"]
    overlay.text, overlay.visible, overlay.position, overlay.font_size = text, True, position, 9
    bar = model.canvas.overlays["scale_bar"]
    bar.visible = True  # millimetres: the layers carry units="mm"


class LinkedViews:
    """The main viewer shows the axial view; ``coronal`` and ``sagittal`` are docked beside it.

    With ``build=False`` only the dock is made, a stand-in in place of each view; ``build()`` adds the
    views later. Two more canvases cost over a second to make and to draw, so the app builds them after
    its first image.
    """

    def __init__(self, viewer, radiological: bool = False, dock: bool = True, build: bool = True) -> None:
        self.viewer = viewer
        self.radiological = radiological
        self.models: dict[str, ViewerModel] = {}
        self.qt_viewers: dict[str, Any] = {}  # name -> napari QtViewer
        self._syncing = False
        self._built = self._closed = False
        self._mirrors: dict[int, list[Layer]] = {}
        self._doomed: list[Layer] = []
        self._main_step = self._from_model(viewer)
        #: each view's camera (zoom, centre) as its last fit left it: a canvas resized under a camera the user has
        #: not moved since is fitted again (the first fit comes before the docks have their sizes)
        self._fitted: dict[int, tuple] = {}
        self._main_refit = self._refit_on_resize(viewer)
        # napari's "separate" camera mode: 2-D and 3-D each keep their own camera, and 3-D opens fitted to the image
        # the first time (synced, 3-D kept the 2-D zoom: a zoomed-in slice became a 3-D view of a few voxels, and
        # back in 2-D the slice jumped to the 3-D camera's depth). A change of napari's preference still applies.
        viewer.scene.camera.synced = False
        viewer.canvas.events.size.connect(self._main_refit)
        viewer.mouse_drag_callbacks.append(self._on_press)  # a click moves the other views there
        # the dock is there from the start, holding a stand-in per view, so the window is laid out as it
        # would be with the views and does not move when they arrive
        self.widget = QSplitter(Qt.Orientation.Vertical)
        for _name in ("coronal", "sagittal"):
            self.widget.addWidget(_StandIn())
        self.widget.setMinimumWidth(280)
        self.dock = viewer.window.add_dock_widget(self.widget, name="Coronal / sagittal", area="right") if dock else None
        # the extra QtViewers must go with napari's window, or they outlive it (and napari's leak check fails)
        main_qt = qt_viewer(viewer) if getattr(viewer, "window", None) is not None else None
        self._closer = _OnClose(self.close, parent=main_qt)
        if main_qt is not None:
            main_qt.installEventFilter(self._closer)
            show_whole_slice_totals(main_qt)
        if build:
            self.build()
        else:
            self.set_radiological(radiological)  # the main (axial) view is oriented from the start

    @property
    def built(self) -> bool:
        return self._built

    @property
    def closed(self) -> bool:
        return self._closed

    def build(self) -> None:
        """Make the coronal and sagittal views, mirror the main viewer's layers and link the slice (once)."""
        if self._built or self._closed:
            return
        self._built = True
        for i, name in enumerate(("coronal", "sagittal")):
            model = ViewerModel(title=name)
            self.models[name] = model
            self.qt_viewers[name] = qt_viewer_class()(model)
            show_whole_slice_totals(self.qt_viewers[name])
            model.dims.events.point.connect(self._from_model(model))
            model.canvas.events.size.connect(self._refit_on_resize(model))
            model.mouse_drag_callbacks.append(self._on_press)
            stand_in = self.widget.replaceWidget(i, self.qt_viewers[name])
            stand_in.deleteLater()
        viewer = self.viewer
        for layer in viewer.layers:
            self._mirror(layer, viewer.layers.index(layer))
        viewer.layers.events.inserted.connect(self._on_inserted)
        viewer.layers.events.removed.connect(self._on_removed)
        viewer.layers.events.moved.connect(self._on_moved)
        viewer.dims.events.point.connect(self._main_step)
        self.set_radiological(self.radiological)
        self._main_step()  # built after a case was opened: start at the main viewer's point

    # -- orientation --
    def spec(self, name: str) -> ViewSpec:
        return view_spec(name, self.radiological)

    def set_radiological(self, radiological: bool) -> None:
        """Flip patient left/right on screen in the axial and coronal views."""
        self.radiological = radiological
        for name, model in [("axial", self.viewer), *self.models.items()]:
            spec = self.spec(name)
            if model.dims.ndim == 3:
                model.dims.order = spec.order
            with unheard_3d_directions(model):
                model.scene.camera.orientation2d = spec.orientation2d
            if model is not self.viewer:
                set_overlay_text(model, spec.screen)

    def apply_orders(self) -> None:
        """Re-apply each view's slicing axis (napari resets dims.order when the dimensionality changes)."""
        self.set_radiological(self.radiological)
        for model in self.models.values():
            model.dims.axis_labels = AXIS_LABELS
            if self._fitted.get(id(model)) in (None, self._camera_state(model)):  # never a camera the user moved
                self._fit(model)

    def show_new_image(self) -> None:
        """A new image is on screen: every view at its middle slices, every camera fitted to the whole image."""
        if CROSSHAIR_LAYER in self.viewer.layers and MRI_LAYER in self.viewer.layers:
            # onto the new image, hidden: a layer of the old image's extent would widen the sliders' range
            show_crosshair(self.viewer, np.asarray(self.viewer.layers[MRI_LAYER].extent.world).mean(axis=0))
        self._hide_crosshair()  # it marked a point of the previous image
        forget_cameras_of_other_modes(self.viewer)  # the other mode's camera was the previous image's
        self.apply_orders()
        dims = self.viewer.dims
        dims.current_step = tuple((n - 1) // 2 for n in dims.nsteps)  # the other views follow (see _from_model)
        for model in (self.viewer, *self.models.values()):
            self._fit(model)

    # -- cameras --
    @staticmethod
    def _camera_state(model) -> tuple:
        cam = model.scene.camera
        return float(cam.zoom), tuple(float(c) for c in cam.center), tuple(float(a) for a in cam.angles)

    def _fit(self, model) -> None:
        model.reset_view()
        self._fitted[id(model)] = self._camera_state(model)

    def _refit_on_resize(self, model):
        def refit(_event=None) -> None:
            if len(model.layers) and self._fitted.get(id(model)) == self._camera_state(model):
                self._fit(model)
        return refit

    # -- layers --
    def _on_inserted(self, event) -> None:
        self._mirror(event.value, event.index)

    def _mirror(self, layer: Layer, index: int) -> None:
        data, meta, kind = layer.as_layer_data_tuple()
        copies = []
        for model in self.models.values():
            copy = Layer.create(data, {k: v for k, v in meta.items() if k != "metadata"}, kind)
            model.layers.insert(min(index, len(model.layers)), copy)
            copies.append(copy)
        self._mirrors[id(layer)] = copies
        for prop in _MIRRORED:
            emitter = getattr(layer.events, prop, None)
            if emitter is not None:
                emitter.connect(self._follow(layer, prop))
        self.apply_orders()

    def _follow(self, layer: Layer, prop: str):
        def update(_event=None) -> None:
            for copy in self._mirrors.get(id(layer), []):
                setattr(copy, prop, getattr(layer, prop))
        return update

    def _on_removed(self, event) -> None:
        # Removal is deferred and batched: napari garbage-collects once per removal per canvas (~1 s with
        # torch loaded), and a closing window removes every layer just before it closes these views.
        self._doomed.extend(self._mirrors.pop(id(event.value), []))
        if event.value.name == MRI_LAYER:  # no image, nothing to mark (File → New case)
            self._hide_crosshair()
        QTimer.singleShot(0, self._flush_removed)

    def _flush_removed(self) -> None:
        doomed, self._doomed = self._doomed, []
        for model in self.models.values():
            with model.layers.batched_update():
                for copy in doomed:
                    if copy in model.layers:
                        model.layers.remove(copy)

    def _on_moved(self, event) -> None:
        dest = event.new_index if event.new_index <= event.index else event.new_index + 1
        for model in self.models.values():
            model.layers.move(event.index, dest)

    # -- the shared point --
    def _from_model(self, source):
        def sync(_event=None) -> None:
            if self._syncing:
                return
            self._syncing = True
            try:
                # the point in world mm, not the slider steps: the views' steps differ while a layer is mirrored
                point = source.dims.point
                for other in [self.viewer, *self.models.values()]:
                    if other is not source and other.dims.ndim == len(point):
                        other.dims.point = point
            finally:
                self._syncing = False
        return sync

    # -- the crosshair: click in one view to move the others there --
    def _on_press(self, model, event):
        """napari drag callback: a plain left click (no drag) in a 2-D view goes to the clicked point."""
        if event.button != 1 or tuple(event.modifiers) or model.dims.ndisplay != 2:
            return
        start, where, moved = np.asarray(event.pos, dtype=float), tuple(event.position), False
        yield
        while event.type == "mouse_move":
            moved = moved or bool(np.abs(np.asarray(event.pos, dtype=float) - start).max() >= _CLICK_SLOP_PX)
            yield
        if not moved:
            self.go_to(where, source=model)

    def go_to(self, point, source=None) -> None:
        """Move every view's slices to ``point`` (world mm, as napari's ``event.position``) and mark it there."""
        if MRI_LAYER not in self.viewer.layers:
            return
        model = source if source is not None else self.viewer
        model.dims.point = tuple(float(v) for v in point)  # the other views follow (see _from_model)
        show_crosshair(self.viewer, self.viewer.dims.point)

    def _hide_crosshair(self) -> None:
        if CROSSHAIR_LAYER in self.viewer.layers:
            self.viewer.layers[CROSSHAIR_LAYER].visible = False

    def close(self) -> None:
        """Close the extra views and let go of the main viewer's events."""
        if not self._closed:
            self.viewer.canvas.events.size.disconnect(self._main_refit)
            if self._on_press in self.viewer.mouse_drag_callbacks:
                self.viewer.mouse_drag_callbacks.remove(self._on_press)
        self._closed = True
        if not self._built:
            return
        self._built = False
        events = self.viewer.layers.events
        for emitter, cb in ((events.inserted, self._on_inserted), (events.removed, self._on_removed),
                            (events.moved, self._on_moved), (self.viewer.dims.events.point, self._main_step)):
            emitter.disconnect(cb)
        for model in self.models.values():
            shutdown_slicer(model)
        for qtv in self.qt_viewers.values():
            qtv.close()  # QtViewer deletes itself on close (WA_DeleteOnClose)
        self.qt_viewers.clear()
        self.models.clear()
        self._mirrors.clear()


def on_next_draw(viewer, callback: Callable[[], None]) -> None:
    """Call ``callback`` once, right after the main canvas of ``viewer`` next finishes drawing."""
    emitter = qt_viewer(viewer).canvas.events.draw

    def once(_event=None) -> None:
        emitter.disconnect(once)
        callback()

    emitter.connect(once, position="last")
    request_draw(viewer)  # make sure a draw comes


class _StandIn(QWidget):
    """An empty place for a view not built yet, asking for the room napari's ``QtViewer`` asks for."""

    def __init__(self) -> None:
        super().__init__()
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)  # as QtViewer's

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(800, 604)  # QtViewer: vispy's default 800 x 600 canvas plus its frame


class _OnClose(QObject):
    """Calls ``callback`` once when the watched widget receives its Close event."""

    def __init__(self, callback, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._callback = callback

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.Close and self._callback is not None:
            callback, self._callback = self._callback, None
            callback()
        return False
