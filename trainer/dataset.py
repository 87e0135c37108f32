"""A torch Dataset over :class:`CaseRecord` rows: cached image, encoded record, class index."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from engine.config import AlifuseConfig
from engine.ehr import validate_ehr
from engine.ehr_text import TextEncoding, encode_for_model
from engine.errors import AlifuseInputError
from engine.explain.reliance import hidden_mri, hidden_record, hidden_scores
from engine.minilm import load_tokenizer
from trainer.augment import ImageAugment, RecordAugment, case_rng
from trainer.scanner_augment import ScannerAugment
from trainer.cache import PreprocessCache
from trainer.foreign_summary import with_denial, with_foreign_summary
from trainer.monotone import moved_fraction, neighbour_pair, shifted_copy
from trainer.records import CaseRecord

#: Two-class data sets (OASIS-2, MIRIAD) call everything that is not NC "impaired".
TWO_CLASS_ALIASES = {"impaired": "impaired", "demented": "impaired"}


def label_index(label: str, class_names: Sequence[str]) -> int:
    """Map a record's label to the model's class index; raises naming the label."""
    if label in class_names:
        return list(class_names).index(label)
    raise AlifuseInputError(f"label {label!r}: not one of the model's classes {', '.join(class_names)}")


class CaseDataset(Dataset):
    """Item i -> dict(image (S,S,S) float32 or (0,), ids (L,), mask (L,), scores (F,) float32 (NaN = missing),
    label () int64, index () int64).

    A record without an image (``CaseRecord.image`` None: a record-only case) reads an MRI of zeros, the
    "MRI hidden" input. With ``augment`` (training), each epoch (:meth:`set_epoch`) drops fields, records and
    images at random (:mod:`trainer.augment`); with ``monotone`` every item also carries a copy of its record
    with one score moved (``ids_alt``, ``mask_alt``, ``alt_sign``: +1 worse, -1 better, 0 none;
    :mod:`trainer.monotone`); with ``image_augment`` each epoch flips and shifts the MRIs at random, or gives them
    other scanners' looks (:mod:`trainer.scanner_augment`).
    """

    def __init__(self, records: Sequence[CaseRecord], cfg: AlifuseConfig, class_names: Sequence[str],
                 cache: PreprocessCache | None = None, exclude_parts: Sequence[str] = (),
                 with_labels: bool = True, augment: RecordAugment | None = None, monotone: bool = False,
                 monotone_ends: float = 0.0, monotone_anywhere: float = 0.0, monotone_reach: int = 3,
                 monotone_pair_ends: float = 0.0,
                 seed: int = 0, image_augment: ImageAugment | ScannerAugment | None = None) -> None:
        self.records, self.cfg = list(records), cfg
        self.cache = cache or PreprocessCache()
        self.tok = load_tokenizer()
        self.exclude_parts = tuple(exclude_parts)
        self.augment, self.monotone, self.seed, self.epoch = augment, monotone, seed, 0
        self.monotone_ends = monotone_ends
        self.monotone_anywhere, self.monotone_reach = monotone_anywhere, monotone_reach
        self.monotone_pair_ends = monotone_pair_ends
        self.image_augment = image_augment
        # Records are validated and encoded once, up front: a bad field fails before training starts.
        self.ehrs: list[dict] = []
        self.texts: list[TextEncoding] = []
        for n, r in enumerate(self.records, 1):
            # named by its place in the data, never by the subject id: messages and logs carry no patient identifier
            ehr = {k: v for k, v in validate_ehr(r.ehr, f"record {n} of data set {r.dataset!r}").items()}
            self.ehrs.append(ehr)
            self.texts.append(self._encode(ehr))
        self.labels = [label_index(r.label, class_names) if with_labels else -1 for r in self.records]

    def set_epoch(self, epoch: int) -> None:
        """The epoch whose random dropout the items show (training); 0 = none drawn yet."""
        self.epoch = int(epoch)

    def _encode(self, ehr: dict) -> TextEncoding:
        return encode_for_model(ehr, self.tok, self.cfg, self.exclude_parts)

    def _hidden(self, enc: TextEncoding) -> torch.Tensor:
        """(L,) every word-piece of the record as [MASK], exactly as the viewer's "record hidden" probe makes it."""
        hidden = hidden_record(enc.input_ids[None], enc.attention_mask[None], self.cfg)
        return enc.input_ids if hidden is None else hidden[0]

    def __len__(self) -> int:
        return len(self.records)

    def image(self, i: int) -> torch.Tensor:
        if not self.cfg.use_image:
            return torch.zeros(0)
        if self.records[i].image is None:
            s = self.cfg.image_size
            return hidden_mri(torch.empty(s, s, s))
        return torch.from_numpy(np.ascontiguousarray(self.cache.get(self.records[i].image, self.cfg.image_size)))

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        if self.augment is None and not self.monotone and self.image_augment is None:
            t = self.texts[i]
            return {"image": self.image(i), "ids": t.input_ids, "mask": t.attention_mask, "scores": t.scores,
                    "label": torch.tensor(self.labels[i]), "index": torch.tensor(i)}
        rng = case_rng(self.seed, self.epoch, i)
        image_rng = case_rng(self.seed + 7_919, self.epoch, i)  # its own stream: records draw the same either way
        ehr, how, drop_image = self.ehrs[i], "kept", False
        if self.augment is not None:
            ehr, how, drop_image = self.augment.draw(ehr, rng)
            if self.augment.summary_foreign > 0 and how == "kept":
                # its own stream: with --summary-foreign 0 every other draw is as before it existed
                ehr = with_foreign_summary(ehr, case_rng(self.seed + 32_452, self.epoch, i),
                                           self.augment.summary_foreign)
            if self.augment.summary_denial > 0 and how == "kept":
                # after the foreign text, so that a denial also sits beside summaries no generator wrote
                ehr = with_denial(ehr, case_rng(self.seed + 48_611, self.epoch, i), self.augment.summary_denial)
        t = self._encode(ehr)
        ids = self._hidden(t) if how == "masked" else t.input_ids
        scores = hidden_scores(t.scores) if how == "masked" else t.scores
        image = self.image(i)
        if self.image_augment is not None and self.records[i].image is not None and self.cfg.use_image:
            image = torch.from_numpy(self.image_augment.apply(image.numpy(), image_rng))
        if drop_image:
            image = hidden_mri(image)
        item = {"image": image, "ids": ids, "mask": t.attention_mask, "scores": scores,
                "label": torch.tensor(self.labels[i]),
                "index": torch.tensor(i), "has_image": torch.tensor(self.records[i].image is not None and not drop_image)}
        if self.monotone:
            alt, sign = shifted_copy(ehr, rng, self.monotone_ends) if how == "kept" else (ehr, 0.0)
            ref = ehr
            if self.monotone_anywhere > 0 and how == "kept":
                # its own stream: with --monotone-anywhere 0 every other draw is as before it existed
                pair_rng = case_rng(self.seed + 15_485, self.epoch, i)
                near = pair_rng.random() < self.monotone_anywhere
                pair = (neighbour_pair(ehr, pair_rng, self.monotone_reach, self.monotone_pair_ends)
                        if near else None)
                if pair is not None:
                    ref, alt, sign = pair
            ta = self._encode(alt)
            item.update(ids_alt=ta.input_ids, mask_alt=ta.attention_mask, scores_alt=ta.scores,
                        alt_sign=torch.tensor(sign),
                        alt_moved=torch.tensor(moved_fraction(ref, alt), dtype=torch.float32))
            if self.monotone_anywhere > 0:  # the pair's reference: the record itself, or its first copy
                tr = t if ref is ehr else self._encode(ref)
                item.update(ids_ref=tr.input_ids, mask_ref=tr.attention_mask, scores_ref=tr.scores,
                            ref_own=torch.tensor(ref is ehr))
        return item
