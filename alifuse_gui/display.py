"""How a canonical (RAS+) volume is placed and windowed on screen; no Qt.

napari knows scale and translate, not anatomy. A canonical volume's voxel axes point (up to the
scanner's obliquity) along +x (Right), +y (Anterior), +z (Superior), so its world placement is a
per-axis scale and a translation; the three orthogonal views choose which axis to slice and which
way each screen axis points.

An oblique scan is resampled for display onto a grid whose axes are the scanner's (``DisplayGrid``):
napari's 2-D views slice along world axes but drop a layer's out-of-plane rotation (its own warning says
so), so an oblique ``affine=`` would put a voxel 15 mm off its scanner position 80 mm from the centre.
On the resampled grid every view is a true scanner plane, and the cursor reads scanner millimetres.
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


@dataclass(frozen=True)
class DisplayGrid:
    """The grid a canonical volume is shown on: world = scale * index + translate (mm, scanner axes).

    For axis-aligned data it is the volume's own grid (no copy); for oblique data a grid with the same voxel
    sizes that holds the whole volume, onto which ``to_display`` resamples an array of the volume's grid.
    """

    source_affine: np.ndarray          # canonical voxel -> world (mm)
    source_shape: tuple[int, int, int]
    shape: tuple[int, int, int]
    scale: tuple[float, float, float]
    translate: tuple[float, float, float]
    resampled: bool

    @property
    def affine(self) -> np.ndarray:
        """Display voxel -> world (mm): what napari's ``affine=`` of the shown layers is."""
        a = np.diag([*self.scale, 1.0])
        a[:3, 3] = self.translate
        return a

    def to_display(self, array: np.ndarray, order: int = 1) -> np.ndarray:
        """``array`` (on the volume's canonical grid) on this grid; the same array when nothing is resampled."""
        if tuple(array.shape) != self.source_shape:
            raise ValueError(f"shape {tuple(array.shape)} is not the image's voxel grid {self.source_shape}")
        if not self.resampled:
            return array
        from scipy.ndimage import affine_transform  # here: only oblique scans need it

        # display index -> world -> source index, one affine: source = inv(A) @ (affine @ index - t)
        to_source = np.linalg.inv(self.source_affine) @ self.affine
        return affine_transform(np.asarray(array, dtype=np.float32), to_source[:3, :3], offset=to_source[:3, 3],
                                output_shape=self.shape, order=order, mode="constant", cval=0.0, prefilter=False)


def display_grid(affine: np.ndarray, shape: tuple[int, ...], tolerance: float = 0.25) -> DisplayGrid:
    """The display grid of a canonical volume: its own when, across the whole volume, its voxel axes stray from the
    scanner's by under ``tolerance`` of a voxel; otherwise a scanner-aligned grid of the same voxel sizes."""
    a = np.asarray(affine, dtype=float)
    lin = a[:3, :3]
    shape3 = tuple(int(n) for n in shape[:3])
    spacing = np.linalg.norm(lin, axis=0)
    stray = np.abs(lin - np.diag(np.diag(lin))) @ (np.asarray(shape3) - 1)  # off-axis drift from corner to corner
    aligned = bool(np.all(stray < tolerance * spacing.min()) and np.all(np.diag(lin) > 0))
    if aligned:
        place = placement(a)
        return DisplayGrid(a, shape3, shape3, place.scale, place.translate, resampled=False)
    corners = np.array(np.meshgrid(*[[0, n - 1] for n in shape3], indexing="ij")).reshape(3, -1)
    world = lin @ corners + a[:3, 3:4]
    lo, hi = world.min(axis=1), world.max(axis=1)
    out_shape = tuple(int(n) for n in np.floor((hi - lo) / spacing + 1e-6).astype(int) + 1)
    return DisplayGrid(a, shape3, out_shape, tuple(float(v) for v in spacing), tuple(float(v) for v in lo),
                       resampled=True)


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
