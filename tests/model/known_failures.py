"""What the shipped checkpoint (docs/demo_model_run.json) still gets wrong, measured, one line each.

These tests stay in the suite as strict expected failures: each runs and must still fail; the day a retrained model
gets it right, the test passes, pytest reports the unexpected pass as a failure, and its line here must go. A model
that newly fails a test not listed here fails the suite. Figures from the checkpoint shipped 2026-12-06 (step 9 of
scripts/train_demo.sh, run folder stage8, id 7a19bd549a9c).
"""
from __future__ import annotations

KNOWN_FAILURES: dict[str, str] = {
    "test_record_reading.py::test_a_worse_score_never_looks_healthier_and_moves_the_stage[others fixed-cdr_sb]":
        "beside the other scores of an MCI-like record, CDR-SB 10 -> 12 lowers the expected stage by 0.099 "
        "(1.66 -> 1.56): a bump at 10 that the MRI margin of step 9 brought back (0.05 or less before it)",
}
