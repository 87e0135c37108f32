"""Brain anatomy of the cohort: the MNI152 (ICBM 2009c) T1 template and tissue maps shipped in nilearn.

All arrays share the template grid, shape (197, 233, 189) at 1 mm, and its affine (voxel -> MNI mm).
They load from files inside the nilearn package: nothing is downloaded.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import ndimage as ndi

#: Landmark centres in MNI mm, (left, right) pairs; the disease deformation is centred on them.
HIPPOCAMPI: tuple[tuple[float, float, float], ...] = ((-26.0, -22.0, -14.0), (26.0, -22.0, -14.0))
#: Points on the lateral ventricles' centre line (frontal horn, body, atrium), left then right. The
#: ventricles curve (x 5 -> 22 mm, z 10 -> 23 -> 15 mm from front to back), so one centre would miss them.
VENTRICLES: tuple[tuple[float, float, float], ...] = tuple(
    (side * x, y, z) for side in (-1.0, 1.0) for x, y, z in ((6.0, 8.0, 13.0), (11.0, -16.0, 23.0), (20.0, -37.0, 16.0)))

# Thickness of the synthetic extra-cerebral layers, mm outward from the brain mask's edge.
_CSF_RIM_MM, _SKULL_MM, _SCALP_MM = 2.0, 6.0, 6.0


@dataclass(frozen=True)
class Template:
    """Template-space maps, each float32 of shape (X, Y, Z) on ``affine``'s grid."""

    t1: np.ndarray        # skull-stripped T1, about 0..1
    head: np.ndarray      # the same with a CSF rim, dark skull and bright scalp around the brain
    gm: np.ndarray        # grey-matter probability 0..1
    cortex: np.ndarray    # grey matter near the brain's surface (thins with age/disease); deep grey low
    brain: np.ndarray     # brain-mask probability 0..1
    affine: np.ndarray    # (4, 4) voxel index -> MNI mm
    i_gm: float           # mean T1 of pure grey matter
    i_wm: float           # mean T1 of pure white matter
    i_csf: float          # mean T1 of pure CSF

    @property
    def voxel_mm(self) -> float:
        return float(abs(self.affine[0, 0]))


def _load(fn) -> tuple[np.ndarray, np.ndarray]:
    img = fn(resolution=1)
    return np.asarray(img.get_fdata(dtype=np.float32)), img.affine.copy()


@lru_cache(maxsize=1)
def load_template() -> Template:
    """Load and derive the template maps once per process (about 2 s, 0.2 GB)."""
    from nilearn import datasets  # heavy import, only when a cohort is rendered

    t1, affine = _load(datasets.load_mni152_template)
    gm, _ = _load(datasets.load_mni152_gm_template)
    wm, _ = _load(datasets.load_mni152_wm_template)
    brain, _ = _load(datasets.load_mni152_brain_mask)
    brain = ndi.gaussian_filter(brain, 1.0)  # soften the binary mask's staircase edge
    csf = np.clip(brain - gm - wm, 0.0, 1.0)

    def pure_mean(p: np.ndarray) -> float:
        sel = p > 0.9
        return float(t1[sel].mean())

    i_gm, i_wm, i_csf = pure_mean(gm), pure_mean(wm), pure_mean(csf)
    vox = float(abs(affine[0, 0]))
    inside = brain > 0.5
    # Depth below the brain's surface: cortex is shallow, caudate/thalamus are 30+ mm deep.
    depth = ndi.distance_transform_edt(inside) * vox
    cortex = (gm / (1.0 + np.exp((depth - 14.0) / 3.0))).astype(np.float32)
    head = _add_head_shell(t1, inside, vox, i_csf)
    return Template(t1=t1, head=head, gm=gm, cortex=cortex, brain=brain.astype(np.float32),
                    affine=affine, i_gm=i_gm, i_wm=i_wm, i_csf=i_csf)


def _add_head_shell(t1: np.ndarray, inside: np.ndarray, vox: float, i_csf: float) -> np.ndarray:
    """T1 with smooth layers outside the brain: CSF rim, cortical bone (dark), scalp fat (bright)."""
    out = ndi.distance_transform_edt(~inside) * vox  # mm outside the brain mask

    def ramp(d: float) -> np.ndarray:
        """Soft step from 0 to 1 at ``d`` mm outside the brain; no staircase at the layer edges."""
        return 1.0 / (1.0 + np.exp(-(out - d) / 0.8))

    rim_end = _CSF_RIM_MM
    skull_end = rim_end + _SKULL_MM
    scalp_end = skull_end + _SCALP_MM
    csf_rim = (1 - ramp(rim_end)) * 0.8 * i_csf
    bone = (ramp(rim_end) - ramp(skull_end)) * 0.06
    scalp = (ramp(skull_end) - ramp(scalp_end)) * 0.75
    shell = np.where(inside, 0.0, csf_rim + bone + scalp).astype(np.float32)
    return np.maximum(t1, shell)
