"""What the shipped checkpoint (docs/demo_model_run.json) still gets wrong, measured, one line each.

These tests stay in the suite as strict expected failures: each runs and must still fail; the day a retrained model
gets it right, the test passes, pytest reports the unexpected pass as a failure, and its line here must go. A model
that newly fails a test not listed here fails the suite.

The checkpoint shipped since 2026-12-07 (5e44a879c21b: recipe step 11 with two of the six copies resting on the record
read bare and the path's pieces smoothed, trainer/score_path_refit.py --bare-copies 2 --smooth 0.001) passes the
checks its predecessor without bare copies (1c11c562c0b1) failed where the synthetic cohort's own posterior passes
them: one MMSE of 20 or 18 alone reads AD (57 and 64 %; the cohort 86 and 92 %) and the textbook NC record beside the
demo scan reads NC (51 %). It fails three checks that ask a score to move the stage further than the cohort's own
posterior moves it over the values it holds (docs/generator_posterior.json): beside the MCI-like record delayed recall
0.41 of 0.5 (the cohort 0.27), beside the demented one MMSE 0.14 of 0.2 (the cohort 0.08) and delayed recall 0.03 of
0.2 (the cohort 0.02). 1c11c562c0b1 passed the first two, narrowly (0.52 and 0.20).
"""
from __future__ import annotations

_SWEEP = "test_record_reading.py::test_a_worse_score_never_looks_healthier_and_moves_the_stage"
#: measured 2026-12-07 on 5e44a879c21b (calibrated probabilities, as the product shows them; the demo scan)
KNOWN_FAILURES: dict[str, str] = {
    f"{_SWEEP}[others fixed-logical_memory_delayed]": "delayed recall 25 -> 0 beside an MCI-like record moves the "
                                                      "stage 0.85 -> 1.26 (0.5 asked; 0.52 with the MRI hidden); the "
                                                      "cohort's own posterior moves 0.27 over the values it holds",
    f"{_SWEEP}[others demented-mmse]": "MMSE 30 -> 0 beside a demented record moves the stage 1.85 -> 1.99 (0.2 asked; "
                                       "0.21 with the MRI hidden); the cohort's own posterior moves 0.08",
    f"{_SWEEP}[others demented-logical_memory_delayed]": "delayed recall 25 -> 0 beside a demented record moves the "
                                                         "stage 1.90 -> 1.94 (0.2 asked); the cohort's own posterior "
                                                         "moves 0.02 over the values it holds",
}
