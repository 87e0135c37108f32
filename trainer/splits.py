"""Subject-wise data splits: all visits of a subject land in one split, so no subject is scored by a
model that trained on it.

A subject is the pair (dataset, subject_id), both normalised (trainer.subject_ids.normalise_id: "SUB-01",
"sub-01 " and "sub\u200b-01" are one person). Stratification uses each subject's baseline label (the
label of its earliest visit: bl/sc first, then by the visit's number, then table order), so a
converter counts once, by where it started. Fractions are fractions of subjects, not of visits.
"""
from __future__ import annotations

import math
import re
from collections import defaultdict
from typing import Iterable, Mapping, Sequence

import numpy as np

from engine.errors import AlifuseInputError
from trainer.records import CaseRecord
from trainer.subject_ids import normalise_id

SubjectKey = tuple[str, str]
SPLIT_NAMES: dict[int, tuple[str, ...]] = {2: ("train", "test"), 3: ("train", "val", "test")}
_BASELINE = {"bl", "sc", "scmri", "base", "baseline", "init"}


class DataLeakageError(AlifuseInputError):
    """A subject appears in two splits that must not share subjects."""


def subject_key(record: CaseRecord) -> SubjectKey:
    """(data set, subject id), normalised: spellings of one id are one subject, never one in each split."""
    return (normalise_id(record.dataset), normalise_id(record.subject_id))


def visit_rank(visit: str) -> float:
    """Order of a visit code in time: bl/sc -> 0, m06 -> 6, MR2 -> 2, 03 -> 3, unknown -> inf."""
    v = visit.strip().lower()
    if v in _BASELINE:
        return 0.0
    m = re.search(r"(\d+)$", v)
    return float(m.group(1)) if m else math.inf


def baseline_labels(records: Sequence[CaseRecord]) -> dict[SubjectKey, str]:
    """Label of each subject's earliest visit."""
    best: dict[SubjectKey, tuple[float, int, str]] = {}
    for i, r in enumerate(records):
        cand = (visit_rank(r.visit), i, r.label)
        k = subject_key(r)
        if k not in best or cand < best[k]:
            best[k] = cand
    return {k: v[2] for k, v in best.items()}


def split_subjects(records: Sequence[CaseRecord], fractions: Sequence[float] = (0.7, 0.1, 0.2),
                   seed: int = 0, stratify: bool = True) -> dict[str, list[CaseRecord]]:
    """Split records subject-wise into train/val/test (three fractions) or train/test (two).

    Subject counts per split are the fractions of all subjects rounded by largest remainder; with
    ``stratify`` each baseline class is split in the same proportions (within one subject per split).
    The same records and seed give the same split, whatever the order of the records.
    """
    fr = _check_fractions(fractions)
    names = SPLIT_NAMES[len(fr)]
    strata = _shuffled_strata(records, seed, stratify)
    counts = apportion({s: len(keys) for s, keys in strata.items()}, fr)
    where: dict[SubjectKey, int] = {}
    for s, keys in strata.items():
        start = 0
        for split, n in enumerate(counts[s]):
            where.update((k, split) for k in keys[start:start + n])
            start += n
    out: dict[str, list[CaseRecord]] = {n: [] for n in names}
    for r in records:
        out[names[where[subject_key(r)]]].append(r)
    return out


def kfold_subjects(records: Sequence[CaseRecord], k: int, seed: int = 0,
                   stratify: bool = True) -> list[dict[str, list[CaseRecord]]]:
    """``k`` subject-wise folds, each {"train": ..., "test": ...}; every subject is tested exactly once.

    Fold sizes differ by at most one subject, and so do the counts of each baseline class.
    """
    strata = _shuffled_strata(records, seed, stratify)
    n_subjects = sum(len(v) for v in strata.values())
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or not 2 <= k <= n_subjects:
        raise AlifuseInputError(f"folds k={k!r}: must be a whole number from 2 to the number of subjects ({n_subjects})")
    fold_of: dict[SubjectKey, int] = {}
    i = 0  # dealing continues across classes so that fold sizes stay balanced too
    for keys in strata.values():
        for key in keys:
            fold_of[key] = i % k
            i += 1
    folds = []
    for f in range(k):
        fold: dict[str, list[CaseRecord]] = {"train": [], "test": []}
        for r in records:
            fold["test" if fold_of[subject_key(r)] == f else "train"].append(r)
        folds.append(fold)
    return folds


