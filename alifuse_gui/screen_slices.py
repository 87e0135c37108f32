"""One orthogonal view as the screen shows it, worked out from :func:`alifuse_gui.display.view_spec` (no Qt).

The viewer hands a :class:`~alifuse_gui.display.ViewSpec` to napari (``dims.order``, ``camera.orientation2d``);
the report cuts its slices here from the same spec, so paper and screen cannot put anatomy on different sides.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alifuse_gui.display import ViewSpec, view_spec

#: (low end, high end) of the canonical RAS+ voxel axes x, y, z.
AXIS_ENDS: tuple[tuple[str, str], ...] = (("L", "R"), ("P", "A"), ("I", "S"))
VIEWS: tuple[str, str, str] = ("sagittal", "coronal", "axial")


@dataclass(frozen=True)
class ScreenAxes:
    """Which canonical axis a view slices, which runs down the screen's rows and which across its columns."""

    sliced: int
    vertical: int
    horizontal: int
    up: bool      # increasing index goes up the screen
    right: bool   # increasing index goes right

    @property
    def sides(self) -> dict[str, str]:
        """The anatomical letter at each edge of the screen: {'left', 'right', 'top', 'bottom'}."""
        lo_h, hi_h = AXIS_ENDS[self.horizontal]
        lo_v, hi_v = AXIS_ENDS[self.vertical]
        return {"left": lo_h if self.right else hi_h, "right": hi_h if self.right else lo_h,
                "top": hi_v if self.up else lo_v, "bottom": lo_v if self.up else hi_v}


def screen_axes(spec: ViewSpec) -> ScreenAxes:
    """napari shows the last two axes of ``dims.order``: the first of them down the rows, the second across."""
    sliced, vertical, horizontal = spec.order
    v, h = spec.orientation2d
    return ScreenAxes(sliced, vertical, horizontal, up=(v == "up"), right=(h == "right"))


def screen_slice(array: np.ndarray, axes: ScreenAxes, index: int) -> np.ndarray:
    """The 2-D slice ``index`` of a canonical (X, Y, Z) array, row 0 at the screen's top, column 0 at its left."""
    cut = np.take(np.asarray(array), index, axis=axes.sliced)
    rest = [a for a in range(3) if a != axes.sliced]          # the remaining axes, in order, after the cut
    cut = np.transpose(cut, (rest.index(axes.vertical), rest.index(axes.horizontal)))
    if axes.up:
        cut = cut[::-1, :]
    if not axes.right:
        cut = cut[:, ::-1]
    return np.ascontiguousarray(cut)


def screen_point(axes: ScreenAxes, shape: tuple[int, int, int], ijk: tuple[int, int, int]) -> tuple[int, int]:
    """(row, column) of voxel ``ijk`` in :func:`screen_slice`'s picture."""
    row, col = ijk[axes.vertical], ijk[axes.horizontal]
    if axes.up:
        row = shape[axes.vertical] - 1 - row
    if not axes.right:
        col = shape[axes.horizontal] - 1 - col
    return int(row), int(col)


def view_axes(name: str, radiological: bool) -> ScreenAxes:
    """The screen axes of view ``name`` (axial, coronal, sagittal) in the viewer's convention."""
    return screen_axes(view_spec(name, radiological))
