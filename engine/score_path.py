"""The four cognitive scores read as numbers, through a path that is monotone by construction.

A text model reads "The CDR sum of boxes is 10.5." as word-pieces ("10", ".", "5") and may learn any shape of
response to them: the record audit found CDR-SB 10.5 read as more impaired than 11 beside a quarter of the
records, and no soft penalty removed it (docs/RESULTS.md). A model with ``config.score_knots`` > 0 leaves MMSE,
CDR, CDR-SB and delayed recall out of its text and reads them here instead.

Each score's value becomes its severity x in [0, 1] (0 at the healthy end of its scale, 1 at the impaired end),
and for each of the C - 1 ordered thresholds ("impaired at all", "dementia") a non-decreasing piecewise-linear
function of it with ``score_knots`` pieces (non-negative slopes: Gupta et al. 2016 build monotonicity in the same
way): the score's estimate of that threshold's level. A threshold's level t_k is the weighted mean of the estimates
of the scores the record holds, shrunk towards 0 by a prior weight (positive weights: such a mean rises with each
of its terms; a record without scores gets 0). The levels t_1 .. t_{C-1}
are added to the fusion's logits of the ordered classes as [0, t_1, t_1 + t_2, ...]: a shift that rises with the
class index, so the expected stage sum_k k P(k) and every cumulative log-odds log P(y >= k) / P(y < k) can only
rise when a score worsens (the derivative of the expected stage along such a shift is a covariance of two
non-decreasing functions of the class, never negative), whatever the image and the rest of the record say.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from engine.ehr import FIELD_SPECS, LOWER_IS_WORSE, SCORE_FIELDS


def _scale() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(F,) lowest value, highest value and direction (+1: higher is worse, -1: lower is worse) of each score."""
    lo = torch.tensor([float(FIELD_SPECS[f].minimum) for f in SCORE_FIELDS])
    hi = torch.tensor([float(FIELD_SPECS[f].maximum) for f in SCORE_FIELDS])
    sign = torch.tensor([-1.0 if f in LOWER_IS_WORSE else 1.0 for f in SCORE_FIELDS])
    return lo, hi, sign


def severity(scores: torch.Tensor) -> torch.Tensor:
    """(B, F) values (NaN = missing) -> (B, F) in [0, 1]: 0 at each scale's healthy end, 1 at its impaired end;
    a missing score reads 0 here (its weight in the path's mean is 0)."""
    lo, hi, sign = (t.to(scores.device, scores.dtype) for t in _scale())
    x = (scores - lo) / (hi - lo)
    x = torch.where(sign > 0, x, 1 - x)
    return torch.nan_to_num(x, nan=0.0).clamp(0.0, 1.0)  # NaN never reaches a gradient (0 * NaN is NaN)


class ScorePath(nn.Module):
    """scores (B, F) float, NaN = missing -> logit shifts (B, C), [0, t_1, t_1 + t_2, ...], non-decreasing in every
    score's severity. ``knots``: linear pieces per score and threshold.

    Each known score gives its own estimate of each threshold's level, e = offset + g(x) (g non-decreasing in the
    severity x); t_k is their weighted mean, with a learned positive weight per score (how much it is trusted), over
    the scores the record holds, shrunk towards 0 by a learned prior weight: sum(w e) / (sum(w) + prior). A missing
    score leaves the mean instead of standing in with a guess: the scores measure one disease and say much the
    same, so a sum would count "MMSE 29" and "CDR 0" as two proofs of health and read a missing score as an average
    case's (an MCI's) beside them. The prior makes more scores that agree surer than one, and a record without
    scores adds nothing: the image and the text decide it, as the rest of the model learned to.
    """

    def __init__(self, num_classes: int, knots: int) -> None:
        super().__init__()
        n = len(SCORE_FIELDS)
        self.knots = knots
        # softplus(raw) is each piece's rise: at the start every score's estimate rises evenly across its scale, 3
        # log-odds in all per threshold, and all scores and the prior weigh alike (trainer.score_path_fit, then
        # training, shape all of these)
        rise = 3.0 / knots
        self.raw_rise = nn.Parameter(torch.full((num_classes - 1, n, knots), math.log(math.expm1(rise))))
        self.offset = nn.Parameter(torch.zeros(num_classes - 1, n))
        self.raw_weight = nn.Parameter(torch.zeros(num_classes - 1, n))
        self.raw_prior = nn.Parameter(torch.zeros(num_classes - 1))  # softplus: a prior as strong as one score
        #: the calibration's temperature (engine.checkpoint.apply_temperature): the shifts are logits like the
        #: fusion's and are divided by it too; not a weight, never saved (1 while training)
        self.temperature = 1.0

    def estimates(self, scores: torch.Tensor) -> torch.Tensor:
        """(B, F) -> (B, C-1, F): each score's estimate of each threshold's level (meaningless where missing)."""
        x = severity(scores.float())
        k = torch.arange(self.knots, device=x.device, dtype=x.dtype)
        ramp = (x[..., None] * self.knots - k).clamp(0.0, 1.0)           # (B, F, K): how far into each piece
        return self.offset[None] + torch.einsum("bfk,tfk->btf", ramp, F.softplus(self.raw_rise))

    def weights(self, scores: torch.Tensor) -> torch.Tensor:
        """(B, F) -> (B, C-1, F): each known score's share of each threshold's level (0 where missing); the shares
        sum to less than 1, the rest is the prior's (a level of 0)."""
        known = (~torch.isnan(scores.float())).to(self.raw_weight.dtype)[:, None, :]
        w = F.softplus(self.raw_weight)[None] * known
        return w / (w.sum(-1, keepdim=True) + F.softplus(self.raw_prior)[None, :, None])

    def forward(self, scores: torch.Tensor) -> torch.Tensor:
        t = (self.weights(scores) * self.estimates(scores)).sum(-1)   # (B, C-1); 0 for a record without scores
        zero = torch.zeros_like(t[:, :1])
        return torch.cat([zero, torch.cumsum(t, dim=-1)], dim=-1) / self.temperature  # (B, C)
