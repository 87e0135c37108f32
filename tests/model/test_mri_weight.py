"""The shipped model reads the MRI: atrophy raises the stage, an empty record leaves the MRI to decide, hiding the
MRI moves the prediction, and healthy heads with a young record are called healthy.

Scans are rendered here by the synthetic cohort's generator with seeds no training run used (the shipped model
trained on seed 21, docs/demo_model_run.json), with planted atrophy of known severity.
"""
from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from trainer.synth.acquisition import sample_acquisition
from trainer.synth.render import render
from trainer.synth.variety import sample_anatomy

SEED = 9_001  # no cohort of the project uses it


def _scan(tmp: Path, name: str, severity: float, age: float, k: int, demo_model) -> np.ndarray:
    rng = np.random.default_rng([SEED, k])
    r = render(sample_acquisition(rng, "standard", "small"), severity, age, anatomy=sample_anatomy(rng))
    path = tmp / f"{name}.nii.gz"
    img = nib.Nifti1Image(r.data, r.affine)
    img.header.set_slope_inter(r.slope, 0.0)
    nib.save(img, path)
    return demo_model.predictor.prepare(path, {}).image


@pytest.fixture(scope="module")
def scans(tmp_path_factory, demo_model) -> dict[str, list[np.ndarray]]:
    tmp = tmp_path_factory.mktemp("scans")
    return {"healthy": [_scan(tmp, f"nc{k}", 0.03, 72.0, k, demo_model) for k in range(3)],
            "atrophy": [_scan(tmp, f"ad{k}", 0.9, 75.0, 10 + k, demo_model) for k in range(3)]}


@pytest.mark.slow
def test_atrophy_raises_the_stage_with_a_record_of_age_and_sex_only(demo_model, scans):
    record = [{"age": 74, "sex": "female"}]
    healthy = [float(demo_model.stage(record, s)[0]) for s in scans["healthy"]]
    atrophy = [float(demo_model.stage(record, s)[0]) for s in scans["atrophy"]]
    assert min(atrophy) > max(healthy) + 0.2, (healthy, atrophy)


@pytest.mark.slow
def test_an_empty_record_leaves_the_mri_to_decide(demo_model, scans):
    healthy = [demo_model.labels([{}], s)[0] for s in scans["healthy"]]
    atrophy = [demo_model.labels([{}], s)[0] for s in scans["atrophy"]]
    assert "NC" not in atrophy and healthy.count("NC") >= 2, (healthy, atrophy)


@pytest.mark.slow
def test_hiding_the_mri_moves_a_prediction_that_rests_on_it(demo_model, scans):
    hidden = np.zeros_like(scans["atrophy"][0])
    record = [{"age": 76, "sex": "male", "mmse": 26}]
    for s in scans["atrophy"]:
        p, q = demo_model.probs(record, s)[0], demo_model.probs(record, hidden)[0]
        assert 0.5 * np.abs(p - q).sum() >= 0.1, (p.round(3), q.round(3))


def test_the_template_brain_with_a_young_record_is_called_healthy(demo_model):
    """The MNI152 template (nilearn's copy; an average of young adults' brains) of a 33-year-old man."""
    from nilearn import datasets

    img = datasets.load_mni152_template(resolution=2)
    image = demo_model.predictor.prepare(_as_volume(img), {}).image
    assert demo_model.labels([{"age": 33, "sex": "male"}], image) == ["NC"]


def _as_volume(img):
    from engine.imageio import Volume

    data = np.asarray(img.get_fdata(dtype=np.float32))
    return Volume(data=data, affine=img.affine.copy(), original_affine=img.affine.copy(),
                  original_shape=tuple(data.shape), path="MNI152 template (nilearn)")


def _package_scans() -> dict[str, Path]:
    """Real T1 scans that installed packages ship: nibabel's test anatomical scan (one adult, 2-4 mm voxels) and
    nilearn's MNI152 2009 template at 1 mm (a second average of young adults, another file than the one above)."""
    import nilearn
    from nibabel.testing import data_path

    return {"nibabel anatomical.nii": Path(data_path) / "anatomical.nii",
            "nilearn MNI152 2009 T1": Path(nilearn.__file__).parent / "datasets" / "data"
            / "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"}


HEALTHY_YOUNG = {"age": 33, "sex": "male", "education_years": 16, "mmse": 30, "cdr": 0, "cdr_sb": 0}


@pytest.mark.parametrize("name", list(_package_scans()))
def test_a_real_healthy_head_with_a_normal_young_record_is_called_healthy(demo_model, name):
    image = demo_model.predictor.prepare(_package_scans()[name], {}).image
    assert demo_model.labels([HEALTHY_YOUNG], image) == ["NC"]


@pytest.mark.parametrize("name", list(_package_scans()))
def test_a_real_young_head_with_age_and_sex_only_is_not_called_impaired(demo_model, name):
    """With the scores unknown the MRI must carry the call: a young adult's head is not MCI or AD."""
    image = demo_model.predictor.prepare(_package_scans()[name], {}).image
    assert demo_model.labels([{"age": 33, "sex": "male"}], image) == ["NC"]
