"""Planted atrophy: a smooth backward deformation plus grey-matter loss, split into disease and ageing.

Coordinates are MNI mm of the subject's own (deformed) brain, arrays of shape (3, N). The backward map
gives, for each point of the subject, the template point whose tissue it shows: pulling samples toward
a ventricle's centre enlarges the ventricle; pushing them away from a hippocampus shrinks it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trainer.synth.anatomy import HIPPOCAMPI, VENTRICLES, Template


@dataclass(frozen=True)
class Blob:
    """An anisotropic Gaussian weight centred at ``centre`` (MNI mm) with widths ``sigma`` (mm)."""

    centre: tuple[float, float, float]
    sigma: tuple[float, float, float]

    def weight(self, pts: np.ndarray) -> np.ndarray:
        """(3, N) points -> (N,) weight in 0..1."""
        c = np.asarray(self.centre, np.float32)[:, None]
        s = np.asarray(self.sigma, np.float32)[:, None]
        return np.exp(-0.5 * np.sum(((pts - c) / s) ** 2, axis=0))


# Radial scale of each structure per unit of severity (disease) and per unit of ageing.
# Ventricles: negative = samples pulled inward = enlargement; the centre expands by 1/(1-a) per axis.
VENTRICLE_BLOBS = tuple(Blob(c, (8.0, 12.0, 9.0)) for c in VENTRICLES)
HIPPOCAMPUS_BLOBS = tuple(Blob(c, (6.0, 13.0, 7.0)) for c in HIPPOCAMPI)
VENTRICLE_DISEASE, VENTRICLE_AGEING = -0.40, -0.15
HIPPOCAMPUS_DISEASE, HIPPOCAMPUS_AGEING = 0.22, 0.05

#: The ground-truth mask holds voxels whose volume disease changed by >= 10 % (|Jacobian - 1|) ...
MASK_VOLUME_CHANGE = 0.10
#: ... or whose grey matter disease thinned by >= 10 % of the voxel.
MASK_GM_LOSS = 0.10

# Where AD thins the cortex most (temporal, parietal, posterior cingulate/precuneus).
_CORTICAL_PATTERN = (
    Blob((-52.0, -20.0, -18.0), (18.0, 25.0, 16.0)), Blob((52.0, -20.0, -18.0), (18.0, 25.0, 16.0)),
    Blob((-38.0, -62.0, 42.0), (18.0, 20.0, 18.0)), Blob((38.0, -62.0, 42.0), (18.0, 20.0, 18.0)),
    Blob((0.0, -58.0, 32.0), (12.0, 16.0, 14.0)),
)
_MTL = tuple(Blob(c, (9.0, 16.0, 9.0)) for c in HIPPOCAMPI) + tuple(
    Blob((x, -6.0, -30.0), (7.0, 8.0, 7.0)) for x in (-24.0, 24.0))  # entorhinal cortex / amygdala
_CORTEX_DISEASE_LOSS, _MTL_DISEASE_LOSS, _CORTEX_AGEING_LOSS = 0.35, 0.45, 0.12


def ageing_factor(age: float) -> float:
    """0 at 55 years, 1 at 85, linear (the cohort's oldest reach about 1.3)."""
    return float(np.clip((age - 55.0) / 30.0, 0.0, 1.5))


def backward_map(pts: np.ndarray, severity: float, age: float, ventricle_scale: float = 0.0
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Subject points (3, N) -> (template points (3, N), Jacobian determinant of the disease part (N,)).

    Each structure's field is radial about its centre, x -> c + (x - c)(1 + a w(x)) with Gaussian w;
    |a| < 1 keeps it one-to-one. Its Jacobian determinant is (1 + a w)^2 (1 + a w (1 - q)) with
    q = sum(((x - c) / sigma)^2); the blobs barely overlap, so the total is close to their product.
    Determinant < 1: the subject's tissue there is larger than the template's (ventricles), > 1: smaller.
    ``ventricle_scale`` is the healthy subject's own ventricle size (trainer.synth.variety), outside the Jacobian.
    """
    af = ageing_factor(age)
    pts = np.asarray(pts, np.float32)
    shift = np.zeros_like(pts)
    jac = np.ones(pts.shape[1], np.float32)
    for blobs, a_dis, a_own in ((VENTRICLE_BLOBS, VENTRICLE_DISEASE, VENTRICLE_AGEING * af + ventricle_scale),
                                (HIPPOCAMPUS_BLOBS, HIPPOCAMPUS_DISEASE, HIPPOCAMPUS_AGEING * af)):
        for blob in blobs:
            rel = pts - np.asarray(blob.centre, np.float32)[:, None]
            q = np.sum((rel / np.asarray(blob.sigma, np.float32)[:, None]) ** 2, axis=0)
            w = np.exp(-0.5 * q)
            aw = np.float32(a_dis * severity) * w
            jac *= (1 + aw) ** 2 * (1 + aw * (1 - q))
            shift += rel * (aw + np.float32(a_own) * w)
    return pts + shift, jac


def _pattern(blobs: tuple[Blob, ...], pts: np.ndarray) -> np.ndarray:
    return np.clip(sum(b.weight(pts) for b in blobs), 0.0, 1.0)


def template_points(template: Template) -> np.ndarray:
    """MNI mm of every template voxel, (3, X, Y, Z) float32."""
    ijk = np.indices(template.t1.shape, dtype=np.float32).reshape(3, -1)
    mni = template.affine[:3, :3].astype(np.float32) @ ijk + template.affine[:3, 3:].astype(np.float32)
    return mni.reshape((3,) + template.t1.shape)


def gm_loss_maps(template: Template) -> tuple[np.ndarray, np.ndarray]:
    """Grey-matter fraction lost at severity 1 and at ageing factor 1, each (X, Y, Z) float32.

    Disease: 0.35 of the cortex where AD strikes (0.35 x 0.2 elsewhere) and 0.45 of the grey matter of
    the medial temporal lobe; ageing: 0.12 of the cortex everywhere.
    """
    pts = template_points(template).reshape(3, -1)
    cortical = (0.2 + 0.8 * _pattern(_CORTICAL_PATTERN, pts)).reshape(template.t1.shape)
    mtl = _pattern(_MTL, pts).reshape(template.t1.shape)
    disease = _CORTEX_DISEASE_LOSS * cortical * template.cortex + _MTL_DISEASE_LOSS * mtl * template.gm
    ageing = _CORTEX_AGEING_LOSS * template.cortex
    return np.clip(disease, 0, 1).astype(np.float32), ageing.astype(np.float32)


def atrophied_t1(base: np.ndarray, template: Template, loss_disease: np.ndarray, loss_ageing: np.ndarray,
                 severity: float, age: float, sulcal_loss: float = 0.0) -> np.ndarray:
    """Template-space T1 (X, Y, Z) where lost grey matter turns into CSF (its T1 moves to CSF's).

    ``sulcal_loss``: the healthy subject's own wider sulci, a fraction of the cortex (trainer.synth.variety)."""
    lost = severity * loss_disease + ageing_factor(age) * loss_ageing
    if sulcal_loss:
        lost = lost + np.float32(sulcal_loss) * template.cortex
    lost = np.minimum(lost, template.gm)
    return base - lost * np.float32(template.i_gm - template.i_csf)
