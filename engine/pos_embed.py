"""Fixed sine-cosine position embeddings for a 3-D grid of patches (MAE's 2-D recipe, one more axis)."""
from __future__ import annotations

import torch


def _sincos_1d(dim: int, pos: torch.Tensor) -> torch.Tensor:
    """pos (M,) -> (M, dim) with dim even."""
    omega = 1.0 / 10000 ** (torch.arange(dim // 2, dtype=torch.float64) / (dim / 2))
    out = pos.double()[:, None] * omega[None, :]
    return torch.cat([out.sin(), out.cos()], dim=1)


def sincos_3d(dim: int, grid: int, cls_token: bool = True) -> torch.Tensor:
    """(1 + grid^3, dim) if cls_token else (grid^3, dim); the [CLS] row is zero.

    Patch order is (x, y, z) with z fastest, matching ``Conv3d(...).flatten(2)`` and :func:`patchify`.
    Each axis gets a third of the channels (rounded to even); the remainder is zero padding.
    """
    per_axis = (dim // 3) // 2 * 2
    g = torch.arange(grid)
    gx, gy, gz = torch.meshgrid(g, g, g, indexing="ij")
    parts = [_sincos_1d(per_axis, a.reshape(-1)) for a in (gx, gy, gz)]
    emb = torch.cat(parts, dim=1)
    if emb.shape[1] < dim:
        emb = torch.cat([emb, torch.zeros(emb.shape[0], dim - emb.shape[1], dtype=emb.dtype)], dim=1)
    if cls_token:
        emb = torch.cat([torch.zeros(1, dim, dtype=emb.dtype), emb], dim=0)
    return emb.float()
