"""napari's status bar, with the cursor in scanner millimetres and the file's voxel instead of napari's coordinates."""
from __future__ import annotations

from typing import Callable

from engine.imageio import Volume
from alifuse_gui.cursor_position import position_text


class ScannerStatus:
    """Rewrites the coordinates of each status napari computes for the cursor, keeping the layer and its value.

    Keep a reference: napari holds its callbacks weakly."""

    def __init__(self, viewer, volume: Callable[[], Volume | None]) -> None:
        self.viewer = viewer
        self._volume = volume
        self._writing = False
        viewer.events.status.connect(self._rewrite)

    def _rewrite(self, event) -> None:
        status, volume = event.value, self._volume()
        if self._writing or volume is None or not isinstance(status, dict) or "coordinates" not in status:
            return  # a message ('Ready', a note of the session), or no image: left as it is
        where = position_text(self.viewer.cursor.position, volume.original_affine, volume.original_shape)
        value = status.get("value", "")
        self._writing = True
        try:  # the status bar hears this one after napari's (it connected first): it shows this one
            self.viewer.status = {**status, "coordinates": f"{where}: {value}" if value else where}
        finally:
            self._writing = False
