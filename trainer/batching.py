"""Training and evaluation batches of dataset items, each text cut to the batch's longest record
(engine.text_batches)."""
from __future__ import annotations

import torch

from engine.text_batches import trim_text

#: the word-piece pairs a dataset item may hold: the record, its shifted copy and its reference (trainer.dataset)
TEXT_KEYS = (("ids", "mask"), ("ids_alt", "mask_alt"), ("ids_ref", "mask_ref"))


def trim_collate(items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Default collation of dataset items, then each text cut to the batch's longest record."""
    batch = torch.utils.data.default_collate(items)
    for ids, mask in TEXT_KEYS:
        if ids in batch:
            batch[ids], batch[mask] = trim_text(batch[ids], batch[mask])
    return batch
