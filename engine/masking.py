"""Random masking for both modalities (ratio 0.5 in the paper)."""
from __future__ import annotations

from typing import NamedTuple

import torch

from engine.config import AlifuseConfig


class MaskNoise(NamedTuple):
    """The random numbers one training step masks with: image (B, N) per patch, text (B, L) per token.

    Drawn before the forward (``draw_mask_noise``), so a compiled forward never sees a ``torch.Generator``
    (Dynamo cannot trace one: each draw split the graph).
    """

    image: torch.Tensor | None
    text: torch.Tensor | None


def draw_mask_noise(cfg: AlifuseConfig, batch: int, text_len: int, device: torch.device | str,
                    generator: torch.Generator | None = None) -> MaskNoise:
    """What ``AlifuseModel.training_losses`` masks with, drawn in its order (image first): (B, N), (B, L) or None."""
    if cfg.lambda_res <= 0:
        return MaskNoise(None, None)
    image = torch.rand(batch, cfg.num_patches, device=device, generator=generator) if cfg.use_image else None
    text = torch.rand(batch, text_len, device=device, generator=generator) if cfg.use_text else None
    return MaskNoise(image, text)


def random_patch_mask(batch: int, n: int, ratio: float, noise: torch.Tensor,
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """MAE-style per-sample shuffle. Returns ids_keep (B, K), ids_restore (B, N), mask (B, N) with 1 = masked.

    K = round(N * (1 - ratio)), at least 1. ``noise`` (B, N): the shuffle's random numbers (``draw_mask_noise``).
    """
    keep = max(1, int(round(n * (1 - ratio))))
    if tuple(noise.shape) != (batch, n):  # a (1, N) noise would broadcast: one mask for the whole batch
        raise ValueError(f"patch-mask noise has shape {tuple(noise.shape)}, expected {(batch, n)}")
    ids_shuffle = noise.argsort(dim=1)
    ids_restore = ids_shuffle.argsort(dim=1)
    mask = torch.ones(batch, n, device=noise.device)
    mask[:, :keep] = 0
    return ids_shuffle[:, :keep], ids_restore, torch.gather(mask, 1, ids_restore)


def random_token_mask(input_ids: torch.Tensor, attention_mask: torch.Tensor, special: torch.Tensor, ratio: float,
                      mask_id: int, noise: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Replace a ``ratio`` of each sample's real, non-special tokens with [MASK].

    input_ids, attention_mask, special: (B, L) (special: bool, True for [CLS]/[SEP]/[PAD]); ``noise`` (B, L):
    the random scores (``draw_mask_noise``). Returns masked ids (B, L) and the mask (B, L) bool, True = masked
    (at least one per sample that has a word).
    """
    candidates = attention_mask.bool() & ~special
    if noise.shape != input_ids.shape:
        raise ValueError(f"token-mask noise has shape {tuple(noise.shape)}, expected {tuple(input_ids.shape)}")
    score = noise.masked_fill(~candidates, 2.0)  # never pick non-candidates
    counts = candidates.sum(dim=1)
    k = (counts.float() * ratio).round().long().clamp(min=1)
    k = torch.minimum(k, counts)
    rank = score.argsort(dim=1).argsort(dim=1)  # rank of each position among the sample's scores
    mask = (rank < k[:, None]) & candidates
    return input_ids.masked_fill(mask, mask_id), mask
