"""MRI -> model input (pad to a cube, resize to S^3, intensities to [0, 1]) and the way back.

The model grid is an S x S x S cube of isotropic voxels, axis-aligned with the canonical (RAS+)
voxel axes, centred on the volume and just large enough to hold its longest side in millimetres.
For isotropic input this is exactly the paper's "zero-pad to a cube, resize to 128^3" (trilinear,
``align_corners=False`` geometry); for anisotropic voxels it keeps anatomy undistorted.

Every resampling goes through affines (model voxel -> world -> other voxel grid), so a point keeps
its world coordinate in both directions by construction, whatever the file's orientation.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from engine.config import PREPROCESSING_VERSION
from engine.errors import AlifuseInputError
from engine.imageio import Volume, check_voxel_sizes, load_volume

__all__ = [
    "GridMapping",
    "Volume",
    "load_volume",
    "model_grid_affine",
    "preprocess",
    "to_model_grid",
    "to_original_grid",
]

#: Robust intensity window: percentiles of the nonzero voxels.
LOW_PERCENTILE = 0.5
HIGH_PERCENTILE = 99.5
#: Anti-aliasing before downsampling: applied when some axis needs sigma above this; kernels cut at 3 sigma.
ANTIALIAS_MIN_SIGMA = 0.05
ANTIALIAS_TRUNCATE = 3.0


@dataclass
class GridMapping:
    """What links the model grid (S, S, S) to the canonical and the original voxel grids."""

    image_size: int                         # S
    voxel_size_mm: float                    # isotropic model voxel edge
    canonical_shape: tuple[int, int, int]
    canonical_affine: np.ndarray            # (4, 4) voxel -> world of the canonical array
    original_shape: tuple[int, int, int]
    original_affine: np.ndarray             # (4, 4) voxel -> world of the file as stored
    intensity_low: float                    # raw value mapped to 0
    intensity_high: float                   # raw value mapped to 1
    version: str = PREPROCESSING_VERSION

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types only (lists, floats, ints, strings)."""
        return {
            "image_size": int(self.image_size),
            "voxel_size_mm": float(self.voxel_size_mm),
            "canonical_shape": [int(n) for n in self.canonical_shape],
            "canonical_affine": np.asarray(self.canonical_affine, dtype=float).tolist(),
            "original_shape": [int(n) for n in self.original_shape],
            "original_affine": np.asarray(self.original_affine, dtype=float).tolist(),
            "intensity_low": float(self.intensity_low),
            "intensity_high": float(self.intensity_high),
            "version": str(self.version),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "GridMapping":
        """Inverse of ``to_dict``; a missing or malformed field is an ``AlifuseInputError``."""
        try:
            m = cls(
                image_size=int(d["image_size"]),
                voxel_size_mm=float(d["voxel_size_mm"]),
                canonical_shape=_shape3(d["canonical_shape"]),
                canonical_affine=_affine(d["canonical_affine"]),
                original_shape=_shape3(d["original_shape"]),
                original_affine=_affine(d["original_affine"]),
                intensity_low=float(d["intensity_low"]),
                intensity_high=float(d["intensity_high"]),
                version=str(d.get("version", PREPROCESSING_VERSION)),
            )
        except KeyError as exc:
            raise AlifuseInputError(f"grid mapping: field {exc.args[0]!r} is missing") from exc
        except (TypeError, ValueError) as exc:
            raise AlifuseInputError(f"grid mapping: malformed field ({exc})") from exc
        if m.image_size < 1 or not m.voxel_size_mm > 0:
            raise AlifuseInputError("grid mapping: 'image_size' and 'voxel_size_mm' must be positive")
        return m


def _shape3(v: Any) -> tuple[int, int, int]:
    t = tuple(int(n) for n in v)
    if len(t) != 3:
        raise ValueError(f"shape {list(v)} is not 3-D")
    return t  # type: ignore[return-value]


def _affine(v: Any) -> np.ndarray:
    a = np.asarray(v, dtype=np.float64)
    if a.shape != (4, 4):
        raise ValueError(f"affine of shape {a.shape} is not 4x4")
    return a


def _voxel_sizes(affine: np.ndarray) -> np.ndarray:
    return np.linalg.norm(np.asarray(affine)[:3, :3], axis=0)


def model_grid_affine(mapping: GridMapping) -> np.ndarray:
    """(4, 4) voxel -> world (mm) affine of the model grid (S, S, S)."""
    s = _voxel_sizes(mapping.canonical_affine)
    n = np.asarray(mapping.canonical_shape, dtype=np.float64)
    step = mapping.voxel_size_mm / s                  # canonical voxels per model voxel, per axis
    model_to_canonical = np.eye(4)
    model_to_canonical[:3, :3] = np.diag(step)
    # Centre of the model cube sits on the centre of the canonical array (a centred pad).
    model_to_canonical[:3, 3] = (n - 1) / 2 - (mapping.image_size - 1) / 2 * step
    return np.asarray(mapping.canonical_affine, dtype=np.float64) @ model_to_canonical


def _intensity_window(data: np.ndarray) -> tuple[float, float]:
    """(low, high) raw values for [0, 1]: robust percentiles of the nonzero voxels."""
    nonzero = data[data != 0]
    if nonzero.size == 0:
        return float(data.min()), float(data.max())
    lo, hi = np.percentile(nonzero, [LOW_PERCENTILE, HIGH_PERCENTILE])
    if hi <= lo:  # few distinct values (e.g. a binary image): fall back to the full range
        lo, hi = min(float(data.min()), 0.0), float(data.max())
    if hi <= lo:
        hi = lo + 1.0
    return float(lo), float(hi)


def preprocess(vol: Volume, image_size: int) -> tuple[np.ndarray, GridMapping]:
    """Volume -> ((S, S, S) float32 in [0, 1] on the model grid, its ``GridMapping``)."""
    if int(image_size) < 1:
        raise AlifuseInputError(f"image_size: {image_size} must be a positive integer")
    data = np.asarray(vol.data, dtype=np.float32)
    lo, hi = _intensity_window(data)
    scaled = np.clip((data - np.float32(lo)) / np.float32(hi - lo), 0.0, 1.0).astype(np.float32)
    mapping = grid_mapping(vol, image_size, lo, hi)
    out = _resample_onto_model(scaled, mapping.canonical_affine, mapping, order=1, antialias=True)
    return np.clip(out, 0.0, 1.0, out=out), mapping


def grid_mapping(vol: Volume, image_size: int, low: float, high: float) -> GridMapping:
    """The model grid of ``vol`` at ``image_size``: the smallest centred cube that holds its longest side.
    A volume with voxels no scanner makes is refused here, before any kernel is sized from them."""
    check_voxel_sizes(vol.path, _voxel_sizes(vol.affine))
    extent_mm = np.asarray(vol.data.shape) * _voxel_sizes(vol.affine)
    return GridMapping(
        image_size=int(image_size),
        voxel_size_mm=float(extent_mm.max()) / int(image_size),
        canonical_shape=tuple(int(n) for n in vol.data.shape),  # type: ignore[arg-type]
        canonical_affine=np.asarray(vol.affine, dtype=np.float64).copy(),
        original_shape=tuple(int(n) for n in vol.original_shape),  # type: ignore[arg-type]
        original_affine=np.asarray(vol.original_affine, dtype=np.float64).copy(),
        intensity_low=low,
        intensity_high=high,
    )


def antialias_sigma(src_affine: np.ndarray, mapping: GridMapping) -> np.ndarray:
    """Per-axis Gaussian sigma in source voxels: (f - 1) / 2, f = model voxel / source voxel (0 when upsampling)."""
    factor = mapping.voxel_size_mm / _voxel_sizes(src_affine)
    return np.maximum(0.0, (factor - 1.0) / 2.0)


def model_to_source(src_affine: np.ndarray, mapping: GridMapping) -> np.ndarray:
    """(4, 4): model voxel index -> source voxel index (through world millimetres)."""
    return np.linalg.inv(src_affine) @ model_grid_affine(mapping)


def original_to_model(mapping: GridMapping) -> np.ndarray:
    """(4, 4): original file's voxel index -> model voxel index (through world millimetres)."""
    return np.linalg.inv(model_grid_affine(mapping)) @ mapping.original_affine


def to_model_grid(orig: np.ndarray, mapping: GridMapping, order: int = 1) -> np.ndarray:
    """(original X, Y, Z) array aligned with ``original_affine`` -> (S, S, S) float32 on the model grid.

    Outside the image is 0. ``order=0`` (labels) samples nearest without smoothing; higher orders
    low-pass first so that downsampling does not alias.
    """
    orig = np.asarray(orig)
    if tuple(orig.shape) != tuple(mapping.original_shape):
        raise ValueError(f"array of shape {orig.shape} does not match the original grid {mapping.original_shape}")
    return _resample_onto_model(orig.astype(np.float32), mapping.original_affine, mapping, order, antialias=order > 0)


def to_original_grid(model_map: np.ndarray, mapping: GridMapping, order: int = 1) -> np.ndarray:
    """(S, S, S) map on the model grid -> float32 array of the original file's shape and voxel order.

    The result lines up with ``mapping.original_affine``: save it with that affine to overlay it on
    the image as stored.
    """
    model_map = np.asarray(model_map, dtype=np.float32)
    S = mapping.image_size
    if model_map.shape != (S, S, S):
        raise ValueError(f"model map of shape {model_map.shape} is not ({S}, {S}, {S})")
    t = original_to_model(mapping)
    # Every original voxel centre lies inside the cube, at most half a model voxel beyond the
    # outermost model voxel centre: 'nearest' holds the edge value there instead of fading to 0.
    out = ndimage.affine_transform(
        model_map, _matrix(t), offset=t[:3, 3], output_shape=tuple(mapping.original_shape),
        order=order, mode="nearest", prefilter=order > 1,
    )
    return out.astype(np.float32, copy=False)


def _resample_onto_model(
    src: np.ndarray, src_affine: np.ndarray, mapping: GridMapping, order: int, antialias: bool
) -> np.ndarray:
    """Sample ``src`` (voxel grid ``src_affine``) at the model voxel centres -> (S, S, S) float32.

    Zero outside ``src`` (the zero pad). With ``antialias`` a Gaussian of sigma (f - 1) / 2 source
    voxels per axis, f = model voxel / source voxel, stands in for the area a model voxel covers.
    """
    S = mapping.image_size
    if antialias:
        sigma = antialias_sigma(src_affine, mapping)
        if np.any(sigma > ANTIALIAS_MIN_SIGMA):
            src = ndimage.gaussian_filter(src, sigma=sigma, mode="constant", cval=0.0, truncate=ANTIALIAS_TRUNCATE)
    t = model_to_source(src_affine, mapping)
    out = ndimage.affine_transform(
        src, _matrix(t), offset=t[:3, 3], output_shape=(S, S, S),
        order=order, mode="grid-constant", cval=0.0, prefilter=order > 1,
    )
    return out.astype(np.float32, copy=False)


def _matrix(t: np.ndarray) -> np.ndarray:
    """The 3x3 part, as a diagonal vector when it is one (scipy's faster zoom-like path)."""
    lin = t[:3, :3]
    off = lin - np.diag(np.diag(lin))
    return np.diag(lin).copy() if np.all(np.abs(off) < 1e-12 * max(1.0, np.abs(lin).max())) else lin
