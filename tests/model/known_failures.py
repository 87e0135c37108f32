"""What the shipped checkpoint (docs/demo_model_run.json) still gets wrong, measured, one line each.

These tests stay in the suite as strict expected failures: each runs and must still fail; the day a retrained model
gets it right, the test passes, pytest reports the unexpected pass as a failure, and its line here must go. A model
that newly fails a test not listed here fails the suite. Figures from the checkpoint shipped 2026-12-05 (stage 7 of scripts/train_demo.sh, id 311d13bea5fa).
"""
from __future__ import annotations

KNOWN_FAILURES: dict[str, str] = {
    "test_record_reading.py::test_a_worse_score_never_looks_healthier_and_moves_the_stage[others unknown-"
    "logical_memory_delayed]":
        "with the other scores unknown, delayed recall 1 -> 0 lowers the expected stage by 0.086 (1.83 -> 1.75): the "
        "word-piece '0' still reads a little as healthy at the very end of this scale",
    "test_mri_weight.py::test_hiding_the_mri_moves_a_prediction_that_rests_on_it":
        "one of three atrophied scans with an MMSE-26 record moves 5.6 points when the MRI is hidden (AD 24 % -> "
        "18 %; the target is 10)",
}
