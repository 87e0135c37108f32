"""The split of a training run: reproducible, disjoint, and k-fold covering every subject once."""
from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import AlifuseInputError
from trainer.records import CaseRecord
from trainer.splits import assert_disjoint, run_splits


def _records(n: int = 30) -> list[CaseRecord]:
    return [CaseRecord(f"s{i}", v, Path(""), ("NC", "MCI", "AD")[i % 3], "d") for i in range(n) for v in ("bl", "m12")]


def test_kfold_run_splits_cover_every_subject_once_and_never_leak():
    recs = _records()
    tested = []
    for fold in range(5):
        sp = run_splits(recs, seed=2, folds=5, fold=fold)
        assert_disjoint(sp)
        assert sp["val"] and sp["train"]
        assert {r.subject_id for r in sp["train"] + sp["val"] + sp["test"]} == {f"s{i}" for i in range(30)}
        tested += sorted({r.subject_id for r in sp["test"]})
    assert sorted(tested) == sorted(f"s{i}" for i in range(30))
    a, b = run_splits(recs, 2, 5, 1), run_splits(recs, 2, 5, 1)
    assert [r.subject_id for r in a["test"]] == [r.subject_id for r in b["test"]]


def test_default_split_is_70_10_20_and_bad_fold_is_named():
    sp = run_splits(_records(), seed=0)
    sizes = {k: len({r.subject_id for r in v}) for k, v in sp.items()}
    assert sizes == {"train": 21, "val": 3, "test": 6}
    with pytest.raises(AlifuseInputError, match="--fold"):
        run_splits(_records(), folds=5, fold=5)
