"""Text batches cut to their longest record: padding costs the text encoder as much as words do, and most records
fill a small part of max_tokens (a record of scores read as numbers is about a dozen word-pieces of 128). Attention
never reads padding, so the outputs are those of the padded batch (to float rounding)."""
from __future__ import annotations

import torch


def trim_text(ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Word-pieces (B, L) and attention mask (B, L) cut to the longest record of the batch (at least 2: [CLS] [SEP])."""
    n = max(2, int(mask.sum(-1).max()))
    return ids[:, :n].contiguous(), mask[:, :n].contiguous()


def by_length(masks: torch.Tensor) -> list[int]:
    """Indices of the records whose attention masks are ``masks`` (N, L), shortest first (ties in order): batches
    taken in this order hold records of like length, so cutting them to their longest leaves little padding."""
    return torch.argsort(masks.sum(-1), stable=True).tolist()
