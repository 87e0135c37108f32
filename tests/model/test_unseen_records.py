"""Beside records no test wrote, a worse score never makes the case look healthier (python -m trainer.record_audit).

test_record_reading.py sweeps each score beside four hand-written records, at a few values of its scale. A model can
pass those and still read some values the wrong way beside other records, or between the values swept (the
checkpoint shipped on 2026-12-06 read CDR-SB 10.5 as worse than 11 beside many records). Here every score is swept
over its whole scale, in its own steps (MMSE 30 -> 0 one point at a time, CDR-SB 0 -> 18 in half points), beside 24
records of a synthetic cohort drawn with a seed no run used (records as a clinic has them: missing fields, a
summary), with the bundled demo scan.
"""
from __future__ import annotations

import pytest

from engine.ehr import validate_ehr
from trainer.record_audit import audit
from trainer.synth.cohort import plan_cohort

from tests.model.test_record_reading import STEP_TOLERANCE

#: at most this share of the records may have one step of a score that lowers the expected stage by more than
#: STEP_TOLERANCE (0.05); and no step may lower it by more than WORST_FALL
MOST_VIOLATING = 0.05
WORST_FALL = 0.15


@pytest.fixture(scope="module")
def unseen_audit(demo_model):
    contexts = [validate_ehr(spec.ehr) for spec in plan_cohort(24, seed=9103)]
    return audit(demo_model.predictor, demo_model.demo_image, contexts, STEP_TOLERANCE)


@pytest.mark.parametrize("field", ["mmse", "cdr", "cdr_sb", "logical_memory_delayed"])
def test_a_worse_score_never_looks_healthier_beside_records_no_test_wrote(unseen_audit, field):
    got = unseen_audit[field]
    worst = got["worst_step"]
    said = (f"{field}: {got['violating']['n']} of 24 records have a step that lowers the stage by more than "
            f"{STEP_TOLERANCE}; the worst, {worst['from']} -> {worst['to']}, by {worst['drop']:.3f} beside "
            f"{worst['context']}")
    assert got["violating"]["share"] <= MOST_VIOLATING, said
    assert worst["drop"] <= WORST_FALL, said
