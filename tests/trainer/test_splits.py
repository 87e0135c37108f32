"""Subject-wise splits: no leakage, fractions, stratification, determinism, k-fold."""
from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import AlifuseInputError
from trainer.records import CaseRecord
from trainer.splits import (
    DataLeakageError, apportion, assert_disjoint, baseline_labels, kfold_subjects, split_subjects,
)

FIX = Path(__file__).parent / "fixtures"


def cohort(sizes: dict[str, int], seed: int = 0, dataset: str = "adni") -> list[CaseRecord]:
    """Subjects with 1-4 visits each; the baseline label is the class, later visits may convert."""
    rng = random.Random(seed)
    recs = []
    for label, n in sizes.items():
        for i in range(n):
            sid = f"{label}_{i:03d}"
            for v in range(rng.randint(1, 4)):
                later = "AD" if (label == "MCI" and v >= 2) else label
                recs.append(CaseRecord(sid, "bl" if v == 0 else f"m{6 * v:02d}", Path(""), later, dataset,
                                       {"subject_id": sid}))
    rng.shuffle(recs)
    return recs


def subjects(recs):
    return {(r.dataset, r.subject_id) for r in recs}


SIZES = {"NC": 50, "MCI": 30, "AD": 20}


def test_no_subject_in_two_splits_for_many_seeds():
    recs = cohort(SIZES)
    for seed in range(40):
        splits = split_subjects(recs, seed=seed)
        assert_disjoint(splits)
        parts = [subjects(v) for v in splits.values()]
        assert sum(len(p) for p in parts) == len(subjects(recs)) == 100
        assert sorted(map(id, sum(splits.values(), []))) == sorted(map(id, recs))  # every visit once


def test_fractions_of_subjects_within_rounding():
    recs = cohort({"NC": 37, "MCI": 26, "AD": 18})
    splits = split_subjects(recs, fractions=(0.7, 0.1, 0.2), seed=3)
    n = len(subjects(recs))
    for name, f in zip(("train", "val", "test"), (0.7, 0.1, 0.2)):
        assert abs(len(subjects(splits[name])) - f * n) < 1


def test_stratification_keeps_baseline_class_proportions():
    recs = cohort(SIZES, seed=1)
    splits = split_subjects(recs, seed=7)
    for name, f in zip(("train", "val", "test"), (0.7, 0.1, 0.2)):
        counts = Counter(baseline_labels(splits[name]).values())
        for label, n in SIZES.items():
            assert abs(counts[label] - f * n) <= 1, (name, label, counts)


def test_without_stratification_classes_drift():
    recs = cohort({"NC": 60, "AD": 40}, seed=2)
    drift = 0.0
    for seed in range(10):
        test = split_subjects(recs, (0.5, 0.5), seed=seed, stratify=False)["test"]
        drift = max(drift, abs(Counter(baseline_labels(test).values())["AD"] - 20))
    assert drift > 1  # what stratification prevents


def test_same_seed_same_split_whatever_the_record_order():
    recs = cohort(SIZES)
    a = split_subjects(recs, seed=11)
    b = split_subjects(list(reversed(recs)), seed=11)
    assert {k: subjects(v) for k, v in a.items()} == {k: subjects(v) for k, v in b.items()}
    c = split_subjects(recs, seed=12)
    assert subjects(c["test"]) != subjects(a["test"])


def test_baseline_label_is_the_earliest_visit():
    recs = [CaseRecord("s", "m24", Path(""), "AD", "x"), CaseRecord("s", "bl", Path(""), "MCI", "x"),
            CaseRecord("t", "MR2", Path(""), "impaired", "x"), CaseRecord("t", "MR1", Path(""), "NC", "x")]
    assert baseline_labels(recs) == {("x", "s"): "MCI", ("x", "t"): "NC"}


def test_two_fractions_give_train_and_test():
    splits = split_subjects(cohort({"NC": 10, "AD": 10}), fractions=(0.8, 0.2))
    assert list(splits) == ["train", "test"]
    assert len(subjects(splits["test"])) == 4


