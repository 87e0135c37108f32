"""A torch Dataset over :class:`CaseRecord` rows: cached image, encoded record, class index."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from engine.config import AlifuseConfig
from engine.ehr import validate_ehr
from engine.ehr_text import TextEncoding, encode_ehr
from engine.errors import AlifuseInputError
from engine.minilm import load_tokenizer
from trainer.cache import PreprocessCache
from trainer.records import CaseRecord

#: Two-class data sets (OASIS-2, MIRIAD) call everything that is not NC "impaired".
TWO_CLASS_ALIASES = {"impaired": "impaired", "demented": "impaired"}


def label_index(label: str, class_names: Sequence[str]) -> int:
    """Map a record's label to the model's class index; raises naming the label."""
    if label in class_names:
        return list(class_names).index(label)
    raise AlifuseInputError(f"label {label!r}: not one of the model's classes {', '.join(class_names)}")


class CaseDataset(Dataset):
    """Item i -> dict(image (S,S,S) float32 or (0,), ids (L,), mask (L,), label () int64, index () int64)."""

    def __init__(self, records: Sequence[CaseRecord], cfg: AlifuseConfig, class_names: Sequence[str],
                 cache: PreprocessCache | None = None, exclude_parts: Sequence[str] = (),
                 with_labels: bool = True) -> None:
        self.records, self.cfg = list(records), cfg
        self.cache = cache or PreprocessCache()
        tok = load_tokenizer()
        # Records are validated and encoded once, up front: a bad field fails before training starts.
        self.texts: list[TextEncoding] = []
        for r in self.records:
            ehr = {k: v for k, v in validate_ehr(r.ehr, f"record of subject {r.subject_id}").items()}
            self.texts.append(encode_ehr(ehr, tok, cfg.max_tokens, cfg.summary_max_words, exclude_parts))
        self.labels = [label_index(r.label, class_names) if with_labels else -1 for r in self.records]

    def __len__(self) -> int:
        return len(self.records)

    def image(self, i: int) -> torch.Tensor:
        if not self.cfg.use_image:
            return torch.zeros(0)
        return torch.from_numpy(np.ascontiguousarray(self.cache.get(self.records[i].image, self.cfg.image_size)))

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        t = self.texts[i]
        return {"image": self.image(i), "ids": t.input_ids, "mask": t.attention_mask,
                "label": torch.tensor(self.labels[i]), "index": torch.tensor(i)}
