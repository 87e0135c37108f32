"""Synthetic scans: orientation as stated, atrophy that grows with severity, a mask where it was planted."""
from __future__ import annotations

from dataclasses import replace

import nibabel as nib
import numpy as np
import pytest

from trainer.synth import atrophy
from trainer.synth.acquisition import Acquisition, head_to_world, output_affine, sample_acquisition
from trainer.synth.anatomy import HIPPOCAMPI, VENTRICLES
from trainer.synth.render import render

pytestmark = pytest.mark.slow  # loads the 1 mm MNI template once (a few seconds)

BASE = Acquisition(
    orientation="LAS", voxel_mm=(1.5, 1.5, 1.5), matrix=(104, 128, 96), head_scale=1.0,
    pose_deg=(3.0, -2.0, 4.0), oblique_deg=(0.0, 0.0, 0.0), shift_mm=(1.0, -2.0, 0.5), skull=False,
    contrast_gamma=1.0, bias_strength=0.05, noise=0.015, gain=700.0, compressed=True, noise_seed=11,
)


def _subject_mni(acq: Acquisition) -> np.ndarray:
    """MNI mm (of the subject's own brain) of every voxel centre, (3, I, J, K)."""
    m = np.linalg.inv(head_to_world(acq)) @ output_affine(acq)
    ijk = np.indices(acq.matrix).reshape(3, -1)
    return (m[:3, :3] @ ijk + m[:3, 3:]).reshape((3,) + tuple(acq.matrix))


def _voxel_of(acq: Acquisition, mni) -> tuple[int, int, int]:
    m = np.linalg.inv(output_affine(acq)) @ head_to_world(acq)
    return tuple(int(round(v)) for v in (m @ np.array([*mni, 1.0]))[:3])


def _csf_like_voxels_near_ventricles(acq: Acquisition, severity: float, age: float) -> int:
    r = render(acq, severity, age)
    x, y, z = _subject_mni(acq)
    box = (np.abs(x) < 32) & (y > -50) & (y < 30) & (z > -2) & (z < 34)
    dark = r.intensity() / acq.gain < 0.5  # CSF is about a third of white matter's brightness
    return int((box & dark).sum())


@pytest.mark.parametrize("code", ["RAS", "LAS", "LPS", "PIR", "ASL", "LIP", "RPI"])
def test_affine_stores_the_stated_orientation(code):
    acq = replace(BASE, orientation=code, oblique_deg=(5.0, -4.0, 3.0))
    assert "".join(nib.aff2axcodes(output_affine(acq))) == code
    zooms = np.sqrt((output_affine(acq)[:3, :3] ** 2).sum(axis=0))
    assert np.allclose(zooms, acq.voxel_mm)


def test_ventricles_grow_with_severity_at_equal_age_and_scanner():
    nc = _csf_like_voxels_near_ventricles(BASE, severity=0.0, age=74.0)
    ad = _csf_like_voxels_near_ventricles(BASE, severity=0.9, age=74.0)
    assert ad > 1.3 * nc > 0


def test_ventricles_also_grow_with_age_but_ageing_is_not_in_the_mask():
    young = _csf_like_voxels_near_ventricles(BASE, severity=0.0, age=60.0)
    old = _csf_like_voxels_near_ventricles(BASE, severity=0.0, age=88.0)
    assert old > 1.1 * young
    assert render(BASE, 0.0, 88.0).mask.sum() == 0


def test_disease_jacobian_expands_ventricles_and_shrinks_hippocampi():
    pts = np.array([VENTRICLES[0], HIPPOCAMPI[1]], np.float32).T
    _, jac_ad = atrophy.backward_map(pts, severity=0.9, age=70.0)
    _, jac_nc = atrophy.backward_map(pts, severity=0.0, age=70.0)
    assert np.allclose(jac_nc, 1.0)
    assert jac_ad[0] < 0.6   # the subject's ventricle maps to a much smaller template region: enlarged
    assert jac_ad[1] > 1.4   # the hippocampus maps to a larger template region: shrunk


def test_mask_covers_planted_atrophy_and_is_empty_for_controls():
    ad = render(BASE, 0.9, 74.0)
    nc = render(BASE, 0.03, 74.0)
    for centre in VENTRICLES + HIPPOCAMPI:
        assert ad.mask[_voxel_of(BASE, centre)] == 1, centre
    far_frontal = _voxel_of(BASE, (0.0, 55.0, 20.0))  # frontal pole: AD spares it here
    assert ad.mask[far_frontal] == 0
    assert ad.mask.sum() * np.prod(BASE.voxel_mm) > 50_000  # > 50 ml changed
    assert nc.mask.sum() < 0.005 * ad.mask.sum()
    assert ad.mask.shape == ad.data.shape == tuple(BASE.matrix)


def test_hippocampal_region_darkens_with_severity():
    """Grey-matter loss and shrinkage turn medial-temporal tissue CSF-like."""
    x, y, z = _subject_mni(BASE)
    region = np.zeros(BASE.matrix, bool)
    for cx, cy, cz in HIPPOCAMPI:
        region |= ((x - cx) / 8) ** 2 + ((y - cy) / 14) ** 2 + ((z - cz) / 8) ** 2 < 1
    nc = render(BASE, 0.0, 74.0).intensity()[region].mean()
    ad = render(BASE, 0.9, 74.0).intensity()[region].mean()
    assert ad < 0.9 * nc


def test_scanner_settings_change_the_image_not_the_anatomy_mask():
    noisy = replace(BASE, noise=0.05, bias_strength=0.3, noise_seed=99, skull=True, contrast_gamma=1.2)
    a, b = render(BASE, 0.7, 74.0), render(noisy, 0.7, 74.0)
    assert np.array_equal(a.mask, b.mask)
    assert not np.array_equal(a.data, b.data)
    assert b.data.dtype == np.int16 and a.slope == pytest.approx(BASE.gain / 100.0)
    brain_outside = (a.data == 0) & (b.data > 0)  # the skull shell shows outside the stripped brain
    assert brain_outside.sum() > 10_000


@pytest.mark.parametrize("kind", ["standard", "shifted"])
def test_sampled_acquisitions_stay_in_their_ranges(kind):
    rng = np.random.default_rng(5)
    acqs = [sample_acquisition(rng, kind) for _ in range(200)]
    for a in acqs:
        assert all(1.0 <= v <= 1.6 for v in a.voxel_mm) and all(96 <= n <= 160 for n in a.matrix)
        assert 0.9 <= a.head_scale <= 1.1 and max(abs(d) for d in a.pose_deg) <= 8.0
    codes = {a.orientation for a in acqs}
    if kind == "standard":
        assert codes == {"RAS", "LAS", "LPS"}
        assert {a.compressed for a in acqs} == {True, False} and {a.skull for a in acqs} == {True, False}
    else:
        assert codes.isdisjoint({"RAS", "LAS", "LPS"})
        assert np.mean([a.noise for a in acqs]) > 0.03 and min(a.voxel_mm[2] for a in acqs) >= 1.4
    small = sample_acquisition(np.random.default_rng(5), kind, size="small")
    assert all(2.0 <= v <= 3.2 for v in small.voxel_mm) and all(n <= 80 for n in small.matrix)
