"""Multi-head attention with two paths.

The fast path is ``F.scaled_dot_product_attention`` (fused kernels, no weights returned). The explicit path
computes the softmax itself and keeps the attention map and its gradient: the relevance methods need both.
It is switched on only inside :func:`explaining`, and both paths give the same output (tested).
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn


class _AttentionBase(nn.Module):
    """Shared head split/merge and the two attention paths."""

    def __init__(self, dim: int, heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} not divisible by heads {heads}")
        self.heads, self.head_dim, self.dropout = heads, dim // heads, dropout
        self.explain = False            # set by `explaining(model)`
        self.attn_map: torch.Tensor | None = None   # (B, H, Lq, Lk) softmax weights, explicit path only
        self.attn_grad: torch.Tensor | None = None  # gradient of a scalar w.r.t. attn_map

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        return x.view(b, n, self.heads, self.head_dim).transpose(1, 2)  # (B, H, L, d)

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                key_mask: torch.Tensor | None) -> torch.Tensor:
        """q (B,H,Lq,d), k/v (B,H,Lk,d), key_mask (B,Lk) bool True = attend -> (B, Lq, H*d)."""
        mask = None if key_mask is None else key_mask[:, None, None, :].to(torch.bool)
        if self.explain:
            scores = (q @ k.transpose(-2, -1)) * self.head_dim ** -0.5
            if mask is not None:
                scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
            attn = scores.softmax(dim=-1)
            self.attn_map = attn
            if attn.requires_grad:
                attn.register_hook(self._save_grad)
            out = attn @ v
        else:
            p = self.dropout if self.training else 0.0  # never random in eval
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        b, h, n, d = out.shape
        return out.transpose(1, 2).reshape(b, n, h * d)

    def _save_grad(self, grad: torch.Tensor) -> None:
        self.attn_grad = grad


class Attention(_AttentionBase):
    """Self-attention. x (B, L, D), key_mask (B, L) bool -> (B, L, D)."""

    def __init__(self, dim: int, heads: int, qkv_bias: bool = True, dropout: float = 0.0) -> None:
        super().__init__(dim, heads, dropout)
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor | None = None) -> torch.Tensor:
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        return self.proj(self._attend(self._split(q), self._split(k), self._split(v), key_mask))


class CrossAttention(_AttentionBase):
    """Queries from x (B, Lq, D), keys/values from context (B, Lk, Dc) of any width -> (B, Lq, D)."""

    def __init__(self, dim: int, context_dim: int, heads: int, dropout: float = 0.0) -> None:
        super().__init__(dim, heads, dropout)
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(context_dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor,
                context_mask: torch.Tensor | None = None) -> torch.Tensor:
        k, v = self.kv(context).chunk(2, dim=-1)
        return self.proj(self._attend(self._split(self.q(x)), self._split(k), self._split(v), context_mask))


@contextmanager
def explaining(model: nn.Module) -> Iterator[nn.Module]:
    """Switch every attention module of ``model`` to the explicit path (maps + gradients kept)."""
    mods = [m for m in model.modules() if isinstance(m, _AttentionBase)]
    for m in mods:
        m.explain, m.attn_map, m.attn_grad = True, None, None
    try:
        yield model
    finally:
        for m in mods:
            m.explain = False
