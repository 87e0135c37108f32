"""Monotone in the evidence: a worse score must never make a case look healthier.

A clinician rejects a model whose expected stage P(MCI) + 2 P(AD) falls when the MMSE falls or the CDR rises.
A text model reads scores as word-pieces and may learn any shape of response; so during training every case
also gets a copy of its record with one score moved to a worse (or better) value, and a hinge penalises an
expected stage that moves the wrong way (Sill 1998; Gupta et al. 2016 impose the same shape constraint
by construction, here it is a soft pairwise penalty on the model's output).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from engine.ehr import FIELD_SPECS, LOWER_IS_WORSE, SCORE_FIELDS

#: the step between neighbouring values (CDR: 0, 0.5, 1, 2, 3; 1.5 and 2.5 are not CDR values, scale_values)
_STEPS = {"mmse": 1.0, "cdr": 0.5, "cdr_sb": 0.5, "logical_memory_delayed": 1.0}
#: field -> (lowest value, highest value, step, True when a higher value is worse)
SCORES: dict[str, tuple[float, float, float, bool]] = {
    f: (float(FIELD_SPECS[f].minimum), float(FIELD_SPECS[f].maximum), _STEPS[f], f not in LOWER_IS_WORSE)
    for f in SCORE_FIELDS}
_CDR_VALUES = (0.0, 0.5, 1.0, 2.0, 3.0)


def scale_values(field: str) -> list[float]:
    """The values a score takes, lowest first."""
    if field == "cdr":
        return list(_CDR_VALUES)
    lo, hi, step, _ = SCORES[field]
    return [lo + i * step for i in range(int(round((hi - lo) / step)) + 1)]


def _typed(field: str, v: float) -> float | int:
    return float(v) if field in ("cdr", "cdr_sb") else int(v)


def shifted_copy(ehr: dict[str, Any], rng: np.random.Generator, ends: float = 0.0) -> tuple[dict[str, Any], float]:
    """(a copy of ``ehr`` with one score moved, +1 if the copy is worse / -1 if it is better).

    The score is one of the record's own, moved to another value of its scale; with probability ``ends`` to one
    end of the scale (MMSE 0 or 30, CDR 0 or 3, ...), where a model that reads word-pieces most often reads a value
    as if it belonged to another field ("0" as healthy). A record without scores gets no copy (sign 0): "a worse
    score than none" is no rule a clinician holds. ``ends`` = 0 draws exactly as before it existed."""
    present = [f for f in SCORES if f in ehr]
    u = rng.random(3)
    if not present:
        return dict(ehr), 0.0
    field = present[int(u[0] * len(present))]
    values = scale_values(field)
    cur = float(ehr[field])
    others = [v for v in values if v != cur]
    extremes = [v for v in (values[0], values[-1]) if v != cur]
    pool = extremes if u[2] < ends else others
    new = pool[int(u[1] * len(pool))]
    higher_worse = SCORES[field][3]
    worse = (new > cur) == higher_worse
    alt = dict(ehr)
    alt[field] = _typed(field, new)
    return alt, 1.0 if worse else -1.0


def neighbour_pair(ehr: dict[str, Any], rng: np.random.Generator, reach: int = 3, ends: float = 0.0
                   ) -> tuple[dict[str, Any], dict[str, Any], float] | None:
    """(reference, copy, sign): two copies of ``ehr`` with the same score set to two nearby values of its scale,
    anywhere on it (up to ``reach`` steps apart), +1 if the copy is worse than the reference / -1 if better; None for
    a record without scores. With probability ``ends`` the pair starts at an end of the scale instead (MMSE 0 or
    30, the other value inside it): "0" is healthy for CDR and CDR-SB, the worst for MMSE and delayed recall, and
    uniform draws reach MMSE 1 -> 0 in one pair of 31.

    :func:`shifted_copy` pairs a record with a copy of itself, so a healthy record's MMSE is compared from 29 to 5
    or to 0, never from 5 to 0: the shipped model's stage fell from 5 to 0 beside healthy scores, and from CDR-SB 10
    to 12. These pairs put both values anywhere, beside the record's other fields as they are."""
    present = [f for f in SCORES if f in ehr]
    if not present:
        return None
    u = rng.random(3)
    field = present[int(u[0] * len(present))]
    values = scale_values(field)
    a = int(u[1] * len(values))
    if ends > 0 and rng.random() < ends:  # drawn only when asked: ends=0 leaves every other draw as it was
        a = 0 if u[1] < 0.5 else len(values) - 1
    step = 1 + int(u[2] * reach)
    b = a + step if a + step < len(values) else a - step
    b = min(max(b, 0), len(values) - 1)
    if b == a:
        return None
    ref, alt = dict(ehr), dict(ehr)
    ref[field], alt[field] = _typed(field, values[a]), _typed(field, values[b])
    worse = (values[b] > values[a]) == SCORES[field][3]
    return ref, alt, 1.0 if worse else -1.0


