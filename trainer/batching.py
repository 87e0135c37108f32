"""Text batches cut to their longest record: padding costs the text encoder as much as words do, and most records
fill half of max_tokens or less. Attention never reads padding, so the outputs are those of the padded batch (to
float rounding)."""
from __future__ import annotations

import torch

#: the word-piece pairs a dataset item may hold: the record, its shifted copy and its reference (trainer.dataset)
TEXT_KEYS = (("ids", "mask"), ("ids_alt", "mask_alt"), ("ids_ref", "mask_ref"))


def trim_text(ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Word-pieces (B, L) and attention mask (B, L) cut to the longest record of the batch (at least 2: [CLS] [SEP])."""
    n = max(2, int(mask.sum(-1).max()))
    return ids[:, :n].contiguous(), mask[:, :n].contiguous()


def trim_collate(items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Default collation of dataset items, then each text cut to the batch's longest record."""
    batch = torch.utils.data.default_collate(items)
    for ids, mask in TEXT_KEYS:
        if ids in batch:
            batch[ids], batch[mask] = trim_text(batch[ids], batch[mask])
    return batch


def by_length(masks: torch.Tensor) -> list[int]:
    """Indices of the records whose attention masks are ``masks`` (N, L), shortest first (ties in order): batches
    taken in this order hold records of like length, so cutting them to their longest leaves little padding."""
    return torch.argsort(masks.sum(-1), stable=True).tolist()