@pytest.mark.parametrize("bad", [(0.7, 0.2), (0.5, 0.6, -0.1), (1.0,), (0.25,) * 4, ("a", "b")])
def test_bad_fractions_are_an_error(bad):
    with pytest.raises(AlifuseInputError, match=r"split fractions .*sum to 1"):
        split_subjects(cohort({"NC": 5}), fractions=bad)


def test_empty_input_is_an_error():
    with pytest.raises(AlifuseInputError, match="no records to split"):
        split_subjects([])


def test_same_subject_id_in_two_datasets_is_two_subjects():
    recs = [CaseRecord("1", "bl", Path(""), "NC", "aibl"), CaseRecord("1", "bl", Path(""), "NC", "nacc")]
    assert_disjoint({"train": recs[:1], "test": recs[1:]})


def test_assert_disjoint_names_the_subject_and_splits():
    recs = cohort({"NC": 3})
    leak = [r for r in recs if r.subject_id == "NC_001"][0]
    with pytest.raises(DataLeakageError, match=r"data leakage: subject NC_001 \(adni\) is in both 'train' and 'test'"):
        assert_disjoint({"train": recs, "test": [leak]})
    assert issubclass(DataLeakageError, AlifuseInputError)


def test_kfold_tests_every_subject_once_with_balanced_folds():
    recs = cohort(SIZES, seed=4)
    folds = kfold_subjects(recs, k=5, seed=9)
    tested = [subjects(f["test"]) for f in folds]
    assert set().union(*tested) == subjects(recs)
    assert sum(len(t) for t in tested) == 100
    for f, t in zip(folds, tested):
        assert_disjoint(f)
        assert len(t) == 20
        assert len(f["train"]) + len(f["test"]) == len(recs)
        counts = Counter(baseline_labels(f["test"]).values())
        assert all(abs(counts[c] - n / 5) <= 1 for c, n in SIZES.items())
    again = kfold_subjects(recs, k=5, seed=9)
    assert [subjects(f["test"]) for f in again] == tested


@pytest.mark.parametrize("k", [1, 101, 2.5])
def test_kfold_bad_k(k):
    with pytest.raises(AlifuseInputError, match=r"folds k=.*from 2 to the number of subjects \(100\)"):
        kfold_subjects(cohort(SIZES), k=k, seed=0)


@settings(max_examples=200, deadline=None)
@given(sizes=st.lists(st.integers(1, 80), min_size=1, max_size=5),
       cut=st.tuples(st.integers(0, 100), st.integers(0, 100)))
def test_apportion_totals_and_class_shares(sizes, cut):
    a, b = sorted(cut)
    fr = (a / 100, (b - a) / 100, (100 - b) / 100)
    classes = {f"c{i}": n for i, n in enumerate(sizes)}
    counts = apportion(classes, fr)
    total = sum(sizes)
    for s, f in enumerate(fr):
        assert abs(sum(c[s] for c in counts.values()) - f * total) < 1
        if f == 0:
            assert all(c[s] == 0 for c in counts.values())
    for name, n in classes.items():
        assert sum(counts[name]) == n
        assert all(abs(counts[name][s] - n * f) <= 1 for s, f in enumerate(fr))


def test_oasis_fixture_split_end_to_end():
    from trainer.readers import read_oasis2
    recs = read_oasis2(FIX / "oasis2_original.csv", None).records
    splits = split_subjects(recs, (0.5, 0.5), seed=0)
    assert_disjoint(splits)
    assert {r.subject_id for r in splits["train"]} | {r.subject_id for r in splits["test"]} == \
           {"OAS2_9001", "OAS2_9002", "OAS2_9003", "OAS2_9004"}
    # OAS2_9003 converts (NC then impaired): both visits stay together
    assert len({name for name, v in splits.items() if any(r.subject_id == "OAS2_9003" for r in v)}) == 1
