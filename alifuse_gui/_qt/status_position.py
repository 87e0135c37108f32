"""napari's status bar, with the cursor in scanner millimetres and the file's voxel instead of napari's coordinates."""
from __future__ import annotations

from typing import Callable

from engine.imageio import Volume
from alifuse_gui.cursor_position import position_text


class ScannerStatus:
    """Rewrites the coordinates of each status napari computes for the cursor, keeping the layer and its value; the
    cursor over a linked view (``follow``) is shown in the same status bar, as the main view's is.

    Keep a reference: napari holds its callbacks weakly."""

    def __init__(self, viewer, volume: Callable[[], Volume | None]) -> None:
        self.viewer = viewer
        self._volume = volume
        self._writing = False
        self._followed: set[int] = set()
        viewer.events.status.connect(self._rewrite)

    def follow(self, model) -> None:
        """Show the cursor over ``model`` (a linked view's ViewerModel, the same world in mm) in the viewer's status
        bar: napari's status bar hears only its own viewer, so the coronal and sagittal views said nothing."""
        if id(model) in self._followed:
            return
        self._followed.add(id(model))
        model.events.status.connect(lambda event: self._from_view(model, event.value))

    def _rewrite(self, event) -> None:
        if self._writing:
            return
        status = self._in_scanner_words(event.value, self.viewer.cursor.position)
        if status is not None:
            self._show(status)

    def _from_view(self, model, status) -> None:
        """A linked view's status: its cursor position in scanner words; its entering/leaving ('Ready', '') as is."""
        if isinstance(status, dict):
            status = self._in_scanner_words(status, model.cursor.position)
        if status is not None:
            self._show(status)

    def _in_scanner_words(self, status, position) -> dict | None:
        """``status`` with its coordinates as scanner mm and file voxel of ``position``; None where there is nothing
        to rewrite (a message such as 'Ready' or a note of the session, or no image)."""
        volume = self._volume()
        if volume is None or not isinstance(status, dict) or "coordinates" not in status:
            return None
        where = position_text(position, volume.original_affine, volume.original_shape)
        value = status.get("value", "")
        return {**status, "coordinates": f"{where}: {value}" if value else where}

    def _show(self, status) -> None:
        self._writing = True
        try:  # the status bar hears this one after napari's (it connected first): it shows this one
            self.viewer.status = status
        finally:
            self._writing = False
