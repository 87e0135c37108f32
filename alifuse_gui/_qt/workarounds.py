"""Every workaround for another library's behaviour, in one place, each with a version guard and why.

Nothing here runs at import. ``apply_startup_workarounds()`` is called from ``alifuse_gui.app.main()`` (and from
the napari plugin's widgets and the test suite's configuration, the other ways a viewer starts); the napari
accessors below are the only places that read napari's private attributes, so a napari release that moves one
breaks here, with a message naming it, and nowhere else.
"""
from __future__ import annotations

import contextlib
import ctypes
import gc
import sys
from types import ModuleType
from typing import Any, Iterator

# -- None's reference count (Python < 3.12) ----------------------------------------------------------------------

#: napari 0.9 on PySide6 6.12 drops about 3,500 references to ``None`` per canvas it builds and draws (a
#: C-extension refcount bug, measured with ``sys.getrefcount(None)``); at zero the interpreter aborts
#: ("Fatal Python error: none_dealloc"), which a session or test run with some thirty viewers reaches.
NONE_REFCOUNT_BOOST = 1 << 30
_none_kept = False


def keep_none_alive() -> bool:
    """Raise ``None``'s count once, permanently (True if this call did it). From Python 3.12 on ``None`` is
    immortal and nothing is done; a list of references would not do: it is freed at exit, just when the count
    runs out."""
    global _none_kept
    if _none_kept or sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False
    ctypes.c_ssize_t.from_address(id(None)).value += NONE_REFCOUNT_BOOST  # ob_refcnt: every object's first field
    _none_kept = True
    return True


# -- PySide6's per-import source scan -----------------------------------------------------------------------------

#: where PySide6 (6.x) keeps the check (a private module: if it moves, nothing is changed)
_FEATURE_MODULE = "PySide6.support.feature"
_CHECK = "_mod_uses_pyside"


def module_mentions_pyside(module: ModuleType) -> bool:
    """True if ``module``'s source file contains "PySide6" (False without a readable ``.py`` file)."""
    spec = getattr(module, "__spec__", None)
    origin = getattr(spec, "origin", None) or getattr(module, "__file__", None)
    if not isinstance(origin, str) or not origin.endswith(".py"):
        return False  # inspect.getsource fails on these too, and PySide6 then answers False
    try:
        with open(origin, "rb") as f:
            return b"PySide6" in f.read()
    except OSError:
        return False


def lighten_pyside_import_check() -> bool:
    """Once ``PySide6.QtCore`` is imported, PySide6 runs every later import's source through ``inspect.getsource``
    (``linecache``, ``tokenize``) looking for "PySide6" (its opt-in ``snake_case`` feature): 0.2 s of napari's
    and torch's start-up. Swap in a byte search of the file (the same answer for every module with a source file);
    True if it was replaced. Does nothing under PyQt, or where the PySide6 version keeps the check elsewhere."""
    import qtpy

    if qtpy.API_NAME != "PySide6":
        return False
    feature = sys.modules.get(_FEATURE_MODULE)
    current = getattr(feature, _CHECK, None)
    if feature is None or not callable(current) or current is module_mentions_pyside:
        return False
    setattr(feature, _CHECK, module_mentions_pyside)
    return True


# -- the garbage collector during start-up -------------------------------------------------------------------------

@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic collector runs hundreds of times while napari's modules and widgets are made and finds next
    to nothing (0.3-0.4 s of about 3.3 s on 2 cores, CPython 3.11-3.13): pause it; it is back on however the block
    ends. ``main`` turns it on earlier, once the first image is drawn."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def apply_startup_workarounds() -> list[str]:
    """The process-wide workarounds a viewer needs, applied once; returns the names of those applied now."""
    applied = []
    if keep_none_alive():
        applied.append("none-refcount")
    if lighten_pyside_import_check():
        applied.append("pyside-import-check")
    return applied


# -- napari's camera listeners -------------------------------------------------------------------------------------

