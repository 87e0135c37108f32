"""trainer.missing_scores: copies of held-out records with some of their scores left out, and nothing else changed."""
from __future__ import annotations

from engine.ehr import SCORE_FIELDS
from tests.trainer.conftest import write_toy_cohort
from trainer.missing_scores import with_missing_scores
from trainer.records import read_manifest


def test_copies_lose_scores_only_and_bare_ones_the_summary_and_scan_too(tmp_path):
    records = read_manifest(write_toy_cohort(tmp_path / "c", 20, seed=2)).records
    copies = with_missing_scores(records, 3, keep=0.5, seed=5)
    assert len(copies) == 3 * len(records)
    known = hidden = 0
    for i, c in enumerate(copies):
        r = records[i // 3]
        assert c.subject_id == r.subject_id and c.label == r.label and c.image == r.image
        assert all(r.ehr[k] == v for k, v in c.ehr.items()), "a copy never changes a value"
        lost = set(r.ehr) - set(c.ehr)
        assert lost <= set(SCORE_FIELDS), lost
        known += sum(f in r.ehr for f in SCORE_FIELDS)
        hidden += len(lost)
    assert 0.35 < hidden / known < 0.65  # each known score kept with p = 0.5
    bare = with_missing_scores(records, 2, keep=0.5, bare=True, seed=5)
    assert all(b.image is None and "summary" not in b.ehr for b in bare)
    assert any("summary" in r.ehr for r in records)
    again = with_missing_scores(records, 3, keep=0.5, seed=5)
    assert [c.ehr for c in again] == [c.ehr for c in copies], "deterministic in its seed"
    assert [c.ehr for c in with_missing_scores(records, 3, keep=0.5, seed=6)] != [c.ehr for c in copies]
