"""Synthetic EHRs: plausible ranges, real-world missingness, class overlap (records only, no images)."""
from __future__ import annotations

import re

import numpy as np
import pytest

from trainer.synth.cohort import class_counts, plan_cohort
from trainer.synth.ehr_gen import CLASSES

ALLOWED = {"subject_id", "age", "sex", "education_years", "handedness", "mmse", "cdr", "cdr_sb",
           "logical_memory_delayed", "ses", "summary"}


@pytest.fixture(scope="module")
def specs():
    return plan_cohort(2000, seed=7)


def _by_class(specs, field):
    return {c: np.array([s.ehr[field] for s in specs if s.latents.label == c and field in s.ehr], float)
            for c in CLASSES}


def test_every_record_is_within_the_design_ranges(specs):
    for s in specs:
        e = s.ehr
        assert set(e) <= ALLOWED, s.subject_id
        assert e["subject_id"] == s.subject_id
        assert isinstance(e["age"], int) and 55 <= e["age"] <= 95
        assert e["sex"] in ("female", "male")
        if "education_years" in e:
            assert isinstance(e["education_years"], int) and 6 <= e["education_years"] <= 20
        if "handedness" in e:
            assert e["handedness"] in ("right", "left", "ambidextrous")
        if "mmse" in e:
            assert isinstance(e["mmse"], int) and 0 <= e["mmse"] <= 30
        if "cdr" in e:
            assert e["cdr"] in (0, 0.5, 1, 2, 3)
        if "cdr_sb" in e:
            assert 0 <= e["cdr_sb"] <= 18 and (e["cdr_sb"] * 2).is_integer()
        if "logical_memory_delayed" in e:
            assert isinstance(e["logical_memory_delayed"], int) and 0 <= e["logical_memory_delayed"] <= 25
        if "ses" in e:
            assert isinstance(e["ses"], int) and 1 <= e["ses"] <= 5
        if "summary" in e:
            assert isinstance(e["summary"], str) and len(e["summary"].split()) >= 5


def test_about_one_in_eight_records_lacks_mmse_and_some_lack_other_fields(specs):
    n = len(specs)
    missing = {f: sum(f not in s.ehr for s in specs) / n
               for f in ("mmse", "cdr_sb", "logical_memory_delayed", "ses", "summary")}
    assert 0.09 <= missing["mmse"] <= 0.16
    assert 0.05 <= missing["cdr_sb"] <= 0.30
    assert 0.05 <= missing["logical_memory_delayed"] <= 0.35
    assert 0.05 <= missing["ses"] <= 0.35
    assert 0.33 <= missing["summary"] <= 0.47  # about 60 % have a narrative
    assert all("age" in s.ehr and "sex" in s.ehr for s in specs)


def test_mmse_means_are_ordered_by_class_but_classes_overlap(specs):
    mmse = _by_class(specs, "mmse")
    means = {c: mmse[c].mean() for c in CLASSES}
    assert means["NC"] > means["MCI"] > means["AD"]
    assert 28.3 <= means["NC"] <= 29.7 and 25.5 <= means["MCI"] <= 28.5 and 21.0 <= means["AD"] <= 25.0
    assert (mmse["MCI"] >= 29).mean() > 0.05          # some MCI score like controls
    assert (mmse["AD"] >= 27).mean() > 0.03
    assert (mmse["NC"] <= 27).mean() > 0.01


def test_record_does_not_copy_the_label(specs):
    cdr = _by_class(specs, "cdr")
    assert (cdr["NC"] == 0.5).mean() > 0.02           # some controls rated questionable
    assert (cdr["MCI"] == 0.0).mean() > 0.03
    assert set(np.unique(cdr["AD"])) >= {0.5, 1.0, 2.0}
    lm = _by_class(specs, "logical_memory_delayed")
    assert lm["NC"].mean() > lm["MCI"].mean() > lm["AD"].mean()
    sev = {c: np.array([s.latents.severity for s in specs if s.latents.label == c]) for c in CLASSES}
    assert sev["NC"].max() > sev["MCI"].min() and sev["MCI"].max() > sev["AD"].min()


def test_summaries_rarely_name_the_diagnosis_and_vary(specs):
    summaries = [s for s in specs if "summary" in s.ehr]
    ad = [s.ehr["summary"] for s in summaries if s.latents.label == "AD"]
    mci = [s.ehr["summary"] for s in summaries if s.latents.label == "MCI"]
    assert np.mean([bool(re.search(r"alzheimer", t, re.I)) for t in ad]) < 0.3
    assert np.mean([bool(re.search(r"mild cognitive impairment|\bMCI\b", t)) for t in mci]) < 0.15
    openings = {t.split(" ")[0] for t in (s.ehr["summary"] for s in summaries)}
    assert len(openings) >= 3
    assert len({s.ehr["summary"] for s in summaries}) > 0.9 * len(summaries)


def test_plan_is_reproducible_and_seed_dependent():
    a, b, c = plan_cohort(30, seed=3), plan_cohort(30, seed=3), plan_cohort(30, seed=4)
    assert [(s.latents, s.ehr, s.acquisition) for s in a] == [(s.latents, s.ehr, s.acquisition) for s in b]
    assert [s.ehr for s in a] != [s.ehr for s in c]


@pytest.mark.parametrize("n, balance, expected", [
    (6, (1, 1, 1), [2, 2, 2]), (10, (0.35, 0.4, 0.25), [4, 4, 2]), (3, (0, 1, 0), [0, 3, 0]), (1, (1, 1, 1), [1, 0, 0]),
])
def test_class_counts_are_exact(n, balance, expected):
    assert class_counts(n, balance) == expected
    labels = [s.latents.label for s in plan_cohort(n, seed=0, class_balance=balance)]
    assert [labels.count(c) for c in CLASSES] == expected
