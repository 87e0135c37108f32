"""Raw attention: the last self-attention block's [CLS] row, averaged over heads (one forward, no gradient).

Class-agnostic by construction (the map is the same whatever class is asked for); kept as the baseline that
relevance propagation improves on.
"""
from __future__ import annotations

import torch
from torch import nn

from engine.explain.base import (ModelInputs, RawAttribution, Reporter, cls_rows_to_raw, encoders_of, readout_row,
                                 resolve_target)
from engine.layers.attention import explaining


def explain_attention(model: nn.Module, x: ModelInputs, target: int | None, rep: Reporter) -> RawAttribution:
    """Raw attention of the last self-attention block's [CLS] row, averaged over heads (class-agnostic)."""
    rep(0.0, "attention: forward pass")
    encoders = encoders_of(model, x)
    with explaining(model), torch.no_grad():
        logits = model(x.img, x.ids, x.mask, scores=x.scores)
        rows = {name: readout_row(enc.blocks[-1].attn.attn_map[0].mean(dim=0), name, model) for name, enc in encoders}
    return cls_rows_to_raw(model, x, rows, resolve_target(logits, target))
