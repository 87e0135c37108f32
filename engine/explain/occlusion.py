"""Occlusion (Zeiler & Fergus 2014): how much log p(target) drops when a part of the input is hidden.

Image: captum ``Occlusion`` with non-overlapping 3-D windows of one patch (cfg.patch_size, stride = window),
replaced by 0 (background after preprocessing), the text features held fixed.
Text: whole words, then whole EHR fields, have every word-piece replaced by [MASK], the image features held
fixed. Captum's fixed tensor windows cannot follow word boundaries, hence our own loop there.
Cost: N / batch_size image-encoder passes plus (words + fields) / batch_size text-encoder passes.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from engine.explain.base import (ModelInputs, ProgressFn, RawAttribution, Reporter, classify_with, counting,
                                 image_features, log_probs, resolve_target, text_features)


def _masked_variants(ids: torch.Tensor, groups: list[list[int]], mask_id: int) -> torch.Tensor:
    """ids (1, L), one token-index list per variant -> (V, L) with those positions set to [MASK]."""
    out = ids.repeat(len(groups), 1)
    for v, idx in enumerate(groups):
        out[v, idx] = mask_id
    return out


def _text_drops(model: nn.Module, x: ModelInputs, img_f: torch.Tensor | None, t: int, base: float,
                groups: list[list[int]], batch_size: int, report: ProgressFn) -> list[float]:
    """Drop of log p(target) for each group of tokens hidden together, in batches of ``batch_size``."""
    drops: list[float] = []
    variants = _masked_variants(x.ids, groups, model.cfg.mask_token_id)
    n_batches = math.ceil(len(groups) / batch_size)
    for k in range(n_batches):
        report(k / n_batches, "occlusion: text")
        ids = variants[k * batch_size:(k + 1) * batch_size]
        logits = classify_with(model, img_f, model.text_encoder(ids, x.mask.expand(ids.shape[0], -1)), x.scores)
        drops += (base - log_probs(logits)[:, t]).tolist()
    return drops


def explain_occlusion(model: nn.Module, x: ModelInputs, target: int | None, rep: Reporter,
                      batch_size: int = 8) -> RawAttribution:
    """Occlusion for class ``target`` (None: predicted): image (S,S,S) voxel scores, words and fields."""
    from captum.attr import Occlusion  # ~1 s import: only when used

    rep(0.0, "occlusion: encoding the case")
    image = tokens = words = fields = None
    with torch.no_grad():
        img_f = image_features(model, x.img)
        txt_f = text_features(model, x.ids, x.mask)
        logits = classify_with(model, img_f, txt_f, x.scores)
        t = resolve_target(logits, target)
        base = float(log_probs(logits)[0, t])
        do_img, do_txt = img_f is not None, txt_f is not None
        if do_img:
            p = model.cfg.patch_size
            report = rep.span(0.0, 0.8 if do_txt else 1.0)
            # captum evaluates the unoccluded input once, then N windows in batches
            total = 1 + math.ceil(model.cfg.num_patches / batch_size)
            fwd = counting(lambda im: log_probs(classify_with(model, model.image_encoder(im), txt_f, x.scores)),
                           report, total, "occlusion: image")
            attr = Occlusion(fwd).attribute(x.img, sliding_window_shapes=(p, p, p), strides=(p, p, p),
                                            baselines=0.0, target=t, perturbations_per_eval=batch_size)
            image = attr[0].detach()
        if do_txt:
            report = rep.span(0.8 if do_img else 0.0, 1.0)
            enc = x.text
            n_words = len(enc.words)
            by_word = [[i for i, w in enumerate(enc.token_word) if w == k] for k in range(n_words)]
            field_names = list(dict.fromkeys(enc.word_field))
            by_field = [[i for i, f in enumerate(enc.token_field) if f == name] for name in field_names]
            drops = _text_drops(model, x, img_f, t, base, by_word + by_field, batch_size, report)
            words = drops[:n_words]
            fields = dict(zip(field_names, drops[n_words:]))
            # a token carries its word's score: occlusion cannot see inside a word
            tokens = np.array([words[w] if w >= 0 else 0.0 for w in enc.token_word], dtype=np.float64)
    return RawAttribution(target=t, image=image, tokens=tokens, words=words, fields=fields)
