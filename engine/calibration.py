"""How sure the model is: temperature scaling, expected calibration error, and the "uncertain" verdict.

A checkpoint's probabilities are calibrated on its validation split by one temperature T (Guo et al., 2017):
p = softmax(logits / T), fitted by minimising the negative log-likelihood. T does not change the argmax.
The verdict is the predicted class, or ``"uncertain"`` where the calibrated top probability is below a
threshold chosen on the same validation split (:func:`choose_threshold`). Both are stored in the checkpoint's
metadata (key ``"calibration"``, :class:`Calibration` as JSON); a checkpoint without it is "not calibrated":
its probabilities are shown as they are and it never says "uncertain" from its confidence (only where a record's
scores disagree, engine.score_agreement).

numpy and scipy only: no torch, no Qt.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping, Sequence

import numpy as np

from engine.errors import AlifuseInputError

UNCERTAIN = "uncertain"
#: temperatures outside this range mean the fit ran away (degenerate data), not a calibration
T_BOUNDS = (0.05, 20.0)
DEFAULT_TARGET_ACCURACY = 0.9
MIN_COVERAGE = 0.2
N_BINS = 15


@dataclass(frozen=True)
class Calibration:
    """A checkpoint's calibration and what it was fitted on (the validation split of its training run)."""

    temperature: float                 #: p = softmax(logits / temperature)
    uncertain_below: float             #: calibrated top probability below this -> "uncertain"
    target_accuracy: float             #: the accuracy the threshold aims for among the cases it answers
    n_val: int                         #: validation cases it was fitted on
    val_ece_before: float              #: validation ECE of the raw probabilities
    val_ece_after: float               #: ... and of the calibrated ones
    val_coverage: float                #: fraction of validation cases answered (not uncertain) at the threshold
    val_selective_accuracy: float      #: accuracy among those cases
    data: str = ""                     #: the --data the validation split came from

    def __post_init__(self) -> None:
        def number(name: str, ok, what: str) -> None:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not ok(v):
                raise AlifuseInputError(f"calibration field {name!r}: {v!r} is not a finite number {what}")

        number("temperature", lambda v: v > 0, "> 0")
        for name in ("uncertain_below", "target_accuracy", "val_ece_before", "val_ece_after", "val_coverage",
                     "val_selective_accuracy"):
            number(name, lambda v: 0 <= v <= 1, "in [0, 1]")
        if isinstance(self.n_val, bool) or not isinstance(self.n_val, int) or self.n_val < 1:
            raise AlifuseInputError(f"calibration field 'n_val': {self.n_val!r} is not a whole number >= 1")
        if not isinstance(self.data, str):
            raise AlifuseInputError(f"calibration field 'data': {self.data!r} is not text")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, allow_nan=False)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Calibration":
        if not isinstance(d, Mapping):
            raise AlifuseInputError(f"calibration: not a JSON object ({type(d).__name__})")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise AlifuseInputError(f"calibration field {unknown[0]!r}: unknown")
        required = {f.name for f in fields(cls) if f.name != "data"}
        missing = sorted(required - set(d))
        if missing:
            raise AlifuseInputError(f"calibration field {missing[0]!r}: missing")
        return cls(**dict(d))

    @classmethod
    def from_json(cls, text: str) -> "Calibration":
        try:
            d = json.loads(text)
        except (TypeError, json.JSONDecodeError) as exc:
            raise AlifuseInputError(f"calibration: not JSON ({exc})") from None
        return cls.from_dict(d)