def moved_fraction(ehr: dict[str, Any], alt: dict[str, Any]) -> float:
    """How far ``alt`` moved the one score it changed, as a fraction of that score's scale (0 when none moved)."""
    for f, (lo, hi, _, _) in SCORES.items():
        if f in ehr and f in alt and float(alt[f]) != float(ehr[f]):
            return abs(float(alt[f]) - float(ehr[f])) / (hi - lo)
    return 0.0


#: weight of NC / MCI / AD in the expected stage E = P(MCI) + 2 P(AD): 0 healthy ... 2 dementia
STAGE_WEIGHTS: tuple[float, float, float] = (0.0, 1.0, 2.0)


def expected_stage(logits: torch.Tensor) -> torch.Tensor:
    """(B, 3) logits -> (B,) expected stage P(MCI) + 2 P(AD) for NC / MCI / AD."""
    p = torch.softmax(logits.float(), dim=-1)
    return p @ torch.tensor(STAGE_WEIGHTS, device=p.device, dtype=p.dtype)


def penalty(stage: torch.Tensor, stage_alt: torch.Tensor, sign: torch.Tensor) -> torch.Tensor:
    """Mean hinge over the pairs with a copy: sign * (stage - stage_alt) > 0 is the wrong way round."""
    has = sign != 0
    if not bool(has.any()):
        return stage.sum() * 0.0
    return torch.relu(sign[has] * (stage[has] - stage_alt[has])).mean()


def cumulative_log_odds(logits: torch.Tensor) -> torch.Tensor:
    """(B, C) logits of ordered classes -> (B, C-1): log P(y >= k) / P(y < k) for k = 1 .. C-1.

    For NC / MCI / AD: the log-odds of "impaired at all" and of "dementia". Unlike the expected stage these do not
    saturate, so a margin on them can be asked of a case that is already clearly healthy or clearly demented."""
    lf = logits.float()
    return torch.stack([torch.logsumexp(lf[:, k:], -1) - torch.logsumexp(lf[:, :k], -1)
                        for k in range(1, lf.shape[-1])], dim=-1)


def margin_penalty(logits: torch.Tensor, logits_alt: torch.Tensor, sign: torch.Tensor, moved: torch.Tensor,
                   margin: float) -> torch.Tensor:
    """Mean hinge asking each cumulative log-odds to move the right way by at least ``margin`` * ``moved``.

    logits, logits_alt: (B, C); sign: (B,) +1 when the copy is worse, -1 when better, 0 for no copy; moved: (B,)
    the fraction of its scale the score moved (:func:`moved_fraction`). ``margin`` is the log-odds a score must
    move a prediction across its whole range: the direction-only hinge (:func:`penalty`) lets a model read a score
    beside others as if it were not there (MMSE 30 -> 0 beside CDR 0.5 moved the stage by 0.14)."""
    has = sign != 0
    if not bool(has.any()):
        return logits.sum() * 0.0
    c, c_alt = cumulative_log_odds(logits[has]), cumulative_log_odds(logits_alt[has])
    need = (margin * moved[has].float())[:, None]
    return torch.relu(sign[has].float()[:, None] * (c - c_alt) + need).mean()