def assert_disjoint(splits: Mapping[str, Iterable[CaseRecord]]) -> None:
    """Raise :class:`DataLeakageError` if any subject appears in two of ``splits``."""
    owner: dict[SubjectKey, str] = {}
    shown: dict[SubjectKey, tuple[str, str]] = {}
    clashes: dict[SubjectKey, tuple[str, str]] = {}
    for name, recs in splits.items():
        for r in recs:
            k = subject_key(r)
            first = owner.setdefault(k, name)
            shown.setdefault(k, (r.dataset, r.subject_id))
            if first != name and k not in clashes:
                clashes[k] = (first, name)
    if clashes:
        k, (a, b) = next(iter(clashes.items()))
        dataset, sid = shown[k]
        more = f"; {len(clashes) - 1} more subject(s) are in two splits" if len(clashes) > 1 else ""
        raise DataLeakageError(f"data leakage: subject {sid} ({dataset}) is in both '{a}' and '{b}'{more}")


def apportion(sizes: Mapping[str, int], fractions: Sequence[float]) -> dict[str, list[int]]:
    """Whole subject counts per (class, split): totals per split by largest remainder, each class
    within one of its exact share where the totals allow."""
    totals = _largest_remainder(sum(sizes.values()), fractions)
    counts = {c: [math.floor(n * f + 1e-9) for f in fractions] for c, n in sizes.items()}
    need = [t - sum(counts[c][s] for c in sizes) for s, t in enumerate(totals)]
    # Classes with the most units left to place choose first; a unit goes where the totals lack most.
    for c in sorted(sizes, key=lambda c: (-(sizes[c] - sum(counts[c])), c)):
        frac = [sizes[c] * f - math.floor(sizes[c] * f + 1e-9) for f in fractions]
        got = [False] * len(fractions)
        for _ in range(sizes[c] - sum(counts[c])):
            open_ = [s for s in range(len(fractions)) if need[s] > 0]
            fair = [s for s in open_ if not got[s] and frac[s] > 1e-9] or open_
            s = max(fair, key=lambda s: (need[s], frac[s], -s))
            counts[c][s] += 1
            need[s] -= 1
            got[s] = True
    return counts


def _largest_remainder(n: int, fractions: Sequence[float]) -> list[int]:
    exact = [n * f for f in fractions]
    out = [math.floor(x + 1e-9) for x in exact]
    order = sorted(range(len(exact)), key=lambda s: (-(exact[s] - out[s]), s))
    for s in order[: n - sum(out)]:
        out[s] += 1
    return out


def _check_fractions(fractions: Sequence[float]) -> tuple[float, ...]:
    try:
        fr = tuple(float(f) for f in fractions)
    except (TypeError, ValueError):
        fr = ()
    if len(fr) not in SPLIT_NAMES or any(not math.isfinite(f) or f < 0 for f in fr) or abs(sum(fr) - 1) > 1e-6:
        raise AlifuseInputError(f"split fractions {tuple(fractions)!r}: need 2 (train, test) or 3 (train, val, test) "
                                "non-negative numbers that sum to 1")
    return fr


def _shuffled_strata(records: Sequence[CaseRecord], seed: int, stratify: bool) -> dict[str, list[SubjectKey]]:
    """Subjects by baseline class (one stratum without ``stratify``), each in a seeded random order."""
    if not records:
        raise AlifuseInputError("split: there are no records to split")
    labels = baseline_labels(records)
    # each subject sorts by its first spelling (the least (dataset, id) as written): ids that need no
    # normalisation keep the order, and so the splits, of runs made before ids were normalised
    spelt: dict[SubjectKey, tuple[str, str]] = {}
    for r in records:
        k = subject_key(r)
        spelt[k] = min(spelt.get(k, (r.dataset, r.subject_id)), (r.dataset, r.subject_id))
    groups: dict[str, list[SubjectKey]] = defaultdict(list)
    for key, label in labels.items():
        groups[label if stratify else ""].append(key)
    rng = np.random.default_rng(seed)
    # Sorted before shuffling: the split depends on the subjects and the seed, not the record order.
    return {g: [keys[i] for i in rng.permutation(len(keys))]
            for g, keys in ((g, sorted(groups[g], key=lambda k: (spelt[k], k))) for g in sorted(groups))}


def run_splits(records: Sequence[CaseRecord], seed: int = 0, folds: int | None = None,
               fold: int | None = None) -> dict[str, list[CaseRecord]]:
    """The train/val/test split of a training run, reproducible from (seed, folds, fold) alone.

    Without folds: subject-wise, stratified 70/10/20. With ``folds`` = k: fold ``fold`` is the test set and
    one ninth of the remaining subjects become the validation set (model selection), the rest training.
    """
    if folds is None:
        return split_subjects(records, (0.7, 0.1, 0.2), seed=seed)
    if fold is None or not 0 <= fold < folds:
        raise AlifuseInputError(f"--fold {fold!r}: must be from 0 to {folds - 1} with --folds {folds}")
    chosen = kfold_subjects(records, folds, seed)[fold]
    rest = split_subjects(chosen["train"], (8 / 9, 1 / 9), seed=seed)
    return {"train": rest["train"], "val": rest["test"], "test": chosen["test"]}
