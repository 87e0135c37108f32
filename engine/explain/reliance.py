"""How much does one prediction rest on the MRI, and how much on the record?

A heat map always shows *something*, even over a modality the model does not use: a model that decides from
the record alone still spreads relevance over the MRI. So each explanation comes with the plain test of hiding
one modality at a time and watching the probabilities move:

- MRI hidden: every voxel set to 0, the background value after preprocessing (the occlusion baseline);
- record hidden: every word-piece of the record becomes [MASK] ([CLS], [SEP] and padding stay). The model meets
  [MASK] in training only in its masked-token reconstruction (lambda_res > 0), never in the classification path,
  so "without the record" is a probe off the training distribution, like a zeroed MRI: read it as "how much the
  prediction depends on the record's content", not as "what the model would say with no record".

The shift is the total-variation distance between the class probabilities with and without the modality:
half the sum of |p - q|, from 0 (the modality changes nothing) to 1 (it decides everything).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

#: below this shift (2 percentage points) a modality counts as not used by this prediction
WEAK_SHIFT = 0.02

#: modality name -> how a sentence names it
MODALITIES = {"image": "the MRI", "record": "the record"}


@dataclass(frozen=True)
class ModalityReliance:
    """Class probabilities (C,) for the whole case and with each modality hidden (None: the model does not
    read that modality, or the record has no word to hide)."""

    class_names: tuple[str, ...]
    target_class: int
    probabilities: tuple[float, ...]
    without_image: tuple[float, ...] | None
    without_record: tuple[float, ...] | None

    def without(self, modality: str) -> tuple[float, ...] | None:
        if modality not in MODALITIES:
            raise ValueError(f"modality {modality!r}: choose one of {', '.join(MODALITIES)}")
        return self.without_image if modality == "image" else self.without_record

    def shift(self, modality: str) -> float | None:
        """Total-variation distance in [0, 1] between the probabilities with and without ``modality``."""
        q = self.without(modality)
        if q is None:
            return None
        return float(total_variation(np.asarray(self.probabilities), np.asarray(q)))

    def weak(self, modality: str) -> bool:
        """True when hiding ``modality`` moves the prediction by less than :data:`WEAK_SHIFT`."""
        s = self.shift(modality)
        return s is not None and s < WEAK_SHIFT

    def lines(self) -> list[str]:
        """One sentence per modality the model reads (:meth:`figures`), then :meth:`warnings`."""
        return self.figures() + self.warnings()

    def figures(self) -> list[str]:
        """Per modality the model reads: the target's probability without it, and how far the prediction moves."""
        name = self.class_names[self.target_class]
        p = self.probabilities[self.target_class]
        out = []
        for modality, words in MODALITIES.items():
            q = self.without(modality)
            if q is None:
                continue
            label = self.class_names[int(np.argmax(q))]
            change = "unchanged" if label == name else f"{label} instead"
            out.append(f"Without {words}: {name} {p:.1%} → {q[self.target_class]:.1%} ({change}); "
                       f"the prediction moves by {self.shift(modality):.1%}.")
        return out

    def warnings(self) -> list[str]:
        """A sentence for each modality the prediction hardly depends on (:meth:`weak`); [] when none."""
        return [f"This prediction hardly depends on {words}: its map shows where the model looked, "
                "not what it decided from." for modality, words in MODALITIES.items() if self.weak(modality)]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON: the probabilities as {class: p}, the shift and weakness per modality, and :meth:`lines`."""
        d: dict[str, Any] = {"target_class": self.target_class, "target_name": self.class_names[self.target_class],
                             "weak_below": WEAK_SHIFT}
        as_map = lambda ps: None if ps is None else {c: round(float(v), 6) for c, v in zip(self.class_names, ps)}  # noqa: E731
        d["probabilities"] = as_map(self.probabilities)
        for modality in MODALITIES:
            s = self.shift(modality)
            d[f"without_{modality}"] = {"probabilities": as_map(self.without(modality)),
                                        "shift": None if s is None else round(s, 6), "weak": self.weak(modality)}
        d["lines"] = self.lines()
        return d


def hidden_mri(image: torch.Tensor) -> torch.Tensor:
    """The MRI hidden: every voxel 0, the shape, dtype and device of ``image`` (any shape, e.g. (B, S, S, S)).

    A preprocessed scan lies in [0, 1] with 0 for the background, so this is an empty field of view: no head at
    all. Training reads it for a case without a scan or with its scan dropped, and the reliance probe, the MRI
    margin and the integrated-gradients baseline use it too: they must agree on what "no MRI" is.
    """
    return torch.zeros_like(image)


def hidden_record(ids: torch.Tensor, mask: torch.Tensor, cfg) -> torch.Tensor | None:  # noqa: ANN001
    """ids (B, L) with every real word-piece [MASK]ed -> (B, L); None when no row has one to hide."""
    special = torch.tensor([cfg.cls_token_id, cfg.sep_token_id, cfg.pad_token_id], device=ids.device)
    words = mask.bool() & ~torch.isin(ids, special)
    if not bool(words.any()):
        return None
    return ids.masked_fill(words, cfg.mask_token_id)


def hidden_scores(scores: torch.Tensor) -> torch.Tensor:
    """The record's scores hidden, as numbers (engine.score_path): every one NaN, "not known"; any shape."""
    return torch.full_like(scores, float("nan"))


