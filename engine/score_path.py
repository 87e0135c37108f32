"""The four cognitive scores read as numbers, through a path that is monotone by construction.

A text model reads "The CDR sum of boxes is 10.5." as word-pieces ("10", ".", "5") and may learn any shape of
response to them: the record audit found CDR-SB 10.5 read as more impaired than 11 beside a quarter of the
records, and no soft penalty removed it (docs/RESULTS.md). A model with ``config.score_knots`` > 0 leaves MMSE,
CDR, CDR-SB and delayed recall out of its text and reads them here instead.

Each score's value becomes its severity x in [0, 1] (0 at the healthy end of its scale, 1 at the impaired end), and
for each of the C - 1 ordered thresholds ("impaired at all", "dementia") a non-decreasing piecewise-linear function
of it with ``score_knots`` pieces (non-negative slopes: Gupta et al. 2016 build monotonicity in the same way): the
score's estimate of that threshold's level. A threshold's level t_k is the weighted mean of the estimates of the
scores the record holds, shrunk towards 0 by a prior weight (positive weights: such a mean rises with each of its
terms; a record without scores gets 0). With ``config.score_sum`` each known score also adds a term of its own,
u_f(x) non-decreasing: in the mean three scores outvote a fourth that disagrees, this way it still counts. The
levels t_1 .. t_{C-1} are added to the fusion's logits of the ordered classes as [0, t_1, t_1 + t_2, ...]: a shift
that rises with the class index, so the expected stage sum_k k P(k) and every cumulative log-odds log P(y >= k) /
P(y < k) can only rise when a score worsens (the derivative of the expected stage along such a shift is a covariance
of two non-decreasing functions of the class, never negative), whatever the image and the rest of the record say.
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

    With ``own_terms`` (config.score_sum), t_k also gets sum over the known scores of u = own_offset + h(x), h
    non-decreasing: in the mean, "MMSE 29, CDR 0, CDR-SB 0" outvote a delayed recall of 0 that the cohort reads as
    impairment (docs/generator_posterior.json); its own term lets it count. Fitted with records of fewer scores
    (trainer.score_path_refit), the mean and the terms share what the scores say.
    """

    def __init__(self, num_classes: int, knots: int, own_terms: bool = False) -> None:
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
        if own_terms:
            # each known score's own term, u = own_offset + h(x), h non-decreasing; a missing score adds 0. It starts
            # nearly flat (rises of softplus(-6) per piece) and is fitted (trainer.score_path_refit)
            self.raw_own_rise = nn.Parameter(torch.full((num_classes - 1, n, knots), -6.0))
            self.own_offset = nn.Parameter(torch.zeros(num_classes - 1, n))
        else:
            self.raw_own_rise = self.own_offset = None

    def prepare(self, scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, F) -> what the forward needs of the scores, none of it learned: the ramp (B, F, K), how far each
        score's severity reaches into each of its linear pieces, in [0, 1]; and known (B, 1, F), 1 where the score
        is given. A fit over fixed scores (trainer.score_path_fit) computes them once, not at every step."""
        x = severity(scores.float())
        k = torch.arange(self.knots, device=x.device, dtype=x.dtype)
        ramp = (x[..., None] * self.knots - k).clamp(0.0, 1.0)
        return ramp, (~torch.isnan(scores.float())).to(self.offset.dtype)[:, None, :]

    def estimates(self, ramp: torch.Tensor) -> torch.Tensor:
        """ramp (B, F, K) -> (B, C-1, F): each score's estimate of each threshold's level (meaningless where
        missing)."""
        return self.offset[None] + torch.einsum("bfk,tfk->btf", ramp, F.softplus(self.raw_rise))

    def own_terms(self, ramp: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
        """ramp (B, F, K), known (B, 1, F) -> (B, C-1, F): each known score's own term (0 where missing); a path
        built with ``own_terms``."""
        own = self.own_offset[None] + torch.einsum("bfk,tfk->btf", ramp, F.softplus(self.raw_own_rise))
        return own * known

    def weights(self, known: torch.Tensor) -> torch.Tensor:
        """known (B, 1, F) -> (B, C-1, F): each known score's share of each threshold's level (0 where missing); the
        shares sum to less than 1, the rest is the prior's (a level of 0)."""
        w = F.softplus(self.raw_weight)[None] * known
        return w / (w.sum(-1, keepdim=True) + F.softplus(self.raw_prior)[None, :, None])

    def forward(self, scores: torch.Tensor) -> torch.Tensor:
        return self.shifts(*self.prepare(scores))

    def shifts(self, ramp: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
        """The forward from :meth:`prepare`'s ramp and known -> (B, C) logit shifts."""
        t = (self.weights(known) * self.estimates(ramp)).sum(-1)   # (B, C-1); 0 for a record without scores
        if self.raw_own_rise is not None:
            t = t + self.own_terms(ramp, known).sum(-1)
        zero = torch.zeros_like(t[:, :1])
        return torch.cat([zero, torch.cumsum(t, dim=-1)], dim=-1)      # (B, C)
