"""The display threshold a relevance map starts with, from the map itself (no Qt).

Methods spread their relevance very differently: on the demo case the relevance method's 99th percentile (inside
the head) is 0.54, Integrated Gradients' 0.16 — a fixed 50 % showed the first and hid the second entirely. So the
threshold starts where the map's own top voxels begin: the same share of the head is coloured whatever the method.
"""
from __future__ import annotations

import math

import numpy as np

#: the share of the head's voxels the overlay shows at first (the top 1 %)
SHOWN_SHARE = 0.01
#: the threshold slider's highest value (it moves in steps of 0.01)
MAX_THRESHOLD = 0.95


def default_threshold(relevance: np.ndarray, anatomy: np.ndarray | None = None,
                      shown_share: float = SHOWN_SHARE) -> float:
    """The threshold (in [0, MAX_THRESHOLD], a multiple of 0.01, rounded down so no top voxel is lost) above which
    ``shown_share`` of the map's voxels inside the head lie; the head is where ``anatomy`` (the MRI on the map's
    grid) is not zero, the whole map when that is almost nowhere."""
    rel = np.nan_to_num(np.asarray(relevance, dtype=np.float64))
    values = rel.ravel()
    if anatomy is not None and np.shape(anatomy) == rel.shape:
        inside = np.asarray(anatomy) != 0
        if np.count_nonzero(inside) > 0.01 * inside.size:  # a scan whose background is not zero: the whole map
            values = rel[inside]
    if values.size == 0:
        return 0.0
    q = float(np.percentile(values, 100.0 * (1.0 - shown_share)))
    return min(max(math.floor(q * 100 + 1e-9) / 100, 0.0), MAX_THRESHOLD)
