"""What the shipped checkpoint (docs/demo_model_run.json) still gets wrong, measured, one line each.

These tests stay in the suite as strict expected failures: each runs and must still fail; the day a retrained model
gets it right, the test passes, pytest reports the unexpected pass as a failure, and its line here must go. A model
that newly fails a test not listed here fails the suite. None was listed for the checkpoint shipped on 2026-12-06 as the
second of that day (step 9 of scripts/train_demo.sh with pairs anywhere on the scales, run folder stage8); the one
before it failed CDR-SB 10 -> 12 beside an MCI-like record (0.099). Since 2026-12-06 (third session) three sweeps
beside unseen records (test_unseen_records.py, trainer/record_audit.py) fail, listed below: that checkpoint
(447bd432057a) failed them with 8, 13 and 12 of 24 records (worst MMSE 9 -> 8 by 0.122, CDR-SB 16.5 -> 17 by 0.419,
recall 24 -> 23 by 0.255); the one shipped after recipe step 10 (pairs between neighbouring values and at the ends
of the scales) passes MMSE and fails the other two with fewer records.
"""
from __future__ import annotations

_UNSEEN = "test_unseen_records.py::test_a_worse_score_never_looks_healthier_beside_records_no_test_wrote"
#: measured 2026-12-06 on 15b0075750cb (24 records of seed 9103, demo scan)
KNOWN_FAILURES: dict[str, str] = {
    f"{_UNSEEN}[cdr_sb]": "7 of 24 records have a step lowering the stage by > 0.05; worst CDR-SB 16.5 -> 17 by 0.368 "
                          "(x.5 read above x + 1)",
    f"{_UNSEEN}[logical_memory_delayed]": "3 of 24 records; worst delayed recall 24 -> 23 by 0.228",
}
