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
Tested from 2026-12-07 on, it fails seven of the eighteen checks that a summary no generator wrote (social or medical
history, or one agreeing with the stage) leaves a clear textbook case's class alone: each by a few points, on records
near a class boundary (listed below).
"""
from __future__ import annotations

_SWEEP = "test_record_reading.py::test_a_worse_score_never_looks_healthier_and_moves_the_stage"
_FOREIGN = "test_record_reading.py::test_a_summary_no_generator_wrote_does_not_flip_a_clear_case"
_NC_28 = ("beside the demo scan (an AD case's) NC records at MMSE 28 (CDR 0; aged 82, 90, 71; not the one aged 75) "
          "read MCI by a few points; without a summary they read NC")
_AD_CDR1 = ("with the MRI hidden AD records at CDR 1 and MMSE 19-21 read MCI by a few points; without a summary they "
            "read AD")


class KnownFlips(AssertionError):
    """A summary check that flips exactly the records :data:`KNOWN_FLIPS` lists for it, or fewer: the expected
    failure. Any other flip is a plain AssertionError, which the strict xfail does not excuse."""


#: measured 2026-12-07 on 0daf5703faa2 (calibrated probabilities, as the product shows them)
KNOWN_FAILURES: dict[str, str] = {
    f"{_SWEEP}[others demented-mmse]": "MMSE 30 -> 0 beside a demented record moves the stage 1.90 -> 2.00 (0.2 asked; "
                                       "0.15 with the MRI hidden); the cohort's own posterior moves 0.08",
    # a summary the generator's phrasings never made, even one that says nothing of cognition, pulls a case near a
    # class boundary across it (trainer/synth/narrative.py writes every summary from one template, so the model
    # never learned that unfamiliar text carries no class)
    f"{_FOREIGN}[0-MRI hidden]": "'Follow-up visit. Hypertension, type 2 diabetes. Lives with daughter.': " + _AD_CDR1,
    f"{_FOREIGN}[1-demo scan]": "'The patient is a retired teacher who enjoys gardening.': " + _NC_28,
    f"{_FOREIGN}[2-demo scan]": "'Retired accountant, married, two grown children. Non-smoker.': " + _NC_28,
    f"{_FOREIGN}[3-MRI hidden]": "'Seen in clinic today. Blood pressure 130/80. Weight stable.': " + _AD_CDR1,
    f"{_FOREIGN}[4-demo scan]": "'Came with a list of medications: amlodipine, atorvastatin.': " + _NC_28,
    f"{_FOREIGN}[7-demo scan]": "'Former nurse. Knee replacement five years ago.': " + _NC_28,
    f"{_FOREIGN}[agreeing-demo scan]": "'No memory complaints; independent in all activities.' (agreeing with NC): "
                                       + _NC_28,
}

#: the summary check's cell -> the records of tests.model.test_record_reading.CLEAR it flips (indexes), measured on
#: 0daf5703faa2: NC 20, 21, 23 are the records at MMSE 28 aged 82, 90 and 71 (e.g. NC 45 %, MCI 54 %); AD 14, 18, 30
#: the CDR 1 records at MMSE 20, 19 and 21 (e.g. MCI 58 %, AD 42 %). A flip of any other record fails the suite.
KNOWN_FLIPS: dict[str, frozenset[int]] = {
    "0-MRI hidden": frozenset({14, 18, 30}), "3-MRI hidden": frozenset({18, 30}),
    "1-demo scan": frozenset({20, 21, 23}), "2-demo scan": frozenset({20, 21, 23}),
    "4-demo scan": frozenset({20, 21, 23}), "7-demo scan": frozenset({21, 23}),
    "agreeing-demo scan": frozenset({20, 21, 23}),
}
