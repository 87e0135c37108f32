"""Image pieces of the PDF report: the heatmap on the viewer's (canonical RAS) grid, slice choice, the slices as shown.

Qt-free; used by :mod:`alifuse_gui.report_pages`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.colors import LinearSegmentedColormap
from scipy import ndimage

from alifuse_gui.display import DisplayGrid, display_grid, original_to_canonical
from alifuse_gui.screen_slices import VIEWS, screen_point, screen_slice, view_axes
from engine.imageio import Volume


def heatmap_on_canonical(volume: Volume, image_original: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """A map on the ORIGINAL file grid -> (X, Y, Z) on ``volume.data``'s canonical RAS grid, in [0, 1].

    The viewer's own reorientation (:func:`alifuse_gui.display.original_to_canonical`) maps it exactly. A map of
    another shape (it should not happen) is resampled to fit and the returned notes say so.
    """
    notes: list[str] = []
    m = np.asarray(image_original, dtype=np.float32)
    if m.ndim == 3 and tuple(m.shape) == tuple(volume.original_shape):
        m = original_to_canonical(m, volume.original_affine, volume.data.shape)
    if m.shape != volume.data.shape:
        notes.append(f"the relevance map ({'x'.join(map(str, m.shape))}) did not match the image grid and was "
                     f"resampled onto it")
        m = ndimage.zoom(m, np.divide(volume.data.shape, m.shape), order=1)
        m = m[tuple(slice(0, n) for n in volume.data.shape)]
    m = np.nan_to_num(m, nan=0.0, posinf=0.0, neginf=0.0)
    return np.clip(m, 0.0, 1.0).astype(np.float32), notes


def slice_point(data: np.ndarray, heat: np.ndarray | None) -> tuple[tuple[int, int, int], str]:
    """Voxel (i, j, k) of ``data``'s grid the three slices go through, and why: the relevance maximum, else the
    centre."""
    if heat is not None and float(heat.max(initial=0.0)) > 0:
        ijk = np.unravel_index(int(np.argmax(heat)), heat.shape)
        return (int(ijk[0]), int(ijk[1]), int(ijk[2])), "through the relevance maximum"
    return tuple(int(n) // 2 for n in data.shape), "through the centre of the volume"  # type: ignore


def world_mm(affine: np.ndarray, ijk: tuple[int, int, int]) -> tuple[float, float, float]:
    x, y, z = (np.asarray(affine) @ np.array([*ijk, 1.0]))[:3]
    return float(x), float(y), float(z)


@dataclass(frozen=True)
class ShownVolume:
    """The image (and map) on the grid the viewer draws: the scanner's axes (``display.display_grid``)."""

    data: np.ndarray
    heat: np.ndarray | None
    grid: DisplayGrid


def as_shown(volume: Volume, heat: np.ndarray | None) -> ShownVolume:
    """``volume.data`` and ``heat`` (canonical grid) resampled as the viewer resamples them (an oblique scan only)."""
    grid = display_grid(volume.affine, volume.data.shape)
    shown = None if heat is None else np.clip(grid.to_display(heat), 0.0, 1.0)
    return ShownVolume(grid.to_display(volume.data), shown, grid)


#: White -> blue, for words by relevance (the paper colours text relevance blue).
TEXT_BLUE = LinearSegmentedColormap.from_list("relevance_blue", ["#ffffff", "#1f4fd8"])


@dataclass(frozen=True)
class SliceView:
    """One orthogonal slice as the viewer's screen shows it: row 0 at the top, column 0 at the left."""

    name: str
    image: np.ndarray              # (rows, cols)
    heat: np.ndarray | None        # (rows, cols) or None
    size_mm: tuple[float, float]   # (width, height) of the picture
    sides: dict[str, str]          # the anatomical letter at the 'left', 'right', 'top' and 'bottom' edge
    cursor: tuple[float, float]    # (x right, y down) mm of the slice point's voxel centre in the picture


def orthogonal_slices(shown: ShownVolume, ijk: tuple[int, int, int], radiological: bool = False) -> list[SliceView]:
    """Sagittal, coronal and axial slices through ``ijk`` of the shown volume, oriented as the viewer orients them
    in its convention (:mod:`alifuse_gui.screen_slices`, from the viewer's own view specs)."""
    spacing, heat = shown.grid.scale, shown.heat
    shape = tuple(int(n) for n in shown.data.shape)
    views = []
    for name in VIEWS:
        axes = view_axes(name, radiological)
        index = ijk[axes.sliced]
        image = screen_slice(shown.data, axes, index)
        cut = None if heat is None else screen_slice(heat, axes, index)
        sh, sv = spacing[axes.horizontal], spacing[axes.vertical]
        row, col = screen_point(axes, shape, ijk)  # type: ignore[arg-type]
        views.append(SliceView(name.capitalize(), image, cut, (image.shape[1] * sh, image.shape[0] * sv),
                               axes.sides, ((col + 0.5) * sh, (row + 0.5) * sv)))
    return views
