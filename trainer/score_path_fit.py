"""Start the score path (engine.score_path) from the training records, not from an even rise.

Inside the whole model the path's few hundred parameters learn slowly: the fusion, fine-tuned beside it, takes up
what the scores explain before the path does (a run from an even rise of 3 log-odds per scale ended near 4; the
scores alone want 13 to 20 for MMSE, CDR and CDR-SB). Fitting the path to the training cases' labels first starts
it where the scores put it; training then shapes it beside the image and the text. Fitted alone, it counted what
the image and the text say a second time (the fused model came out overconfident, validation loss 0.45 against
0.35), so it is fitted on top of their logits (one pass over the training cases with the scores hidden, then the
path's full-batch fit, a second or two).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from engine.score_path import ScorePath

#: Adam steps and learning rate of the fit: full batch, so it is deterministic and converges well within them
FIT_STEPS, FIT_LR = 1500, 0.03


def roughness(path: ScorePath) -> torch.Tensor:
    """Sum of squared differences between neighbouring pieces' rises, over every score and threshold (the mean's
    estimates and, where the path has them, the own terms): 0 for a straight estimate, large for a staircase."""
    total = torch.zeros((), device=path.raw_rise.device)
    for raw in (path.raw_rise, path.raw_own_rise):
        if raw is not None:
            rise = F.softplus(raw)  # (C-1, F, K)
            total = total + (rise[..., 1:] - rise[..., :-1]).pow(2).sum()
    return total


def _inverse_softplus(y: torch.Tensor) -> torch.Tensor:
    """x with softplus(x) = y (y > 0), without overflow for large y."""
    return y + torch.log(-torch.expm1(-y))


class _RiseFloor(nn.Module):
    """A parametrization of ``raw_own_rise``: softplus(raw) = floor + softplus(q), so every piece rises at least
    ``floor`` whatever q the fit chooses; removed after the fit, it leaves the raw value, and the checkpoint stays
    the ordinary path."""

    def __init__(self, floor: float) -> None:
        super().__init__()
        self.floor = floor

    def forward(self, q: torch.Tensor) -> torch.Tensor:
        return _inverse_softplus(self.floor + F.softplus(q))

    def right_inverse(self, raw: torch.Tensor) -> torch.Tensor:  # a rise below the floor starts at it
        return _inverse_softplus((F.softplus(raw) - self.floor).clamp_min(1e-4))


def fit_score_path(path: ScorePath, scores: torch.Tensor, labels: torch.Tensor,
                   base: torch.Tensor | None = None, smooth: float = 0.0, min_rise: float = 0.0) -> float:
    """Fit ``path`` in place to ``labels`` (N,) from ``scores`` (N, F) (NaN = missing); returns the final
    cross-entropy. ``base`` (N, C): the rest of the model's logits for the same cases (the image and the text, no
    score), which the path's shifts are added to: it then learns what they leave, not what they say already. Without
    it the path is fitted alone, its offsets the class priors. Cases without a label (-1) are left out. ``smooth``
    weighs :func:`roughness` beside the cross-entropy: fitted without it, pieces that the records rarely decide alone
    stay flat beside steep ones (one MMSE of 22, 20 or 18 alone read alike), where the cohort's posterior rises
    smoothly. The cross-entropy returned is without the penalty. ``min_rise`` (log-odds; a path with own terms): each
    score's own term rises by at least this much per threshold across the score's scale, evenly spread over its
    pieces: beside any other scores, scan and text, the score then moves each threshold's level by that much at least
    (the mean's part only adds to it), where a cohort in which the other scores decide nearly every case would let
    it move almost nothing."""
    dev = path.raw_rise.device  # the model's: on a GPU run the path is there already
    keep = labels >= 0
    scores, labels = scores[keep].float().to(dev), labels[keep].long().to(dev)
    base = (torch.zeros(len(labels), path.raw_rise.shape[0] + 1) if base is None else base[keep.cpu()].float()).to(dev)
    if len(labels) == 0:
        return float("nan")
    if min_rise:
        if path.raw_own_rise is None:
            raise ValueError("min_rise needs a path with own terms")
        parametrize.register_parametrization(path, "raw_own_rise", _RiseFloor(min_rise / path.knots))
    try:
        opt = torch.optim.Adam(path.parameters(), lr=FIT_LR)
        prepared = path.prepare(scores)  # the scores do not change during the fit: their ramp is computed once
        with torch.enable_grad():
            for _ in range(FIT_STEPS):
                opt.zero_grad(set_to_none=True)
                loss = F.cross_entropy(base + path.shifts(*prepared), labels)
                (loss + smooth * roughness(path) if smooth else loss).backward()
                opt.step()
    finally:
        if min_rise:
            with torch.no_grad():
                parametrize.remove_parametrizations(path, "raw_own_rise", leave_parametrized=True)
    return float(loss.detach())


def with_score_subsets(scores: torch.Tensor, labels: torch.Tensor, base: torch.Tensor, copies: int,
                       keep: float, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The cases as recorded and ``copies`` more of each with every known score kept with probability ``keep``
    (the rest NaN, "not known"): scores (N, F), labels (N,), base (N, C) -> ((1 + copies) N, ...), the same rows
    first. Fitted on records as recorded, where three or four scores are nearly always known, the path's prior
    weight (how sure one score alone may make it) is never asked for: a record with one score then reads as surely
    as one with four that agree. Deterministic in ``seed``."""
    g = torch.Generator().manual_seed(seed)
    drawn = [scores]
    for _ in range(copies):
        kept = torch.rand(scores.shape, generator=g) < keep
        drawn.append(torch.where(kept, scores, torch.full_like(scores, float("nan"))))
    n = 1 + copies
    return torch.cat(drawn), labels.repeat(n), base.repeat(n, 1)


@torch.no_grad()
def base_logits(model: nn.Module, ds, device: torch.device, batch: int = 32) -> torch.Tensor:
    """(N, C) logits of every case of ``ds`` (a trainer.dataset.CaseDataset) as recorded, without augmentation, with
    its scores hidden: what the image and the text say before the score path adds anything. The cases are read
    shortest record first, each batch cut to its longest (engine.text_batches): the same logits to float rounding."""
    from engine.explain.reliance import hidden_scores
    from engine.text_batches import by_length, trim_text

    was_training = model.training
    model.eval()
    order = by_length(torch.stack([t.attention_mask for t in ds.texts]))
    out: list[torch.Tensor] = []
    try:
        for lo in range(0, len(order), batch):
            idx = order[lo:lo + batch]
            texts = [ds.texts[i] for i in idx]
            image = torch.stack([ds.image(i) for i in idx]).to(device) if model.cfg.use_image else None
            ids, mask = trim_text(torch.stack([t.input_ids for t in texts]),
                                  torch.stack([t.attention_mask for t in texts]))
            scores = hidden_scores(torch.stack([t.scores for t in texts])).to(device)
            out.append(model(image, ids.to(device), mask.to(device), scores=scores).float().cpu())
    finally:
        model.train(was_training)
    logits = torch.cat(out)
    return logits[torch.argsort(torch.tensor(order))]  # back to the dataset's order