def total_variation(p, q):  # noqa: ANN001, ANN201 - numpy arrays or tensors alike
    """Half the summed absolute difference over the last axis (classes): 0 = the same, 1 = disjoint."""
    return 0.5 * abs(p - q).sum(-1)


@dataclass
class HiddenProbabilities:
    """Class probabilities (B, C), float64, of a batch of cases as they are and with each modality hidden.

    ``without_image`` / ``without_record`` are None when the model does not read that modality (or, for the
    record, when no case has a word to hide); ``has_words`` (B,) marks the cases whose record had one.
    """

    whole: torch.Tensor
    without_image: torch.Tensor | None
    without_record: torch.Tensor | None
    has_words: torch.Tensor | None


@torch.no_grad()
def hide_each_modality(model: nn.Module, image: torch.Tensor | None, ids: torch.Tensor | None,
                       mask: torch.Tensor | None, *, scores: torch.Tensor | None = None) -> HiddenProbabilities:
    """One forward of up to 3B cases: image (B, S, S, S) | None, ids and mask (B, L) | None on the model's device;
    ``scores`` (B, F), the records' scores as numbers, for a model that reads them so (hidden with the record).

    The model is put in eval mode for the call and handed back in the mode it came in.
    """
    if model.image_encoder is None:
        image = None
    if model.text_encoder is None:
        ids = mask = None
    if getattr(model, "score_path", None) is None or ids is None:
        scores = None  # read only by a model with a score path, and only beside a record
    hidden = hidden_record(ids, mask, model.cfg) if ids is not None else None
    has_words = (hidden != ids).any(-1) if hidden is not None else None
    if scores is not None:  # a record may hold scores and no word: hiding it still hides something
        known = ~torch.isnan(scores).all(-1)
        has_words = known if has_words is None else has_words | known
        if hidden is None and bool(known.any()):
            hidden = ids
    images, texts, numbers = [image], [ids], [scores]
    if image is not None:
        images.append(hidden_mri(image))
        texts.append(ids)
        numbers.append(scores)
    if hidden is not None:
        images.append(image)
        texts.append(hidden)
        numbers.append(None if scores is None else hidden_scores(scores))
    n = len(images)
    batch_img = torch.cat(images) if image is not None else None
    batch_ids = torch.cat(texts) if ids is not None else None
    batch_mask = mask.repeat(n, 1) if mask is not None else None
    batch_scores = torch.cat(numbers) if scores is not None else None
    was_training = model.training
    model.eval()
    try:
        logits = model(batch_img, batch_ids, batch_mask, scores=batch_scores)
        probs = torch.softmax(logits.double(), dim=-1).chunk(n)
    finally:
        model.train(was_training)
    return HiddenProbabilities(probs[0], probs[1] if image is not None else None,
                               probs[-1] if hidden is not None else None, has_words if hidden is not None else None)


def modality_reliance(model: nn.Module, image: torch.Tensor | None, ids: torch.Tensor | None,
                      mask: torch.Tensor | None, target: int | None = None,
                      class_names: Sequence[str] | None = None, *,
                      scores: torch.Tensor | None = None) -> ModalityReliance:
    """Probabilities for one case and with each modality hidden (:func:`hide_each_modality`).

    image (1, S, S, S) or None; ids, mask (1, L) or None, scores (1, F) or None, on the model's device.
    ``target`` None = the predicted class.
    """
    hp = hide_each_modality(model, image, ids, mask, scores=scores)
    n_classes = hp.whole.shape[-1]
    names = tuple(class_names) if class_names is not None else tuple(f"class {k}" for k in range(n_classes))
    if len(names) != n_classes:
        raise ValueError(f"{len(names)} class names for a model with {n_classes} classes")

    def row(p: torch.Tensor | None) -> tuple[float, ...] | None:
        return None if p is None else tuple(float(v) for v in p[0].cpu())

    whole = row(hp.whole)
    t = int(np.argmax(whole)) if target is None else int(target)
    return ModalityReliance(names, t, whole, row(hp.without_image), row(hp.without_record))
