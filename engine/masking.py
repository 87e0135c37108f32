"""Random masking for both modalities (ratio 0.5 in the paper)."""
from __future__ import annotations

import torch


def random_patch_mask(batch: int, n: int, ratio: float, device: torch.device | str = "cpu",
                      generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """MAE-style per-sample shuffle. Returns ids_keep (B, K), ids_restore (B, N), mask (B, N) with 1 = masked.

    K = round(N * (1 - ratio)), at least 1.
    """
    keep = max(1, int(round(n * (1 - ratio))))
    noise = torch.rand(batch, n, device=device, generator=generator)
    ids_shuffle = noise.argsort(dim=1)
    ids_restore = ids_shuffle.argsort(dim=1)
    mask = torch.ones(batch, n, device=device)
    mask[:, :keep] = 0
    return ids_shuffle[:, :keep], ids_restore, torch.gather(mask, 1, ids_restore)


def random_token_mask(input_ids: torch.Tensor, attention_mask: torch.Tensor, special: torch.Tensor, ratio: float,
                      mask_id: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Replace a ``ratio`` of each sample's real, non-special tokens with [MASK].

    input_ids, attention_mask, special: (B, L) (special: bool, True for [CLS]/[SEP]/[PAD]).
    Returns masked ids (B, L) and the mask (B, L) bool, True = masked (at least one per sample that has a word).
    """
    candidates = attention_mask.bool() & ~special
    score = torch.rand(input_ids.shape, device=input_ids.device, generator=generator)
    score = score.masked_fill(~candidates, 2.0)  # never pick non-candidates
    counts = candidates.sum(dim=1)
    k = (counts.float() * ratio).round().long().clamp(min=1)
    k = torch.minimum(k, counts)
    rank = score.argsort(dim=1).argsort(dim=1)  # rank of each position among the sample's scores
    mask = (rank < k[:, None]) & candidates
    return input_ids.masked_fill(mask, mask_id), mask
