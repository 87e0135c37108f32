"""How a canonical (RAS+) volume is placed and windowed on screen; no Qt.

napari knows scale and translate, not anatomy. A canonical volume's voxel axes point (up to the
scanner's obliquity) along +x (Right), +y (Anterior), +z (Superior), so its world placement is a
per-axis scale and a translation; the three orthogonal views choose which axis to slice and which
way each screen axis points.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from nibabel.orientations import apply_orientation, io_orientation

from engine.errors import AlifuseInputError

#: Names of the canonical axes (x, y, z) as napari's dims sliders show them.
AXIS_LABELS: tuple[str, str, str] = ("R-L", "A-P", "S-I")


@dataclass(frozen=True)
class Placement:
    """World placement of a canonical (X, Y, Z) array: world = scale * index + translate (mm)."""

    scale: tuple[float, float, float]
    translate: tuple[float, float, float]
    obliquity_deg: float  # largest angle between a voxel axis and its world axis; 0 for axis-aligned data


def placement(affine: np.ndarray) -> Placement:
    """Scale/translate of a canonical affine (4, 4); exact for axis-aligned data, obliquity reported."""
    a = np.asarray(affine, dtype=float)
    lin = a[:3, :3]
    scale = np.linalg.norm(lin, axis=0)
    cosines = np.clip(np.abs(np.diag(lin)) / scale, 0.0, 1.0)
    return Placement(tuple(float(s) for s in scale), tuple(float(t) for t in a[:3, 3]),
                     float(np.degrees(np.arccos(cosines.min()))))


def percentile_limits(data: np.ndarray, low: float = 1.0, high: float = 99.0) -> tuple[float, float]:
    """Contrast window from percentiles of the nonzero voxels (MRI background would drag min/max)."""
    values = data[data != 0] if np.count_nonzero(data) > 0.01 * data.size else data.ravel()
    lo, hi = (float(v) for v in np.percentile(values, [low, high]))
    if hi <= lo:  # nearly constant image: fall back to the full range so the window is not empty
        lo, hi = float(data.min()), float(data.max())
        if hi <= lo:
            hi = lo + 1.0
    return lo, hi


@dataclass(frozen=True)
class ViewSpec:
    """One orthogonal view: napari dims.order (sliced axis first) and camera.orientation2d."""

    name: str
    order: tuple[int, int, int]
    orientation2d: tuple[str, str]   # (vertical, horizontal) direction of increasing index
    screen: str                      # which anatomical direction is where, for the text overlay


def view_spec(name: str, radiological: bool = False) -> ViewSpec:
    """axial (slices z, x across, y up), coronal (slices y, x across, z up), sagittal (slices x, y across, z up).

    Neurological convention shows the patient's right on the screen's right; radiological flips it.
    Sagittal views put anterior on the left, as radiology viewers do.
    """
    right = "left" if radiological else "right"  # where +x (patient's Right) goes on screen
    lr = "R ◂▸ L" if radiological else "L ◂▸ R"
    if name == "axial":
        return ViewSpec(name, (2, 1, 0), ("up", right), f"axial  {lr}  A top")
    if name == "coronal":
        return ViewSpec(name, (1, 2, 0), ("up", right), f"coronal  {lr}  S top")
    if name == "sagittal":
        return ViewSpec(name, (0, 2, 1), ("up", "left"), "sagittal  A ◂▸ P  S top")
    raise ValueError(f"unknown view {name!r}: use axial, coronal or sagittal")


def convention_text(radiological: bool, short: bool = False) -> str:
    if short:
        return "radiological" if radiological else "neurological"
    return "radiological (patient's right on screen left)" if radiological else \
        "neurological (patient's right on screen right)"


def original_to_canonical(array: np.ndarray, original_affine: np.ndarray,
                          canonical_shape: tuple[int, int, int]) -> np.ndarray:
    """A map on the file's voxel grid (shape of the file) -> the canonical (RAS+) grid of the MRI layer.

    The same voxel reordering ``engine.imageio`` applies to the image, so map and image share one affine.
    """
    ornt = io_orientation(np.asarray(original_affine, dtype=float))
    out = np.ascontiguousarray(apply_orientation(np.asarray(array), ornt))
    if out.shape != tuple(canonical_shape):
        raise AlifuseInputError(f"relevance map: shape {tuple(array.shape)} does not match the image's voxel grid "
                                f"(canonical {tuple(canonical_shape)})")
    return out
