"""Classification scores: ACC, AUC (macro one-vs-rest), sensitivity/specificity, balanced accuracy, bootstrap CIs."""
from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np
from sklearn.metrics import confusion_matrix, roc_auc_score


def auc(y: np.ndarray, probs: np.ndarray) -> float:
    """Binary: AUC of probs[:, 1] (or a 1-D score); multi-class: macro one-vs-rest. NaN if a class is absent."""
    y = np.asarray(y)
    p = np.asarray(probs, dtype=np.float64)
    k = 2 if p.ndim == 1 else p.shape[1]
    if len(np.unique(y)) < 2:
        return math.nan
    if k == 2:
        score = p if p.ndim == 1 else p[:, 1]
        return float(roc_auc_score(y, score))
    present = np.unique(y)
    if len(present) < k:  # macro OvR over the classes that occur
        return float(np.mean([roc_auc_score(y == c, p[:, c]) for c in present]))
    return float(roc_auc_score(y, p / p.sum(axis=1, keepdims=True), multi_class="ovr", average="macro"))


def scores(y: Sequence[int], probs: np.ndarray, class_names: Sequence[str]) -> dict:
    """ACC, AUC, balanced accuracy, per-class sensitivity/specificity and the confusion matrix."""
    y = np.asarray(y)
    probs = np.asarray(probs)
    pred = probs.argmax(axis=1)
    k = len(class_names)
    cm = confusion_matrix(y, pred, labels=list(range(k)))
    sens, spec = {}, {}
    for c, name in enumerate(class_names):
        tp, fn = cm[c, c], cm[c].sum() - cm[c, c]
        fp = cm[:, c].sum() - cm[c, c]
        tn = cm.sum() - tp - fn - fp
        sens[name] = float(tp / (tp + fn)) if tp + fn else math.nan
        spec[name] = float(tn / (tn + fp)) if tn + fp else math.nan
    present = [v for v in sens.values() if not math.isnan(v)]
    return {"n": int(len(y)), "acc": float((pred == y).mean()) if len(y) else math.nan, "auc": auc(y, probs),
            "balanced_acc": float(np.mean(present)) if present else math.nan,
            "sensitivity": sens, "specificity": spec, "confusion": cm.tolist(), "classes": list(class_names)}


