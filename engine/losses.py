"""The Alifuse objective's terms: image-text contrastive (ITC), masked reconstruction, classification."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def itc_loss(img_feat: torch.Tensor, txt_feat: torch.Tensor, temp: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE. img_feat, txt_feat (B, E), L2-normalised; pair i is (img i, txt i); temp scalar.

    L = (CE(S, I) + CE(S^T, I)) / 2 with S = img @ txt^T / temp.
    """
    sim = img_feat @ txt_feat.t() / temp
    target = torch.arange(sim.shape[0], device=sim.device)
    return (F.cross_entropy(sim, target) + F.cross_entropy(sim.t(), target)) / 2


def masked_patch_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over masked patches only. pred/target (B, N, P), mask (B, N) with 1 = masked."""
    per_patch = ((pred.float() - target.float()) ** 2).mean(dim=-1)
    return (per_patch * mask).sum() / mask.sum().clamp(min=1)


def masked_token_ce(logits: torch.Tensor, target_ids: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over the masked positions only. logits (M, V), target_ids (M,); 0 when M = 0.

    Sum / count rather than a branch on M: a compiled step then needs no guard on a data-dependent size.
    """
    total = F.cross_entropy(logits.float(), target_ids, reduction="sum")
    return total / torch.ones_like(target_ids, dtype=total.dtype).sum().clamp(min=1)
