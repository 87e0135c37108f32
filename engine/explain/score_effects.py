"""What each score read as a number did to a prediction (a model with ``config.score_knots`` > 0).

Such a model's text holds no score, so no word-level method can show one; but its scores enter through an
additive path (engine.score_path), so their effect is exact and cheap: the target's probability with the case as
it is, against the same case with that one score unknown (the image and the text encoded once, one row per score).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from engine.case_inputs import ModelInputs
from engine.ehr import FIELD_SPECS, SCORE_FIELDS
from engine.explain.base import classify_with, image_features, text_features


@dataclass(frozen=True)
class ScoreEffect:
    """One score: its value and the target's probability with it and with it unknown."""

    field: str
    value: float
    with_score: float
    unknown: float

    def sentence(self, class_name: str) -> str:
        """'MMSE 24 (read as a number): AD 81.0 % → 62.3 % with it unknown.'"""
        value = f"{self.value:g}"
        return (f"{FIELD_SPECS[self.field].label} {value} (read as a number): {class_name} {self.with_score:.1%} → "
                f"{self.unknown:.1%} with it unknown.")


@torch.no_grad()
def score_effects(model: nn.Module, x: ModelInputs, target: int) -> list[ScoreEffect]:
    """Per score the record holds, in :data:`SCORE_FIELDS` order; [] for a model that reads its scores as text."""
    if getattr(model, "score_path", None) is None or x.scores is None:
        return []
    scores = x.scores[0]
    known = [j for j in range(len(SCORE_FIELDS)) if not torch.isnan(scores[j])]
    if not known:
        return []
    rows = scores[None].repeat(1 + len(known), 1)  # (1 + k, F): the case, then each score unknown in turn
    for r, j in enumerate(known, start=1):
        rows[r, j] = float("nan")
    logits = classify_with(model, image_features(model, x.img), text_features(model, x.ids, x.mask), rows)
    p = torch.softmax(logits.double(), -1)[:, target].cpu().tolist()
    return [ScoreEffect(SCORE_FIELDS[j], float(scores[j]), p[0], p[r]) for r, j in enumerate(known, start=1)]
