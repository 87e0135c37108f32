"""Guided relevance: the transformer's relevance per patch, refined inside each patch by integrated gradients.

Relevance (:mod:`engine.explain.relevance`) scores the ViT's patches: with the demo model's 8-voxel patches on a
32-voxel cube that is 4 a side, too coarse to show where in a lobe the model looks. Integrated gradients
(:mod:`engine.explain.gradients`) scores every voxel but scatters: from the empty-MRI baseline it also lights tissue
edges the prediction barely rests on. Their product keeps what both agree on, at the voxel level: the same idea as
Guided Grad-CAM (Selvaraju et al., ICCV 2017), a coarse class-discriminative map times a fine one.

Map (S, S, S) = R ⊙ G, with R the relevance upsampled trilinearly to the voxels, its floor removed (the same
min-max of the positive part the viewer shows), and G the positive part of the IG map over its maximum, blurred by
a Gaussian of :data:`SIGMA_VOXELS` (its FWHM, 2.4 voxels, is finer than an eighth of the cube). The words and the
fields are relevance's: IG's text half is not computed.

Cost: relevance (about two predictions) plus IG on the image (about n_steps forward+backward passes).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from engine.explain.base import ModelInputs, RawAttribution, Reporter, image_map
from engine.explain.gradients import explain_integrated_gradients
from engine.explain.relevance import explain_relevance

#: the Gaussian that smooths the IG map, in voxels of the model grid (kernel cut at 3 sigma)
SIGMA_VOXELS = 1.0


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """(S, S, S) -> (S, S, S): separable Gaussian of ``sigma`` voxels, edges replicated."""
    r = max(1, math.ceil(3 * sigma))
    k = torch.exp(-0.5 * (torch.arange(-r, r + 1, dtype=x.dtype, device=x.device) / sigma) ** 2)
    k = k / k.sum()
    y = x[None, None]
    for axis in range(3):
        shape = [1, 1, 1, 1, 1]
        shape[2 + axis] = k.numel()
        pad = [0, 0, 0, 0, 0, 0]
        pad[2 * (2 - axis)] = pad[2 * (2 - axis) + 1] = r  # F.pad lists the last axis first
        y = F.conv3d(F.pad(y, pad, mode="replicate"), k.view(shape))
    return y[0, 0]


def guided_map(relevance: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
    """Patch relevance (g, g, g) and voxel IG (S, S, S) -> the guided map (S, S, S), in [0, 1]."""
    # the coarse factor is relevance's map as the viewer shows it: upsampled, its floor removed
    coarse = torch.from_numpy(image_map(relevance, gradients.shape[-1])).to(gradients.device)
    fine = gradients.float().clamp(min=0)
    fine = fine / fine.max() if fine.max() > 0 else fine
    return coarse * gaussian_blur(fine, SIGMA_VOXELS)


def explain_guided(model: nn.Module, x: ModelInputs, target: int | None, rep: Reporter,
                   n_steps: int = 16, batch_size: int = 8) -> RawAttribution:
    """Guided relevance for class ``target`` (None: predicted). Image: (S,S,S) voxel scores; text: relevance's."""
    coarse = explain_relevance(model, x, target, rep.part(0.0, 0.15))
    if coarse.image is None:  # a text-only model: relevance is all there is
        return coarse
    fine = explain_integrated_gradients(model, x, coarse.target, rep.part(0.15, 1.0), n_steps, batch_size,
                                        text=False)
    return RawAttribution(target=coarse.target, image=guided_map(coarse.image, fine.image), tokens=coarse.tokens)
