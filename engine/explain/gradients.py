"""Integrated gradients (Sundararajan et al. 2017) with captum, one modality at a time.

Image: ``IntegratedGradients`` on the voxels from an all-zero baseline, the text features held fixed.
Text: ``LayerIntegratedGradients`` on the word-embedding layer from a baseline that replaces every real
word-piece by [PAD] and keeps [CLS]/[SEP], the image features held fixed. Holding the other modality fixed
costs one encoder pass instead of ``n_steps`` and gives each modality its own completeness (attributions sum
to f(x) - f(baseline) of that modality).
The attributed output is log p(target) (see :func:`engine.explain.base.log_probs`).
Cost: about 2 * n_steps forward+backward passes of one encoder each.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from engine.explain.base import (ModelInputs, RawAttribution, Reporter, classify_with, counting, image_features,
                                 log_probs, resolve_target, text_features)
from engine.explain.reliance import hidden_mri


def text_baseline(ids: torch.Tensor, cfg) -> torch.Tensor:
    """ids (1, L) -> same shape, every token [PAD] except [CLS] and [SEP]."""
    keep = (ids == cfg.cls_token_id) | (ids == cfg.sep_token_id)
    return torch.where(keep, ids, torch.full_like(ids, cfg.pad_token_id))


def _n_calls(n_steps: int, batch_size: int) -> int:
    return math.ceil(n_steps / max(1, batch_size))


def explain_integrated_gradients(model: nn.Module, x: ModelInputs, target: int | None, rep: Reporter,
                                 n_steps: int = 16, batch_size: int = 8, text: bool = True) -> RawAttribution:
    """IG for class ``target`` (None: predicted). Image: (S,S,S) voxel scores; text: (n,) token scores (None with
    ``text`` False: the image alone, half the work)."""
    from captum.attr import IntegratedGradients, LayerIntegratedGradients  # ~1 s import: only when used

    rep(0.0, "integrated gradients: encoding the case")
    with torch.no_grad():
        img_f = image_features(model, x.img)
        txt_f = text_features(model, x.ids, x.mask)
        t = resolve_target(classify_with(model, img_f, txt_f, x.scores), target)
    do_img, do_txt = img_f is not None, txt_f is not None and text
    split = 0.5 if (do_img and do_txt) else 1.0
    image = tokens = None
    with torch.enable_grad():
        if do_img:
            fwd = counting(lambda im: log_probs(classify_with(model, model.image_encoder(im), txt_f, x.scores)),
                           rep.span(0.0, split), _n_calls(n_steps, batch_size), "integrated gradients: image")
            attr = IntegratedGradients(fwd).attribute(x.img, baselines=hidden_mri(x.img), target=t,
                                                      n_steps=n_steps, internal_batch_size=batch_size)
            image = attr[0].detach()
        if do_txt:
            fwd = counting(lambda ids, mask: log_probs(classify_with(model, img_f, model.text_encoder(ids, mask),
                                                                     x.scores)),
                           rep.span(split if do_img else 0.0, 1.0), _n_calls(n_steps, batch_size) + 2,
                           "integrated gradients: text")
            # (+2: LayerIntegratedGradients first runs the layer on the inputs and on the baselines)
            lig = LayerIntegratedGradients(fwd, model.text_encoder.embeddings.word)
            attr = lig.attribute(x.ids, baselines=text_baseline(x.ids, model.cfg), target=t,
                                 additional_forward_args=(x.mask,), n_steps=n_steps, internal_batch_size=batch_size)
            # [CLS]/[SEP] equal their baseline, so their attribution is exactly 0
            tokens = attr[0].sum(dim=-1)[: x.n_tokens].detach().cpu().double().numpy()
    return RawAttribution(target=t, image=image, tokens=tokens)
