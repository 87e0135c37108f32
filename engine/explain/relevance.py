"""Transformer relevance after Chefer, Gur & Wolf (CVPR 2021).

Chefer's rule, per self-attention block b in forward order (A_b, dA_b: (H, L, L) attention and its gradient
w.r.t. the target logit):  Ā_b = mean_h (dA_b ⊙ A_b)⁺,  R ← R + Ā_b R  starting from R = I.  The [CLS] row
of R (for an image read out by its mean token: the mean of the patch rows), without [CLS] itself, scores the
patches / tokens. Our BERT blocks are post-LN; the rule is unchanged.

Raw attention lives in :mod:`engine.explain.attention`.

Cost: one forward on the explicit attention path and one backward that stops at the attention maps (no
weight gradients), about two predictions.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn

from engine.explain.base import (ModelInputs, RawAttribution, Reporter, cls_rows_to_raw, encoders_of, readout_row,
                                 resolve_target)
from engine.layers.attention import explaining


def rollout(maps: list[torch.Tensor], grads: list[torch.Tensor]) -> torch.Tensor:
    """Chefer's relevance matrix. maps, grads: per block (B, H, L, L) -> R (B, L, L)."""
    b, _, n, _ = maps[0].shape
    r = torch.eye(n, dtype=maps[0].dtype, device=maps[0].device).expand(b, n, n).clone()
    for a, g in zip(maps, grads):
        cam = (g * a).clamp(min=0).mean(dim=1)
        r = r + cam @ r
    return r


@contextmanager
def _text_embeddings_need_grad(model: nn.Module) -> Iterator[None]:
    """Make the text embedding output require grad: with frozen embeddings and frozen lower blocks (the
    packaged MiniLM) the first blocks' attention maps would otherwise have no gradient at all."""
    if model.text_encoder is None:
        yield
        return

    def hook(_mod, _inp, out: torch.Tensor) -> torch.Tensor:
        return out if out.requires_grad else out.detach().requires_grad_(True)

    handle = model.text_encoder.embeddings.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def explain_relevance(model: nn.Module, x: ModelInputs, target: int | None, rep: Reporter) -> RawAttribution:
    """Chefer relevance for class ``target`` (None: the predicted class)."""
    rep(0.0, "relevance: forward pass")
    encoders = encoders_of(model, x)
    img = None if x.img is None else x.img.detach().clone().requires_grad_(True)
    with explaining(model), torch.enable_grad(), _text_embeddings_need_grad(model):
        logits = model(img, x.ids, x.mask, scores=x.scores)
        t = resolve_target(logits, target)
        rep(0.5, "relevance: backward pass")
        maps = {name: [blk.attn.attn_map for blk in enc.blocks] for name, enc in encoders}
        flat = [m for ms in maps.values() for m in ms]
        # Gradients w.r.t. the attention maps only: no parameter gradients are computed or stored.
        grads = torch.autograd.grad(logits[0, t], flat, allow_unused=True)
    grads = [torch.zeros_like(m) if g is None else g for m, g in zip(flat, grads)]
    rows, k = {}, 0
    with torch.no_grad():
        for name, ms in maps.items():
            r = rollout([m.detach() for m in ms], grads[k:k + len(ms)])
            rows[name] = readout_row(r[0], name, model)
            k += len(ms)
    return cls_rows_to_raw(model, x, rows, t)
