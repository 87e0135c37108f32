"""Image pieces of the PDF report: the heatmap on the viewer's (canonical RAS) grid, slice choice, display windows.

Qt-free; used by :mod:`alifuse_gui.report_pages`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.colors import LinearSegmentedColormap, ListedColormap
from nibabel.orientations import apply_orientation, io_orientation
from scipy import ndimage

from engine.imageio import Volume


def heatmap_on_canonical(volume: Volume, image_original: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """A map on the ORIGINAL file grid -> (X, Y, Z) on ``volume.data``'s canonical RAS grid, in [0, 1].

    The canonical grid is the original one with axes permuted/flipped (``engine.imageio``), so the same
    reorientation maps it exactly. A map of another shape (it should not happen) is resampled to fit and
    the returned notes say so.
    """
    notes: list[str] = []
    m = np.asarray(image_original, dtype=np.float32)
    if m.ndim == 3 and tuple(m.shape) == tuple(volume.original_shape):
        m = apply_orientation(m, io_orientation(volume.original_affine))
    if m.shape != volume.data.shape:
        notes.append(f"the relevance map ({'x'.join(map(str, m.shape))}) did not match the image grid and was "
                     f"resampled onto it")
        m = ndimage.zoom(m, np.divide(volume.data.shape, m.shape), order=1)
        m = m[tuple(slice(0, n) for n in volume.data.shape)]
    m = np.nan_to_num(m, nan=0.0, posinf=0.0, neginf=0.0)
    return np.clip(m, 0.0, 1.0).astype(np.float32), notes


def slice_point(volume: Volume, heat: np.ndarray | None) -> tuple[tuple[int, int, int], str]:
    """Voxel (i, j, k) the three slices go through, and why: the relevance maximum, else the centre."""
    if heat is not None and float(heat.max(initial=0.0)) > 0:
        ijk = np.unravel_index(int(np.argmax(heat)), heat.shape)
        return (int(ijk[0]), int(ijk[1]), int(ijk[2])), "through the relevance maximum"
    return tuple(int(n) // 2 for n in volume.data.shape), "through the centre of the volume"  # type: ignore


def world_mm(volume: Volume, ijk: tuple[int, int, int]) -> tuple[float, float, float]:
    x, y, z = (volume.affine @ np.array([*ijk, 1.0]))[:3]
    return float(x), float(y), float(z)


def intensity_window(data: np.ndarray, low: float = 1.0, high: float = 99.5) -> tuple[float, float]:
    """Percentiles of the nonzero voxels (min/max over-saturates MRI); falls back to the full range."""
    v = data[data != 0]
    if v.size == 0:
        v = data.ravel()
    lo, hi = (float(x) for x in np.percentile(v, [low, high]))
    return (lo, hi) if hi > lo else (float(data.min()), float(data.max()) or 1.0)


def jet_transparent(threshold: float = 0.15, max_alpha: float = 0.75) -> ListedColormap:
    """jet whose low end is transparent: irrelevant voxels leave the anatomy untinted."""
    from matplotlib import colormaps

    colors = colormaps["jet"](np.linspace(0, 1, 256))
    ramp = np.clip((np.linspace(0, 1, 256) - threshold) / (0.5 - threshold), 0.0, 1.0)
    colors[:, 3] = ramp * max_alpha
    return ListedColormap(colors, name="jet_transparent_low")


#: White -> blue, for words by relevance (the paper colours text relevance blue).
TEXT_BLUE = LinearSegmentedColormap.from_list("relevance_blue", ["#ffffff", "#1f4fd8"])


@dataclass(frozen=True)
class SliceView:
    """One orthogonal slice ready for ``imshow(origin='lower')``: rows go up, columns go right."""

    name: str
    image: np.ndarray              # (rows, cols)
    heat: np.ndarray | None        # (rows, cols) or None
    extent: tuple[float, float, float, float]   # mm, for equal-aspect display
    left: str
    right: str
    bottom: str
    top: str
    cursor: tuple[float, float]    # mm position of the slice point in this view


def orthogonal_slices(volume: Volume, heat: np.ndarray | None, ijk: tuple[int, int, int]) -> list[SliceView]:
    """Sagittal, coronal and axial slices through ``ijk`` of the canonical (RAS) volume.

    Neurological convention: the patient's left is on the image's left in coronal and axial views.
    """
    d = volume.data
    sx, sy, sz = (float(n) for n in np.linalg.norm(volume.affine[:3, :3], axis=0))
    nx, ny, nz = d.shape
    i, j, k = ijk

    def cut(a: np.ndarray | None, index: tuple) -> np.ndarray | None:
        return None if a is None else np.ascontiguousarray(a[index].T)

    return [
        SliceView("Sagittal", cut(d, (i, slice(None), slice(None))), cut(heat, (i, slice(None), slice(None))),
                  (0, ny * sy, 0, nz * sz), "P", "A", "I", "S", ((j + 0.5) * sy, (k + 0.5) * sz)),
        SliceView("Coronal", cut(d, (slice(None), j, slice(None))), cut(heat, (slice(None), j, slice(None))),
                  (0, nx * sx, 0, nz * sz), "L", "R", "I", "S", ((i + 0.5) * sx, (k + 0.5) * sz)),
        SliceView("Axial", cut(d, (slice(None), slice(None), k)), cut(heat, (slice(None), slice(None), k)),
                  (0, nx * sx, 0, ny * sy), "L", "R", "P", "A", ((i + 0.5) * sx, (j + 0.5) * sy)),
    ]
