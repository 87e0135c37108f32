"""What the shipped checkpoint (docs/demo_model_run.json) still gets wrong, measured, one line each.

These tests stay in the suite as strict expected failures: each runs and must still fail; the day a retrained model
gets it right, the test passes, pytest reports the unexpected pass as a failure, and its line here must go. A model
that newly fails a test not listed here fails the suite. Figures from the checkpoint shipped 2026-12-01.
"""
from __future__ import annotations

KNOWN_FAILURES: dict[str, str] = {
    "test_record_reading.py::test_textbook_records_are_classified_as_such[NC-5]":
        "MMSE 29 and delayed recall 13 without CDR read as MCI",
    "test_record_reading.py::test_a_worse_score_never_looks_healthier_and_moves_the_stage[others fixed-mmse]":
        "MMSE 5 -> 0 lowers the expected stage by 0.37 beside an MCI-like record (MMSE 0 is the rarest value)",
    "test_record_reading.py::test_a_worse_score_never_looks_healthier_and_moves_the_stage[others fixed-cdr_sb]":
        "CDR-SB 12 -> 15 -> 18 lowers the stage by 0.21 beside an MCI-like record (CDR 0.5 with CDR-SB 12+ is "
        "a contradictory record)",
    "test_record_reading.py::test_a_worse_score_never_looks_healthier_and_moves_the_stage[others fixed-"
    "logical_memory_delayed]":
        "beside the other scores, delayed recall moves the stage by 0.10 only (1.14 from 25 down to 5, 1.24 at 0)",
    "test_mri_weight.py::test_atrophy_raises_the_stage_with_a_record_of_age_and_sex_only":
        "one of three healthy scans reads as impaired as the atrophied ones (stage 1.44 against 1.29-1.42)",
    "test_mri_weight.py::test_a_real_young_head_with_age_and_sex_only_is_not_called_impaired[nibabel anatomical.nii]":
        "nibabel's anatomical scan with age 33 and sex only reads MCI 61 % (NC 16 %); with a normal record it is NC",
    "test_mri_weight.py::test_an_empty_record_leaves_the_mri_to_decide":
        "with an empty record the healthy scans read MCI, NC, AD and the atrophied ones MCI, AD, AD",
}
