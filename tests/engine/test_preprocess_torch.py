"""The GPU preprocessing (engine.preprocess_torch) gives the scipy path's model input and grid mapping.

Runs on every device torch has here: CPU always, CUDA where there is one (scripts/gpu_bench.sh runs this file
on the lent GPU).
"""
from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import torch
from scipy import ndimage
from scipy.spatial.transform import Rotation

from engine.imageio import load_volume
from engine.preprocess import preprocess, to_original_grid
from engine.preprocess_torch import (affine_resample, gaussian_blur, intensity_window, preprocess_on,
                                     to_original_grid_on)
from engine.resources import DEMO_IMAGE

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
# float32 throughout where scipy accumulates in float64: measured <= 4.2e-6 on [0, 1] intensities
TOL = dict(rtol=0, atol=2e-5)


def _volume(tmp_path, shape, zooms, oblique: bool = False):
    rng = np.random.default_rng(0)
    x, y, z = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    r = np.sqrt(x ** 2 + y ** 2 + z ** 2)  # a skull-like shell around a textured brain on a zero background
    data = np.where(r < 0.8, 300 + 200 * np.sin(9 * x) * np.cos(7 * y) + rng.normal(0, 20, shape), 0)
    data = np.where((r > 0.8) & (r < 0.9), 900.0, data)
    lin = np.diag(zooms).astype(float)
    if oblique:
        lin = Rotation.from_euler("xz", [12, -20], degrees=True).as_matrix() @ lin
    affine = np.eye(4)
    affine[:3, :3] = lin
    affine[:3, 3] = [-90.0, -100.0, -60.0]
    path = tmp_path / "head.nii.gz"
    nib.save(nib.Nifti1Image(data.astype(np.int16), affine), str(path))
    return load_volume(path)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("image_size", [32, 64])
@pytest.mark.parametrize("zooms, oblique", [((1.0, 1.0, 1.0), False), ((1.0, 1.2, 3.0), False),
                                            ((-1.0, -1.2, 2.0), False), ((0.9, 0.9, 1.4), True)],
                         ids=["iso", "aniso", "LPS-stored", "oblique"])
def test_same_model_input_and_mapping_as_the_scipy_path(tmp_path, device, image_size, zooms, oblique):
    vol = _volume(tmp_path, (70, 80, 40), zooms, oblique=oblique)
    want, want_map = preprocess(vol, image_size)
    got, got_map = preprocess_on(vol, image_size, device)
    assert got.device.type == device and got.dtype == torch.float32 and tuple(got.shape) == (image_size,) * 3
    np.testing.assert_allclose(got.cpu().numpy(), want, **TOL)
    assert want.max() > 0.5  # the comparison saw an image, not two empty cubes
    assert got_map.to_dict().keys() == want_map.to_dict().keys()
    for key, value in want_map.to_dict().items():
        np.testing.assert_allclose(np.asarray(got_map.to_dict()[key], dtype=float), np.asarray(value, dtype=float),
                                   rtol=1e-6, err_msg=key)


@pytest.mark.parametrize("device", DEVICES)
def test_the_demo_case_on_the_paper_grid(device):
    if not DEMO_IMAGE.is_file():
        pytest.skip("the demo case is not installed")
    vol = load_volume(DEMO_IMAGE)
    want, _ = preprocess(vol, 128)
    got, _ = preprocess_on(vol, 128, device)
    np.testing.assert_allclose(got.cpu().numpy(), want, **TOL)


@pytest.mark.parametrize("data", [np.where(np.arange(1000) % 3 == 0, 7.0, 0.0),  # two values: the full range
                                  np.zeros(1000), np.full(1000, 5.0)],              # none nonzero / one value
                         ids=["binary", "zeros", "constant"])
def test_intensity_window_fallbacks_match(data):
    from engine.preprocess import _intensity_window

    data = data.astype(np.float32).reshape(10, 10, 10)
    np.testing.assert_allclose(intensity_window(torch.from_numpy(data)), _intensity_window(data), rtol=1e-6)


