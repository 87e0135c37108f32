"""What the shipped checkpoint (docs/demo_model_run.json) still gets wrong, measured, one line each.

These tests stay in the suite as strict expected failures: each runs and must still fail; the day a retrained model
gets it right, the test passes, pytest reports the unexpected pass as a failure, and its line here must go. A model
that newly fails a test not listed here fails the suite.

The checkpoint shipped since 2026-12-06 (9e0bb3cd6038, recipe step 10 with the scores read as numbers) can no longer
read a worse score as healthier (engine/score_path.py): the two sweeps beside unseen records that its predecessor
(15b0075750cb) failed, CDR-SB (7 of 24 records, worst 16.5 -> 17 by 0.368) and delayed recall (3 of 24, worst 24 -> 23
by 0.228), pass. What it fails instead is how *far* a score moves a prediction where the record's other scores have
decided it already, and one MRI check beside a record of one score; all four passed with 15b0075750cb.
"""
from __future__ import annotations

_SWEEP = "test_record_reading.py::test_a_worse_score_never_looks_healthier_and_moves_the_stage"
#: measured 2026-12-06 on 9e0bb3cd6038 (demo scan and MRI hidden; the figures are the demo scan's)
KNOWN_FAILURES: dict[str, str] = {
    f"{_SWEEP}[others fixed-logical_memory_delayed]": "delayed recall 25 -> 0 beside an MCI-like record (CDR 0.5, "
                                                      "MMSE 26) moves the stage 1.12 -> 1.19 (0.5 asked): recall "
                                                      "weighs little beside the other three scores",
    f"{_SWEEP}[others demented-mmse]": "MMSE 30 -> 0 beside a demented record moves the stage 1.94 -> 2.00 (0.2 asked)",
    f"{_SWEEP}[others demented-logical_memory_delayed]": "delayed recall beside a demented record: 1.97 -> 1.98",
    "test_mri_weight.py::test_hiding_the_mri_moves_a_prediction_that_rests_on_it":
        "beside {age 76, male, MMSE 26} an atrophied scan moves the prediction by 0.04 against the MRI hidden (0.1 "
        "asked): one MMSE of 26 reads as MCI (90 %) whatever the scan",
}
