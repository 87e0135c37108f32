"""Anatomical variety: subjects differ in their healthy anatomy (folding, ventricles, head shape), the template
anatomy renders the template, and the variety never depends on the class."""
from __future__ import annotations

import numpy as np

from trainer.synth.cohort import plan_cohort
from trainer.synth.variety import TEMPLATE_ANATOMY, sample_anatomy, warp


def test_the_template_anatomy_is_the_identity_and_a_subjects_warp_is_smooth_and_small():
    pts = np.random.default_rng(0).uniform(-60, 60, (3, 500)).astype(np.float32)
    np.testing.assert_allclose(warp(pts, TEMPLATE_ANATOMY), pts, atol=1e-4)
    a = sample_anatomy(np.random.default_rng(1))
    moved = warp(pts, a)
    disp = np.linalg.norm(moved - pts, axis=0)
    assert 0.5 < disp.mean() < 15.0, "a few millimetres, not a different organ"
    near = warp(pts + 0.5, a) - (pts + 0.5)
    assert np.abs(near - (moved - pts)).max() < 1.0, "neighbouring points move together (smooth)"


def test_subjects_of_one_cohort_have_their_own_anatomy_whatever_their_class():
    specs = plan_cohort(60, seed=5)
    assert len({s.anatomy.warp_seed for s in specs}) == 60
    vent = {c: np.mean([s.anatomy.ventricle_scale for s in specs if s.latents.label == c]) for c in ("NC", "AD")}
    assert abs(vent["NC"] - vent["AD"]) < 0.06, "healthy variety is not a disease signal"
    again = plan_cohort(60, seed=5)
    assert [s.anatomy for s in again] == [s.anatomy for s in specs]
    assert [s.ehr for s in again] == [s.ehr for s in specs], "adding anatomy changed no record draw"
