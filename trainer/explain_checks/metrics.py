"""The numbers of the explanation checks, on plain arrays: no model, no files.

Maps are (S, S, S) relevance volumes on the model grid (non-negative, as :func:`engine.explain.explain` gives);
masks are boolean arrays of the same shape. Patch order matches :func:`engine.patches.patchify` (z fastest).
"""
from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np
from scipy import ndimage
from scipy.stats import spearmanr


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two maps of equal shape (flattened).

    A constant map ranks nothing, so it shares no ranking with anything: 0, not NaN.
    """
    x, y = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"maps of {x.size} and {y.size} values cannot be compared")
    if x.size < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return 0.0
    return float(spearmanr(x, y)[0])


def patch_scores(volume: np.ndarray, p: int) -> np.ndarray:
    """(S, S, S) voxel map -> (N,) mean per p^3 patch, N = (S/p)^3, in patchify order."""
    v = np.asarray(volume, dtype=np.float64)
    g = v.shape[0] // p
    return v.reshape(g, p, g, p, g, p).mean(axis=(1, 3, 5)).ravel()


def top_k_indices(scores: np.ndarray, k: int, candidates: np.ndarray | None = None) -> np.ndarray:
    """Indices of the ``k`` highest ``scores`` (ties: lower index first), optionally among ``candidates`` only."""
    s = np.asarray(scores, dtype=np.float64)
    idx = np.arange(s.size) if candidates is None else np.asarray(candidates, dtype=np.int64)
    order = np.argsort(-s[idx], kind="stable")
    return idx[order[:k]]


def random_k_indices(candidates: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """``k`` distinct indices drawn uniformly from ``candidates``."""
    c = np.asarray(candidates, dtype=np.int64)
    return rng.choice(c, size=min(k, c.size), replace=False)


def fraction_count(n: int, fraction: float) -> int:
    """How many of ``n`` items make ``fraction`` of them: rounded up, at least 1 when n > 0."""
    return min(n, max(1, math.ceil(fraction * n - 1e-9))) if n > 0 else 0


def delete_patches(image: np.ndarray, patches: Iterable[int], p: int, fill: float = 0.0) -> np.ndarray:
    """Copy of (S, S, S) ``image`` with the given patches (patchify order) set to ``fill``."""
    out = np.array(image, dtype=np.float32, copy=True)
    g = out.shape[0] // p
    for n in patches:
        x, y, z = np.unravel_index(int(n), (g, g, g))
        out[x * p:(x + 1) * p, y * p:(y + 1) * p, z * p:(z + 1) * p] = fill
    return out


def brain_patches(image: np.ndarray, p: int, threshold: float) -> np.ndarray:
    """Indices of the patches that hold at least one brain voxel (image > threshold)."""
    return np.flatnonzero(patch_scores(np.asarray(image) > threshold, p) > 0)


def relevance_share(rel: np.ndarray, mask: np.ndarray, brain: np.ndarray) -> tuple[float, float]:
    """(share of the brain's relevance inside the mask, the mask's share of the brain's voxels).

    Both are taken inside the brain only, so a uniform map gives share == mask share (ratio 1). The relevance
    share is NaN when the map puts nothing on the brain.
    """
    r, m, b = np.asarray(rel, dtype=np.float64), np.asarray(mask, bool), np.asarray(brain, bool)
    if not (r.shape == m.shape == b.shape):
        raise ValueError(f"map {r.shape}, mask {m.shape} and brain {b.shape} must have one shape")
    n_brain = int(b.sum())
    if n_brain == 0:
        raise ValueError("the brain mask is empty: nothing to compare with")
    mask_share = float((m & b).sum() / n_brain)
    total = float(r[b].sum())
    return (float(r[m & b].sum() / total) if total > 0 else math.nan), mask_share


def dilate(mask: np.ndarray, voxels: int) -> np.ndarray:
    """Boolean mask grown by ``voxels`` in every direction (a cube: Chebyshev distance <= voxels)."""
    m = np.asarray(mask, bool)
    if voxels <= 0 or not m.any():
        return m.copy()
    return ndimage.binary_dilation(m, structure=np.ones((3, 3, 3), bool), iterations=int(voxels))


def pointing_hit(rel: np.ndarray, target: np.ndarray) -> bool:
    """Pointing game: does the voxel of maximal relevance lie inside ``target``?

    Maps built from patch scores can tie at the maximum (a whole patch at 1): then most of the tied voxels must
    lie inside. An all-zero map points nowhere: a miss.
    """
    r = np.asarray(rel, dtype=np.float64)
    top = r.max(initial=0.0)
    if not top > 0:
        return False
    tied = r == top
    return bool(np.asarray(target, bool)[tied].mean() > 0.5)


def mean_sd(values: Sequence[float]) -> dict[str, float | int]:
    """{"mean", "sd", "n"} over the finite values (sample sd; 0 for a single value; NaN for none)."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return {"mean": math.nan, "sd": math.nan, "n": 0}
    return {"mean": float(v.mean()), "sd": float(v.std(ddof=1)) if v.size > 1 else 0.0, "n": int(v.size)}
