"""The shipped model's heatmap lands where the disease is: on scans with planted atrophy, the viewer's default map
(guided relevance, one value per voxel) puts at least twice the atrophy's share of the brain on it (the model
issue's target), and relevance alone (4 patches a side) more than its share.

Scans and their ground-truth masks are rendered here by the synthetic cohort's generator with a seed no training run
used; the measure is the one of docs/EXPLANATIONS.md (trainer.explain_checks: share of the map's mass inside
mask ∩ brain over the mask's share of the brain; a uniform map scores 1).
"""
from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from engine.explain import explain
from trainer.explain_checks.cases import mask_on_model_grid
from trainer.explain_checks.metrics import relevance_share
from trainer.synth.acquisition import sample_acquisition
from trainer.synth.render import render
from trainer.synth.variety import sample_anatomy

SEED = 9_002  # no cohort of the project uses it
#: median over three scans, per method. Guided: the issue's target of 2 (the held-out cohort's AD cases score a
#: median of 2.89, the lowest 1.63; these three scans 2.06, 2.25, 2.54 - docs/EXPLANATIONS.md). Relevance: the
#: cohort's median is 1.91, the lowest 1.46; a bound below it leaves room for three scans' spread. A map that
#: ignored the atrophy would score about 1.
MIN_MEDIAN_RATIO = {"guided": 2.0, "relevance": 1.5}


def _atrophied_case(tmp: Path, k: int, demo_model):
    rng = np.random.default_rng([SEED, k])
    r = render(sample_acquisition(rng, "standard", "small"), 0.9, 76.0, anatomy=sample_anatomy(rng))
    scan, mask = tmp / f"ad{k}.nii.gz", tmp / f"ad{k}_mask.nii.gz"
    img = nib.Nifti1Image(r.data, r.affine)
    img.header.set_slope_inter(r.slope, 0.0)
    nib.save(img, scan)
    nib.save(nib.Nifti1Image(r.mask, r.affine), mask)
    return demo_model.predictor.prepare(scan, {"age": 76, "sex": "female"}), mask


@pytest.mark.slow
@pytest.mark.parametrize("method", list(MIN_MEDIAN_RATIO))
def test_the_map_lands_on_the_planted_atrophy(demo_model, tmp_path, method):
    ad = demo_model.classes.index("AD")
    ratios = []
    for k in range(3):
        case, mask_file = _atrophied_case(tmp_path, k, demo_model)
        expl = explain(demo_model.predictor.model, case, method, target=ad)
        share, mask_share = relevance_share(expl.image_model, mask_on_model_grid(mask_file, case.mapping),
                                            case.image > 0.05)
        ratios.append(share / mask_share)
    assert np.median(ratios) >= MIN_MEDIAN_RATIO[method] and min(ratios) > 1.0, np.round(ratios, 2)
