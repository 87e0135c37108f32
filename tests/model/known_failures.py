"""What the shipped checkpoint (docs/demo_model_run.json) still gets wrong, measured, one line each.

These tests stay in the suite as strict expected failures: each runs and must still fail; the day a retrained model
gets it right, the test passes, pytest reports the unexpected pass as a failure, and its line here must go. A model
that newly fails a test not listed here fails the suite. None is listed for the checkpoint shipped on 2026-12-06 as the
second of that day (step 9 of scripts/train_demo.sh with pairs anywhere on the scales, run folder stage8); the one
before it failed CDR-SB 10 -> 12 beside an MCI-like record (0.099).
"""
from __future__ import annotations

KNOWN_FAILURES: dict[str, str] = {}
