"""What the shipped checkpoint (docs/demo_model_run.json) still gets wrong, measured, one line each.

These tests stay in the suite as strict expected failures: each runs and must still fail; the day a retrained model
gets it right, the test passes, pytest reports the unexpected pass as a failure, and its line here must go. A model
that newly fails a test not listed here fails the suite.

The checkpoint shipped since 2026-12-07 (0daf5703faa2: recipe step 11 with three of the six copies resting on the
record read bare, the path's pieces smoothed, and each score's own term rising by at least 6 log-odds per threshold,
trainer/score_path_refit.py --bare-copies 3 --smooth 0.001 --min-rise 6) passes the two delayed-recall checks its
predecessor (5e44a879c21b) failed: beside the MCI-like record recall moves the stage 0.53 (0.41 before; the cohort's
own posterior 0.27), beside the demented one 0.35 (0.03; the cohort 0.02). It fails one check that asks a score to
move the stage further than the cohort's own posterior moves it over the values it holds
(docs/generator_posterior.json): beside the demented record MMSE moves it 0.10 of 0.2 (0.14 before; the cohort 0.08).
"""
from __future__ import annotations

_SWEEP = "test_record_reading.py::test_a_worse_score_never_looks_healthier_and_moves_the_stage"
#: measured 2026-12-07 on 0daf5703faa2 (calibrated probabilities, as the product shows them; the demo scan)
KNOWN_FAILURES: dict[str, str] = {
    f"{_SWEEP}[others demented-mmse]": "MMSE 30 -> 0 beside a demented record moves the stage 1.90 -> 2.00 (0.2 asked; "
                                       "0.15 with the MRI hidden); the cohort's own posterior moves 0.08",
}
