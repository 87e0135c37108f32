"""Synthetic AD cohort: real MNI152 anatomy with planted, known atrophy, scanner-like acquisition
and clinically plausible EHRs. See docs/SYNTHETIC_COHORT.md for the generative model."""
from __future__ import annotations

from trainer.synth.cohort import SubjectSpec, make_cohort, make_subject, plan_cohort

__all__ = ["SubjectSpec", "make_cohort", "make_subject", "plan_cohort"]
