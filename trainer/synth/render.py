"""Render one subject's scan and ground-truth atrophy mask on the acquisition's voxel grid."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import ndimage as ndi

from trainer.synth import atrophy
from trainer.synth.acquisition import Acquisition, bias_field, head_to_world, output_affine, rician
from trainer.synth.anatomy import Template, load_template
from trainer.synth.variety import TEMPLATE_ANATOMY, Anatomy, warp

#: Stored int16 values reach about this much for white matter (scl_slope carries the scanner units).
_STORED_WM = 100.0


@dataclass
class Rendered:
    """One scan: ``data`` int16 (I, J, K) times ``slope`` = intensity; ``mask`` uint8 (I, J, K)."""

    data: np.ndarray
    slope: float
    mask: np.ndarray
    affine: np.ndarray  # (4, 4) shared by the scan and its mask

    def intensity(self) -> np.ndarray:
        return self.data.astype(np.float32) * np.float32(self.slope)


@lru_cache(maxsize=1)
def _loss_maps() -> tuple[np.ndarray, np.ndarray]:
    return atrophy.gm_loss_maps(load_template())


def template_coords(acq: Acquisition, severity: float, age: float, template: Template,
                    anatomy: Anatomy = TEMPLATE_ANATOMY) -> tuple[np.ndarray, np.ndarray]:
    """For every output voxel: template voxel coordinates (3, I*J*K), disease Jacobian determinant (I*J*K,).

    Scanner voxel -> subject mm -> (disease and ageing) -> the subject's healthy brain -> (its own shape and
    folding, :func:`trainer.synth.variety.warp`) -> template mm -> template voxel."""
    vox_to_head = np.linalg.inv(head_to_world(acq)) @ output_affine(acq)
    ijk = np.indices(acq.matrix, dtype=np.float32).reshape(3, -1)
    pts = vox_to_head[:3, :3].astype(np.float32) @ ijk + vox_to_head[:3, 3:].astype(np.float32)
    src, jac = atrophy.backward_map(pts, severity, age, anatomy.ventricle_scale)
    src = warp(src, anatomy)
    mni_to_vox = np.linalg.inv(template.affine)
    src = mni_to_vox[:3, :3].astype(np.float32) @ src + mni_to_vox[:3, 3:].astype(np.float32)
    return src, jac


def render(acq: Acquisition, severity: float, age: float, template: Template | None = None,
           anatomy: Anatomy = TEMPLATE_ANATOMY) -> Rendered:
    """Deform the template (the subject's anatomy, then disease and ageing), resample it onto the scan grid,
    then add contrast, bias and noise."""
    template = template or load_template()
    loss_disease, loss_ageing = _loss_maps()
    base = template.head if acq.skull else template.t1
    t1 = atrophy.atrophied_t1(base, template, loss_disease, loss_ageing, severity, age, anatomy.sulcal_loss)
    coords, jac = template_coords(acq, severity, age, template, anatomy)
    shape = tuple(acq.matrix)
    img = ndi.map_coordinates(t1, coords, order=1, mode="constant", cval=0.0).reshape(shape)
    lost = ndi.map_coordinates(loss_disease, coords, order=1, mode="constant", cval=0.0).reshape(shape)
    mask = (np.abs(jac.reshape(shape) - 1) >= atrophy.MASK_VOLUME_CHANGE) | (severity * lost >= atrophy.MASK_GM_LOSS)

    rng = np.random.default_rng(acq.noise_seed)
    # Contrast curve relative to white matter, so gain keeps meaning "white-matter intensity".
    wm = np.float32(template.i_wm)
    support = img > np.float32(0.02)
    img = (np.clip(img, 0.0, None) / wm) ** np.float32(acq.contrast_gamma)
    img *= bias_field(shape, acq.bias_strength, rng)
    img = rician(img, acq.noise, rng)
    if not acq.skull:  # a skull-stripped product: zero outside the brain, as stripping tools write it
        img *= support
    slope = acq.gain / _STORED_WM
    data = np.clip(np.rint(img * np.float32(_STORED_WM)), 0, np.iinfo(np.int16).max).astype(np.int16)
    return Rendered(data=data, slope=float(slope), mask=mask.astype(np.uint8), affine=output_affine(acq))
