"""Transformer blocks: pre-LN ViT blocks (MAE style) and post-LN BERT blocks.

Both take an optional cross-attention layer between self-attention and the feed-forward network: that is
the only thing the grounded (cross-modal) encoders add to the unimodal ones, which share every other weight.
Self-attention is always bidirectional; the BERT block is ours (not Hugging Face's) so that adding
cross-attention never makes it causal.
"""
from __future__ import annotations

import torch
from torch import nn

from engine.layers.attention import Attention, CrossAttention


class Mlp(nn.Module):
    """Linear -> GELU -> Linear. x (..., D) -> (..., D)."""

    def __init__(self, dim: int, hidden: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.act(self.fc1(x))))


class ViTBlock(nn.Module):
    """Pre-LN block: x + SA(LN x) [+ CA(LN x, ctx)] + MLP(LN x). x (B, L, D) -> (B, L, D)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0, context_dim: int | None = None,
                 dropout: float = 0.0, eps: float = 1e-6) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, heads, dropout=dropout)
        self.cross_norm = nn.LayerNorm(dim, eps=eps) if context_dim else None
        self.cross_attn = CrossAttention(dim, context_dim, heads, dropout) if context_dim else None
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), dropout)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor | None = None, context: torch.Tensor | None = None,
                context_mask: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), key_mask)
        if context is not None:
            if self.cross_attn is None:
                raise RuntimeError("block was built without cross-attention")
            x = x + self.cross_attn(self.cross_norm(x), context, context_mask)
        return x + self.mlp(self.norm2(x))


class BertBlock(nn.Module):
    """Post-LN BERT layer: LN(x + SA x) [-> LN(x + CA(x, ctx))] -> LN(x + FFN x). x (B, L, D) -> (B, L, D).

    Parameter names follow a flat scheme; :mod:`engine.text_encoder` maps Hugging Face BERT weights onto it.
    """

    def __init__(self, dim: int, heads: int, intermediate: int, context_dim: int | None = None,
                 dropout: float = 0.0, eps: float = 1e-12) -> None:
        super().__init__()
        self.attn = Attention(dim, heads, dropout=dropout)
        self.attn_norm = nn.LayerNorm(dim, eps=eps)
        self.cross_attn = CrossAttention(dim, context_dim, heads, dropout) if context_dim else None
        self.cross_norm = nn.LayerNorm(dim, eps=eps) if context_dim else None
        self.mlp = Mlp(dim, intermediate, dropout)
        self.mlp_norm = nn.LayerNorm(dim, eps=eps)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor | None = None, context: torch.Tensor | None = None,
                context_mask: torch.Tensor | None = None) -> torch.Tensor:
        x = self.attn_norm(x + self.drop(self.attn(x, key_mask)))
        if context is not None:
            if self.cross_attn is None:
                raise RuntimeError("block was built without cross-attention")
            x = self.cross_norm(x + self.drop(self.cross_attn(x, context, context_mask)))
        return self.mlp_norm(x + self.mlp(x))
