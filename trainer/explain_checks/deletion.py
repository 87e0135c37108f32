"""Faithfulness by deletion: hide the most relevant part of the input and watch the predicted class's probability.

Image: the top ``fraction`` of patches (cfg.patch_size cubes on the model grid, ranked by the map's mean per
patch) are set to a fill value, against the same number of random patches drawn among the patches that hold
brain (background patches are already ~0, so hiding them would make random deletion trivially harmless).
Text: the top ``fraction`` of real word-pieces ([CLS]/[SEP]/[PAD] excluded) become [MASK], against random ones.
A drop is p(class | input) - p(class | input with the part hidden), class = the predicted class.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import torch
from torch import nn

from trainer.explain_checks.metrics import (brain_patches, delete_patches, fraction_count, patch_scores,
                                            random_k_indices, top_k_indices)


@torch.no_grad()
def class_probabilities(model: nn.Module, images: torch.Tensor | None, ids: torch.Tensor | None,
                        mask: torch.Tensor | None, cls: int, batch: int = 8,
                        scores: torch.Tensor | None = None) -> np.ndarray:
    """p(cls) for V variants -> (V,). images (V|1, S, S, S), ids/mask (V|1, L); a batch of 1 is broadcast,
    None is a modality the model does not read."""
    model.eval()
    v = max(t.shape[0] for t in (images, ids) if t is not None)

    def rows(t: torch.Tensor | None, lo: int, n: int) -> torch.Tensor | None:
        if t is None:
            return None
        return t[lo:lo + n] if t.shape[0] > 1 else t.expand(n, *t.shape[1:])

    out = []
    for lo in range(0, v, batch):
        n = min(batch, v - lo)
        numbers = {} if scores is None else {"scores": rows(scores, lo, n)}  # only a model that reads them takes them
        logits = model(rows(images, lo, n), rows(ids, lo, n), rows(mask, lo, n), **numbers)
        out.append(torch.softmax(logits.double(), dim=-1)[:, cls].cpu().numpy())
    return np.concatenate(out)


def image_deletion(model: nn.Module, image: np.ndarray, ids: torch.Tensor, mask: torch.Tensor, cls: int,
                   maps: Mapping[str, np.ndarray], fraction: float, fill: float, draws: int,
                   rng: np.random.Generator, brain_threshold: float,
                   scores: torch.Tensor | None = None) -> dict[str, object]:
    """Drops of p(cls) when hiding each map's top patches, and the mean drop over ``draws`` random sets.

    image (S, S, S) in [0, 1]; ids, mask (1, L) (and the scores as numbers, (1, F)) on the model's device;
    maps: method -> (S, S, S).
    Returns {"base": p, "top": {method: drop}, "random": mean drop, "random_draws": [drops], "k": patches,
    "all": drop when the whole image is filled}.
    """
    p = model.cfg.patch_size
    candidates = brain_patches(image, p, brain_threshold)
    k = fraction_count(model.cfg.num_patches, fraction)
    variants = [image]
    names = list(maps)
    for name in names:
        variants.append(delete_patches(image, top_k_indices(patch_scores(maps[name], p), k), p, fill))
    for _ in range(draws):
        variants.append(delete_patches(image, random_k_indices(candidates, k, rng), p, fill))
    variants.append(np.full_like(image, fill, dtype=np.float32))  # context: how much the image matters at all
    dev = next(model.parameters()).device
    probs = class_probabilities(model, torch.from_numpy(np.stack(variants)).to(dev), ids, mask, cls, scores=scores)
    drops = probs[0] - probs[1:]
    rand = drops[len(names):-1]
    return {"base": float(probs[0]), "top": {n: float(d) for n, d in zip(names, drops[:len(names)])},
            "random": float(rand.mean()), "random_draws": [float(d) for d in rand], "k": int(k),
            "all": float(drops[-1])}


def text_candidates(ids: torch.Tensor, n_real: int, special_ids: tuple[int, ...]) -> np.ndarray:
    """Positions (< n_real) of word-pieces a person wrote: not [CLS], [SEP] or [PAD]."""
    row = ids[0, :n_real].cpu().numpy()
    return np.flatnonzero(~np.isin(row, np.asarray(special_ids)))


def text_deletion(model: nn.Module, image: np.ndarray | None, ids: torch.Tensor, mask: torch.Tensor, cls: int,
                  token_maps: Mapping[str, np.ndarray], fraction: float, draws: int,
                  rng: np.random.Generator, scores: torch.Tensor | None = None) -> dict[str, object] | None:
    """Drops of p(cls) when the top tokens of each token map (n,) become [MASK], and the random mean; ``scores``
    (1, F), the scores a model reads as numbers, stay as they are.

    None when the case has no maskable token. Same return layout as :func:`image_deletion` ("all": every
    real word-piece masked).
    """
    cfg = model.cfg
    n_real = int(mask[0].sum())
    cand = text_candidates(ids, n_real, (cfg.cls_token_id, cfg.sep_token_id, cfg.pad_token_id))
    if cand.size == 0:
        return None
    k = fraction_count(cand.size, fraction)
    names = list(token_maps)
    sets = [top_k_indices(np.asarray(token_maps[n], dtype=np.float64)[:n_real], k, cand) for n in names]
    sets += [random_k_indices(cand, k, rng) for _ in range(draws)]
    sets.append(cand)  # context: every word-piece hidden
    variants = ids.repeat(1 + len(sets), 1)
    for v, idx in enumerate(sets, start=1):
        variants[v, torch.as_tensor(idx, dtype=torch.long)] = cfg.mask_token_id
    img = None
    if image is not None and model.image_encoder is not None:
        img = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None].to(ids.device)
    probs = class_probabilities(model, img, variants, mask, cls, scores=scores)
    drops = probs[0] - probs[1:]
    rand = drops[len(names):-1]
    return {"base": float(probs[0]), "top": {n: float(d) for n, d in zip(names, drops[:len(names)])},
            "random": float(rand.mean()), "random_draws": [float(d) for d in rand], "k": int(k),
            "all": float(drops[-1])}
