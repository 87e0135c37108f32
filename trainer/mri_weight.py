"""A margin on what the MRI adds: a clear case's own scan must move its prediction towards its diagnosis.

With a full record the fused model can leave the MRI almost unread: the record separates the classes well, and
the classification loss gives no reason to weigh a second source once the first one is right. The monotonicity
margin on the scores (trainer.monotone) made the record weigh more still (hiding the MRI moved the shipped model's
predictions by 11 points before it, 9 after). This hinge asks, for each training case with a scan and a clear
diagnosis (the ends of the ordered classes: NC and AD), that seeing the scan rather than a hidden one (all voxels
0, the reliance probe of engine.explain.reliance) moves the log-odds of the right end by at least ``margin``:

- AD: log-odds of dementia (AD vs NC or MCI) with the MRI >= without it + margin;
- NC: log-odds of impairment (MCI or AD vs NC) with the MRI <= without it - margin.

MCI cases are left out: their scans lie between the ends, so the right direction of each log-odds is not known.
By default the gradient reaches both predictions, so the margin is met partly by moving the one without the scan,
the very probe that measures the MRI's weight (reliance): after recipe step 9 about half of what hiding the MRI
moves came from that probe. ``alifuse-train --mri-margin-fixed`` holds it fixed (no gradient), so that only
reading the scan meets the margin; docs/RESULTS.md gives what each did.
"""
from __future__ import annotations

import torch

from trainer.monotone import cumulative_log_odds


def mri_margin_penalty(logits: torch.Tensor, logits_hidden: torch.Tensor, labels: torch.Tensor,
                       has_image: torch.Tensor, margin: float) -> torch.Tensor:
    """Mean hinge over the clear cases with a scan (0 when the batch has none).

    logits, logits_hidden: (B, C) with the case's MRI and with it hidden; labels: (B,) class index in 0 .. C-1
    (ordered, healthy first); has_image: (B,) bool, False for a case without a scan or with its scan dropped.
    """
    c = logits.shape[-1]
    healthy, demented = has_image & (labels == 0), has_image & (labels == c - 1)
    lo, lo_hidden = cumulative_log_odds(logits), cumulative_log_odds(logits_hidden)
    gaps = torch.cat([margin - (lo_hidden[healthy, 0] - lo[healthy, 0]),       # NC: impairment must fall
                      margin - (lo[demented, -1] - lo_hidden[demented, -1])])  # AD: dementia must rise
    if gaps.numel() == 0:
        return logits.sum() * 0.0
    return torch.relu(gaps).mean()