# -- the numbers --
def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _nll(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    z = np.asarray(logits, dtype=np.float64) / temperature
    m = z.max(axis=1, keepdims=True)
    lse = (m[:, 0] + np.log(np.exp(z - m).sum(axis=1)))
    return float((lse - z[np.arange(len(labels)), labels]).mean())


def _check(logits_or_probs: np.ndarray, labels: Sequence[int], what: str) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(logits_or_probs, dtype=np.float64)
    y = np.asarray(labels)
    if x.ndim != 2 or x.shape[1] < 2 or y.shape != (x.shape[0],) or len(y) == 0:
        raise AlifuseInputError(f"{what}: need (N, C) values with C >= 2 and N >= 1 labels, got {x.shape} "
                                f"and {y.shape}")
    if not np.isfinite(x).all():
        raise AlifuseInputError(f"{what}: values are not all finite")
    y = y.astype(np.int64)
    if y.min() < 0 or y.max() >= x.shape[1]:
        raise AlifuseInputError(f"{what}: labels must lie in 0..{x.shape[1] - 1}")
    return x, y


def fit_temperature(logits: np.ndarray, labels: Sequence[int]) -> float:
    """The T in ``T_BOUNDS`` minimising the NLL of softmax(logits / T) (bounded search over log T)."""
    from scipy.optimize import minimize_scalar

    z, y = _check(logits, labels, "fit_temperature")
    lo, hi = math.log(T_BOUNDS[0]), math.log(T_BOUNDS[1])
    res = minimize_scalar(lambda s: _nll(z, y, math.exp(s)), bounds=(lo, hi), method="bounded",
                          options={"xatol": 1e-6})
    return float(math.exp(res.x))


def _bin_index(conf: np.ndarray, n_bins: int) -> np.ndarray:
    """Equal-width bins over [0, 1], right-closed: (0, 1/n], (1/n, 2/n], ... (0 goes to the first)."""
    return np.clip(np.ceil(conf * n_bins).astype(np.int64) - 1, 0, n_bins - 1)


def reliability_bins(probs: np.ndarray, labels: Sequence[int], n_bins: int = N_BINS) -> dict[str, np.ndarray]:
    """Per equal-width confidence bin: ``edges`` (n_bins + 1), ``count``, ``confidence`` (mean top probability)
    and ``accuracy`` (fraction whose top class is right); NaN where a bin is empty."""
    p, y = _check(probs, labels, "reliability_bins")
    conf, correct = p.max(axis=1), (p.argmax(axis=1) == y).astype(np.float64)
    idx = _bin_index(conf, n_bins)
    count = np.bincount(idx, minlength=n_bins).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(idx, conf, n_bins) / count
        acc = np.bincount(idx, correct, n_bins) / count
    return {"edges": np.linspace(0.0, 1.0, n_bins + 1), "count": count,
            "confidence": np.where(count > 0, mean_conf, np.nan), "accuracy": np.where(count > 0, acc, np.nan)}


def expected_calibration_error(probs: np.ndarray, labels: Sequence[int], n_bins: int = N_BINS) -> float:
    """Top-label ECE: sum over equal-width confidence bins of (bin share) x |accuracy - mean confidence|."""
    b = reliability_bins(probs, labels, n_bins)
    keep = b["count"] > 0
    w = b["count"][keep] / b["count"].sum()
    return float(np.sum(w * np.abs(b["accuracy"][keep] - b["confidence"][keep])))


@dataclass(frozen=True)
class Threshold:
    threshold: float
    coverage: float              #: fraction of cases with top probability >= threshold
    selective_accuracy: float    #: accuracy among them
    reached_target: bool


def choose_threshold(probs: np.ndarray, labels: Sequence[int], target_accuracy: float = DEFAULT_TARGET_ACCURACY,
                     min_coverage: float = MIN_COVERAGE) -> Threshold:
    """The confidence below which the model says "uncertain", chosen on validation cases.

    A case is answered when its top probability is >= t. Candidates are t = 0 (answer everything) and each
    case's own top probability (that case is answered). The rule:

    1. the smallest candidate t whose answered cases are right at least ``target_accuracy`` of the time;
    2. if no candidate reaches it, the candidate with the highest accuracy among its answered cases, among
       those that answer at least ``min_coverage`` of the cases (ties: the smaller t, i.e. more answered).

    ``coverage`` (fraction answered) and ``selective_accuracy`` are reported at the chosen t.
    """
    p, y = _check(probs, labels, "choose_threshold")
    if not 0.0 <= target_accuracy <= 1.0 or not 0.0 < min_coverage <= 1.0:
        raise AlifuseInputError(f"choose_threshold: target_accuracy {target_accuracy} must be in [0, 1] and "
                                f"min_coverage {min_coverage} in (0, 1]")
    conf, correct = p.max(axis=1), p.argmax(axis=1) == y
    order = np.argsort(-conf, kind="stable")
    conf_sorted, correct_sorted = conf[order], correct[order]
    n = len(y)
    # candidate thresholds in increasing order; kept(t) = cases with conf >= t
    cands = np.unique(np.concatenate([[0.0], conf]))
    kept = n - np.searchsorted(conf_sorted[::-1], cands, side="left")       # how many have conf >= t
    right = np.concatenate([[0], np.cumsum(correct_sorted)])[kept]            # right among them
    acc = np.where(kept > 0, right / np.maximum(kept, 1), 0.0)
    cov = kept / n
    ok = np.nonzero((kept > 0) & (acc >= target_accuracy - 1e-12))[0]
    if len(ok):
        i, reached = int(ok[0]), True
    else:
        allowed = np.nonzero(cov >= min_coverage - 1e-12)[0]
        i = int(allowed[np.argmax(acc[allowed])])  # argmax takes the first (smallest t) of ties
        reached = False
    return Threshold(float(cands[i]), float(cov[i]), float(acc[i]), reached)


def verdict(probs: Sequence[float], class_names: Sequence[str], calibration: Calibration | None) -> str:
    """The class with the highest probability, or "uncertain" when calibrated and below the threshold."""
    p = np.asarray(probs, dtype=np.float64)
    best = int(p.argmax())
    if calibration is not None and p[best] < calibration.uncertain_below:
        return UNCERTAIN
    return str(class_names[best])


def _percent_pair(p: float, threshold: float) -> tuple[str, str]:
    """p and the threshold as percentages with the fewest decimals (0-2) that keep them on the right side of each
    other: 89.9% below 90%, not "90% below 90%"."""
    for d in (0, 1, 2):
        a, b = round(100 * p, d), round(100 * threshold, d)
        if (a < b) == (p < threshold) and (a != b or p == threshold):
            break
    return f"{100 * p:.{d}f}%", f"{100 * threshold:.{d}f}%"


def certainty_sentence(probabilities: Mapping[str, float], verdict_: str, calibration: Calibration | None) -> str:
    """One line for a person: how sure the model is about this case, and on what that rests."""
    ranked = sorted(probabilities.items(), key=lambda kv: -kv[1])
    (best, p_best), second = ranked[0], ranked[1][0] if len(ranked) > 1 else None
    if calibration is None:
        return (f"Not calibrated: this checkpoint carries no calibration, so {best} at {p_best:.0%} may be over- "
                f"or under-confident and it never says 'uncertain' from its confidence (calibrate it with "
                f"alifuse-calibrate)")
    shown, below = _percent_pair(p_best, calibration.uncertain_below)
    rule = f"it says 'uncertain' below {below}, chosen on {calibration.n_val} validation cases"
    if verdict_ == UNCERTAIN:
        return f"Uncertain: the model cannot tell {best} from {second} (best {shown}; {rule})"
    return (f"Calibrated: {best} at {shown} ({rule}, where it answered {calibration.val_coverage:.0%} "
            f"of them and was right on {calibration.val_selective_accuracy:.0%})")


def describe_calibration(calibration: Calibration | None) -> str:
    """The model card's line: what the calibration is and what it was fitted on."""
    if calibration is None:
        return "not calibrated (probabilities as trained; never says 'uncertain' from its confidence)"
    c = calibration
    return (f"temperature {c.temperature:.3g} on {c.n_val} validation cases (ECE {c.val_ece_before:.1%} -> "
            f"{c.val_ece_after:.1%}); 'uncertain' below {c.uncertain_below:.0%} (validation: answered "
            f"{c.val_coverage:.0%}, right on {c.val_selective_accuracy:.0%} of those)")