def bootstrap_ci(y: Sequence[int], probs: np.ndarray, n: int = 1000, seed: int = 0,
                 level: float = 0.95) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap CIs of ACC, AUC and balanced accuracy, resampling cases."""
    y = np.asarray(y)
    probs = np.asarray(probs)
    rng = np.random.default_rng(seed)
    out: dict[str, list[float]] = {"acc": [], "auc": [], "balanced_acc": []}
    k = probs.shape[1]
    for _ in range(n):
        idx = rng.integers(0, len(y), len(y))
        yy, pp = y[idx], probs[idx]
        pred = pp.argmax(axis=1)
        out["acc"].append(float((pred == yy).mean()))
        out["auc"].append(auc(yy, pp))
        rec = [float((pred[yy == c] == c).mean()) for c in range(k) if (yy == c).any()]
        out["balanced_acc"].append(float(np.mean(rec)))
    lo, hi = (1 - level) / 2 * 100, (1 + level) / 2 * 100
    return {m: (float(np.nanpercentile(v, lo)), float(np.nanpercentile(v, hi))) for m, v in out.items()}


def scores_with_ci(y: Sequence[int], probs: np.ndarray, class_names: Sequence[str], n_boot: int = 1000,
                   metrics: Sequence[str] = ("acc", "auc", "balanced_acc"), digits: int = 4) -> dict:
    """A held-out set's figures as the reports write them: {"n", each of metrics, "ci95": {metric: [lo, hi]}},
    rounded to digits, CIs from bootstrap_ci (seed 0). Keys follow the order of metrics, so a report that names
    its own set keeps the layout of the JSON it wrote before."""
    s, ci = scores(y, probs, class_names), bootstrap_ci(y, probs, n=n_boot)
    return {"n": s["n"], **{m: round(s[m], digits) for m in metrics},
            "ci95": {m: [round(ci[m][0], digits), round(ci[m][1], digits)] for m in metrics}}


def _percentile_ci(stat: Callable[[np.ndarray], float], n_cases: int, n: int, seed: int,
                   level: float) -> tuple[float, float]:
    """Percentile bootstrap interval of ``stat`` (a figure of the cases at the given indices), over ``n``
    resamples of ``n_cases`` cases with replacement drawn from ``seed`` (resamples where it is undefined, NaN,
    left out)."""
    rng = np.random.default_rng(seed)
    values = [stat(rng.integers(0, n_cases, n_cases)) for _ in range(n)]
    lo, hi = np.nanpercentile(values, [(1 - level) / 2 * 100, (1 + level) / 2 * 100])
    return float(lo), float(hi)


def paired_auc_difference(y: Sequence[int], probs_a: np.ndarray, probs_b: np.ndarray, n: int = 1000, seed: int = 0,
                          level: float = 0.95) -> dict:
    """AUC(a) − AUC(b) of two models' (N, C) probabilities for the same N cases, with a percentile bootstrap CI
    that resamples the cases once for both models: pairing removes the between-case variance the two CIs of
    separate bootstraps each carry, so a difference whose CI excludes 0 is one the data shows."""
    y = np.asarray(y)
    lo, hi = _percentile_ci(lambda idx: auc(y[idx], probs_a[idx]) - auc(y[idx], probs_b[idx]), len(y), n, seed, level)
    return {"auc_diff": round(auc(y, probs_a) - auc(y, probs_b), 4), "ci95": [round(lo, 4), round(hi, 4)]}


def log_loss_ci(y: Sequence[int], probs: np.ndarray, n: int = 1000, seed: int = 0, level: float = 0.95) -> dict:
    """Mean cross-entropy -log p(true class) of (N, C) probabilities (clipped at 1e-12, so one case the model rules
    out costs 27.6, not infinity), with a percentile bootstrap CI over cases: the proper score the validation split
    picks checkpoints by, on a held-out set."""
    y = np.asarray(y)
    nll = -np.log(np.clip(np.asarray(probs, dtype=np.float64)[np.arange(len(y)), y], 1e-12, None))
    lo, hi = _percentile_ci(lambda idx: float(nll[idx].mean()), len(y), n, seed, level)
    return {"log_loss": round(float(nll.mean()), 4), "ci95": [round(lo, 4), round(hi, 4)]}


def to_two_class(probs: np.ndarray, y3: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """3-class NC/MCI/AD probabilities -> NC/impaired (MCI + AD summed), as the paper scores two-class sets."""
    p2 = np.stack([probs[:, 0], probs[:, 1:].sum(axis=1)], axis=1)
    return p2, None if y3 is None else (np.asarray(y3) > 0).astype(int)


def ece_noise_floor(probs: np.ndarray, n: int = 1000, seed: int = 0, level: float = 0.95) -> dict[str, float]:
    """The expected calibration error that ``probs`` (N, C) would show from sampling noise alone if the model were
    perfectly calibrated: labels drawn n times from the probabilities themselves; the mean and the upper percentile
    (``level``). On a few hundred cases it is a few points, so a measured ECE below it says nothing against the
    calibration. (A bootstrap over cases is no help here: resampling adds the same noise, and its interval for a
    small ECE can miss the figure itself.)"""
    from engine.calibration import expected_calibration_error

    probs = np.asarray(probs, dtype=float)
    rng = np.random.default_rng(seed)
    cum = probs.cumsum(axis=1)
    floor = [expected_calibration_error(probs, (rng.random((len(probs), 1)) > cum).sum(axis=1)
                                        .clip(0, probs.shape[1] - 1)) for _ in range(n)]
    return {"mean": round(float(np.mean(floor)), 4),
            f"p{round(level * 100)}": round(float(np.percentile(floor, level * 100)), 4)}