def test_blur_and_oblique_resampling_match_scipy():
    rng = np.random.default_rng(1)
    src = rng.random((23, 17, 29)).astype(np.float32)
    sigma = np.array([1.3, 0.0, 0.4])  # a wide axis, an untouched axis, a one-tap-each-side axis
    want = ndimage.gaussian_filter(src, sigma=sigma, mode="constant", cval=0.0, truncate=3.0)
    np.testing.assert_allclose(gaussian_blur(torch.from_numpy(src), sigma).numpy(), want, **TOL)
    t = np.eye(4)
    t[:3, :3] = Rotation.from_euler("xyz", [10, -25, 40], degrees=True).as_matrix() @ np.diag([1.1, 0.8, 1.3])
    t[:3, 3] = [2.5, -3.0, 4.0]  # part of the output falls outside the source: zeros there, blended at the edge
    want = ndimage.affine_transform(src, t[:3, :3], offset=t[:3, 3], output_shape=(20, 21, 22), order=1,
                                    mode="grid-constant", cval=0.0)
    got = affine_resample(torch.from_numpy(src), t, (20, 21, 22)).numpy()
    np.testing.assert_allclose(got, want, **TOL)
    assert (want == 0).any() and (want > 0.1).any()


@pytest.mark.parametrize("shape", [(1, 20, 20), (20, 20, 1), (1, 1, 1), (2, 3, 4)])
def test_thin_volumes_resample_like_scipy(shape):
    """An axis of one voxel still has an outside: samples beyond it are zero, as in scipy's grid-constant mode."""
    src = np.random.default_rng(0).random(shape).astype(np.float32)
    t = np.eye(4)
    t[:3, :3] = np.diag([0.7, 1.2, 0.9])
    t[:3, 3] = [-0.3, 0.4, -0.6]
    want = ndimage.affine_transform(src, np.diag(t[:3, :3]), offset=t[:3, 3], output_shape=(5, 6, 7), order=1,
                                    mode="grid-constant", cval=0.0)
    np.testing.assert_allclose(affine_resample(torch.from_numpy(src), t, (5, 6, 7)).numpy(), want, **TOL)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("zooms, oblique", [((1.0, 1.2, 3.0), False), ((-1.0, -1.2, 2.0), False),
                                            ((0.9, 0.9, 1.4), True)], ids=["aniso", "LPS-stored", "oblique"])
def test_a_map_goes_back_to_the_scans_grid_as_scipy_puts_it(tmp_path, device, zooms, oblique):
    """The explanation's way back (model grid -> the file's own voxels), edges held as scipy's "nearest" holds
    them: a smooth map with its maximum off-centre, so that position errors and edge handling both show."""
    vol = _volume(tmp_path, (70, 80, 40), zooms, oblique=oblique)
    _, mapping = preprocess(vol, 32)
    i, j, k = np.meshgrid(*[np.linspace(0, 1, 32)] * 3, indexing="ij")
    model_map = (np.exp(-((i - 0.3) ** 2 + (j - 0.7) ** 2 + (k - 0.2) ** 2) * 6) + 0.3 * i).astype(np.float32)
    want = to_original_grid(model_map, mapping)
    got = to_original_grid_on(torch.from_numpy(model_map).to(device), mapping)
    assert got.device.type == device and tuple(got.shape) == (70, 80, 40) and got.dtype == torch.float32
    np.testing.assert_allclose(got.cpu().numpy(), want, **TOL)
    assert want.std() > 0.05 and want.min() >= 0.0
    with pytest.raises(ValueError, match=r"model map of shape \(16, 16, 16\) is not \(32, 32, 32\)"):
        to_original_grid_on(torch.zeros(16, 16, 16), mapping)


def test_resampling_in_slabs_gives_the_same_voxels(tmp_path, monkeypatch):
    """Large scans are resampled a few slices at a time (bounded GPU memory): the slabs join without a seam."""
    import engine.preprocess_torch as pt

    vol = _volume(tmp_path, (70, 80, 40), (0.9, 0.9, 1.4), oblique=True)
    _, mapping = preprocess(vol, 32)
    model_map = torch.from_numpy(np.random.default_rng(3).random((32, 32, 32), dtype=np.float32))
    whole = to_original_grid_on(model_map, mapping)
    monkeypatch.setattr(pt, "SLAB_VOXELS", 3 * 80 * 40 + 17)  # slabs of 3 slices, the last one shorter (70 = 23*3+1)
    sliced = to_original_grid_on(model_map, mapping)
    assert tuple(sliced.shape) == (70, 80, 40)
    torch.testing.assert_close(sliced, whole, rtol=0, atol=0)