@contextlib.contextmanager
def unheard_3d_directions(model) -> Iterator[None]:
    """In a 2-D view, change the camera orientation without napari (0.5-0.9) working out its 3-D view and up
    directions: it computes them (importing scipy.spatial, 0.2 s of start-up) only for their listeners, a 2-D
    canvas draws without them and switching to 3-D recomputes them. The listeners are set aside for the change."""
    events = model.scene.camera.events
    if model.dims.ndisplay != 2 or not all(hasattr(events, n) for n in ("view_direction", "up_direction")):
        yield
        return
    saved = [(emitter, list(zip(emitter.callbacks, emitter.callback_refs)))
             for emitter in (events.view_direction, events.up_direction)]
    for emitter, listeners in saved:
        for callback, _ in listeners:
            emitter.disconnect(callback)
    try:
        yield
    finally:
        for emitter, listeners in saved:
            for callback, ref in listeners:  # in their order, under their names (napari orders by them)
                emitter.connect(callback, ref=ref if ref is not None else False)


# -- napari's private attributes (napari 0.5-0.9; no public API gives these) ---------------------------------------

def _private(obj: Any, name: str, what: str) -> Any:
    try:
        return getattr(obj, name)
    except AttributeError:
        import napari

        raise RuntimeError(f"napari {napari.__version__} has no {what} ({type(obj).__name__}.{name}): "
                           "alifuse_gui/_qt/workarounds.py needs updating for it") from None


def qt_window(viewer):
    """The QMainWindow of a napari viewer: docks are split, tabbed and resized on it."""
    return _private(viewer.window, "_qt_window", "Qt main window")


def qt_viewer(viewer):
    """The QtViewer of a napari viewer: its canvas, dims sliders and drop events."""
    return _private(viewer.window, "_qt_viewer", "Qt viewer")


def request_draw(viewer) -> None:
    """Ask the main canvas for a draw (vispy's SceneCanvas.update): ``on_next_draw`` must get a draw to wait for."""
    _private(qt_viewer(viewer).canvas, "_scene_canvas", "vispy scene canvas").update()


def shutdown_slicer(model) -> None:
    """Stop a ViewerModel's layer slicer, as napari.Viewer.close does: no slicing task may outlive its view."""
    _private(model, "_layer_slicer", "layer slicer").shutdown()


def forget_cameras_of_other_modes(viewer) -> None:
    """Drop the 2-D and 3-D cameras napari keeps for switching back (its "separate" camera mode): they were of the
    previous image. napari 0.9 has no public way to clear them (``Camera._pop_cached_state``)."""
    camera = viewer.scene.camera
    pop = _private(camera, "_pop_cached_state", "per-mode camera cache")
    for ndisplay in (2, 3):
        pop(ndisplay)


def qt_viewer_class() -> type:
    """napari's QtViewer widget (napari._qt.qt_viewer: napari's "multiple viewer widget" example uses it too)."""
    from napari._qt.qt_viewer import QtViewer

    return QtViewer


# -- napari's slice totals ----------------------------------------------------------------------------------------

#: napari 0.5-0.9 sizes each slider's total ("159") for its QtDims font, but its style sheet gives the label a font
#: one point larger and a frame, and a framed QLabel indents its text by half an "x": the last digit was cut off
#: (the coronal view's "159" under the dock's splitter). Without the indent the text fits the width napari gives.
SLICE_TOTAL_STYLE = "QLabel#slice_label { qproperty-indent: 0; }"


def show_whole_slice_totals(qt_viewer_widget) -> None:
    """Let every slider total of a napari ``QtViewer`` show all its digits (sliders made later included: a style
    sheet applies to them as they are polished)."""
    dims = _private(qt_viewer_widget, "dims", "dims sliders")
    if SLICE_TOTAL_STYLE not in dims.styleSheet():
        dims.setStyleSheet(dims.styleSheet() + SLICE_TOTAL_STYLE)


# -- the viewer napari hands a plugin's widget ----------------------------------------------------------------------

def unproxied_viewer(viewer):
    """The viewer itself behind the ``PublicOnlyProxy`` napari (0.4.12-0.9) passes to a plugin's widget: the Alifuse
    session is one per window, and napari makes a new proxy for every widget (three docks made three sessions); the
    session also needs the window's Qt parts, which the proxy hides. A plain viewer is returned as it is."""
    return getattr(viewer, "__wrapped__", viewer)
