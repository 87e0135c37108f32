"""Cut a cube into patches and back. Patch order (x, y, z), z fastest, as ``Conv3d(...).flatten(2)``."""
from __future__ import annotations

import torch


def patchify(img: torch.Tensor, p: int) -> torch.Tensor:
    """img (B, S, S, S) -> (B, N, p^3) with N = (S/p)^3."""
    b, s = img.shape[0], img.shape[-1]
    g = s // p
    x = img.reshape(b, g, p, g, p, g, p).permute(0, 1, 3, 5, 2, 4, 6)
    return x.reshape(b, g ** 3, p ** 3)


def unpatchify(x: torch.Tensor, p: int) -> torch.Tensor:
    """x (B, N, p^3) -> (B, S, S, S)."""
    b, n, _ = x.shape
    g = round(n ** (1 / 3))
    x = x.reshape(b, g, g, g, p, p, p).permute(0, 1, 4, 2, 5, 3, 6)
    return x.reshape(b, g * p, g * p, g * p)
