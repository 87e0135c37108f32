"""Start the score path (engine.score_path) from the training records, not from an even rise.

Inside the whole model the path's few hundred parameters learn slowly: the fusion, fine-tuned beside it, takes up
what the scores explain before the path does (a run from an even rise of 3 log-odds per scale ended near 4; the
scores alone want 13 to 20 for MMSE, CDR and CDR-SB). Fitting the path alone to the training cases' labels first
(full batch, a second or two) starts it where the scores put it; training then shapes it beside the image and text.
Without an MRI or a word of text, such a path alone classified each textbook record of tests/model right.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from engine.score_path import ScorePath

#: Adam steps and learning rate of the fit: full batch, so it is deterministic and converges well within them
FIT_STEPS, FIT_LR = 1500, 0.03


def fit_score_path(path: ScorePath, scores: torch.Tensor, labels: torch.Tensor) -> float:
    """Fit ``path`` in place to ``labels`` (N,) from ``scores`` (N, F) (NaN = missing), alone: its offsets are the
    class priors (an extra bias here would be thrown away, and the prior with it); returns the final
    cross-entropy. Cases without a label (-1) are left out."""
    keep = labels >= 0
    scores, labels = scores[keep].float(), labels[keep].long()
    if len(labels) == 0:
        return float("nan")
    opt = torch.optim.Adam(path.parameters(), lr=FIT_LR)
    with torch.enable_grad():
        for _ in range(FIT_STEPS):
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(path(scores), labels)
            loss.backward()
            opt.step()
    return float(loss.detach())
