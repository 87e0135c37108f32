"""Anatomical variety: each subject's own brain, not the MNI152 template's one folding pattern.

A model trained on the template plus atrophy can learn that one brain. Every subject therefore gets, before
disease and ageing act:
- a smooth random nonlinear warp (a coarse grid of random displacements, interpolated by cubic splines): the
  shape of gyri, sulci and structures moves by a few millimetres;
- its own ventricle size (healthy adults differ by a factor of two and more) and sulcal width (a little grey
  matter turned to CSF everywhere);
- its own head shape (a per-axis scale on top of the acquisition's overall head size).

None of it depends on the class, so only the planted disease separates the classes.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import ndimage as ndi

#: The warp's control grid spans this MNI box (mm), with this many control points per axis.
_WARP_BOX_LO = np.array([-100.0, -135.0, -80.0], np.float32)
_WARP_BOX_HI = np.array([100.0, 100.0, 110.0], np.float32)
_WARP_POINTS = 7


@dataclass(frozen=True)
class Anatomy:
    """One subject's healthy anatomy relative to the template. Lengths in mm, scales as factors."""

    warp_mm: float                          # sd of the control-point displacements
    warp_seed: int                          # draws the displacements
    ventricle_scale: float                  # radial scale of the ventricles: < 0 larger, > 0 smaller
    sulcal_loss: float                      # fraction of cortical grey matter that is CSF in this healthy brain
    shape: tuple[float, float, float]       # head scale per MNI axis (x, y, z)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


#: The template itself: what subjects rendered before this module (and the tests' fixed anatomy) use.
TEMPLATE_ANATOMY = Anatomy(warp_mm=0.0, warp_seed=0, ventricle_scale=0.0, sulcal_loss=0.0, shape=(1.0, 1.0, 1.0))


def sample_anatomy(rng: np.random.Generator) -> Anatomy:
    """Draw a healthy anatomy. Ventricle sizes overlap the disease's enlargement (-0.40 x severity), as in life."""
    return Anatomy(
        warp_mm=round(float(rng.uniform(2.0, 4.0)), 3),
        warp_seed=int(rng.integers(2**31 - 1)),
        ventricle_scale=round(float(rng.uniform(-0.15, 0.12)), 4),
        sulcal_loss=round(float(rng.uniform(0.0, 0.08)), 4),
        shape=tuple(round(float(s), 4) for s in rng.uniform(0.94, 1.06, 3)),
    )


def _control_grid(anatomy: Anatomy) -> np.ndarray:
    """(3, P, P, P) displacements in mm, spline-prefiltered, zero at the grid's border (the warp fades out)."""
    rng = np.random.default_rng(anatomy.warp_seed)
    grid = rng.normal(0.0, anatomy.warp_mm, (3,) + (_WARP_POINTS,) * 3).astype(np.float32)
    grid[:, [0, -1]] = 0.0
    grid[:, :, [0, -1]] = 0.0
    grid[:, :, :, [0, -1]] = 0.0
    return np.stack([ndi.spline_filter(g, order=3) for g in grid])


def warp(pts: np.ndarray, anatomy: Anatomy) -> np.ndarray:
    """Subject points (3, N) in MNI mm -> template points (3, N): head shape, then the smooth random warp."""
    pts = np.asarray(pts, np.float32)
    centre = np.array([0.0, -17.0, 8.0], np.float32)[:, None]
    out = centre + (pts - centre) / np.asarray(anatomy.shape, np.float32)[:, None]
    if anatomy.warp_mm <= 0:
        return out
    grid = _control_grid(anatomy)
    frac = (out - _WARP_BOX_LO[:, None]) / (_WARP_BOX_HI - _WARP_BOX_LO)[:, None] * (_WARP_POINTS - 1)
    disp = np.stack([ndi.map_coordinates(g, frac, order=3, mode="constant", cval=0.0, prefilter=False)
                     for g in grid])
    return out + disp.astype(np.float32)
