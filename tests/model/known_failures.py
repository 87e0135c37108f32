"""What the shipped checkpoint (docs/demo_model_run.json) still gets wrong, measured, one line each.

These tests stay in the suite as strict expected failures: each runs and must still fail; the day a retrained model
gets it right, the test passes, pytest reports the unexpected pass as a failure, and its line here must go. A model
that newly fails a test not listed here fails the suite. Figures from the checkpoint shipped 2026-12-01, late (CNN stem, id 1383864463d4).
"""
from __future__ import annotations

KNOWN_FAILURES: dict[str, str] = {
    "test_record_reading.py::test_a_worse_score_never_looks_healthier_and_moves_the_stage[others fixed-mmse]":
        "beside an MCI-like record, MMSE from 30 to 0 moves the expected stage by 0.14 only (1.13 -> 1.27)",
    "test_record_reading.py::test_a_worse_score_never_looks_healthier_and_moves_the_stage[others fixed-cdr_sb]":
        "CDR-SB 10 -> 12 lowers the stage by 0.06 beside an MCI-like record, and the whole range moves it by 0.15 "
        "only (CDR 0.5 with CDR-SB 12+ is a contradictory record)",
    "test_record_reading.py::test_a_worse_score_never_looks_healthier_and_moves_the_stage[others fixed-"
    "logical_memory_delayed]":
        "beside the other scores of an MCI-like record, delayed recall from 25 to 0 moves the stage by 0.07 only",
    "test_mri_weight.py::test_hiding_the_mri_moves_a_prediction_that_rests_on_it":
        "one of three atrophied scans with an MMSE-26 record moves 7.4 points when the MRI is hidden (AD 25 % -> "
        "18 %; the target is 10)",
    "test_mri_weight.py::test_a_real_young_head_with_age_and_sex_only_is_not_called_impaired[nilearn MNI152 2009 T1]":
        "nilearn's MNI152 template with age 33 and sex only reads MCI 58 % (NC 40 %); with a normal record it is NC",
}
