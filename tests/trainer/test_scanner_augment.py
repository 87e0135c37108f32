"""Other scanners' look drawn on a preprocessed MRI (trainer.scanner_augment)."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from engine.errors import AlifuseInputError
from trainer.augment import case_rng
from trainer.scanner_augment import ScannerAugment

NONE = dict(gamma=1.0, scale=1.0, bias=0.0, noise=0.0, blur=0.0, rotate=0.0, clean=0.0)


def _head(size: int = 32) -> np.ndarray:
    """A smooth ellipsoid 'head' in [0, 1] with an off-centre bright blob, zero outside."""
    z, y, x = np.mgrid[:size, :size, :size] / (size - 1) * 2 - 1
    inside = ((x / 0.8) ** 2 + (y / 0.9) ** 2 + (z / 0.7) ** 2 < 1).astype(float)
    head = inside * (0.6 + 0.35 * np.exp(-((x - 0.4) ** 2 + (y - 0.3) ** 2 + z ** 2) / 0.02))
    return np.clip(head, 0, 1).astype(np.float32)


def test_a_draw_is_reproducible_and_stays_a_scan_in_the_unit_range():
    img, aug = _head(), ScannerAugment()
    a, b = aug.apply(img, case_rng(0, 1, 5)), aug.apply(img, case_rng(0, 1, 5))
    others = [aug.apply(img, case_rng(0, 1, i)) for i in range(6, 12)]
    assert np.array_equal(a, b) and sum(not np.array_equal(a, c) for c in others) >= 4
    assert a.dtype == np.float32 and a.shape == img.shape and 0.0 <= a.min() and a.max() <= 1.0
    assert np.array_equal(img, _head()), "the cached volume itself is never changed"


def test_clean_cases_are_left_as_they_are_at_the_rate_asked():
    img = _head()
    assert np.array_equal(ScannerAugment(clean=1.0).apply(img, case_rng(0, 0, 0)), img)
    kept = [np.array_equal(ScannerAugment(clean=0.3).apply(img, case_rng(0, 0, i)), img) for i in range(200)]
    assert 0.2 < np.mean(kept) < 0.4


def test_the_contrast_curve_keeps_the_order_of_intensities_and_spans_its_range():
    img = _head()
    inside = img > 0
    medians = []
    for i in range(60):
        out = ScannerAugment(**{**NONE, "gamma": 1.4}).apply(img, case_rng(0, 0, i))
        order = np.argsort(img[inside], kind="stable")
        assert np.all(np.diff(out[inside][order]) >= -1e-6), "a contrast curve never swaps two intensities"
        medians.append(float(np.median(out[inside])))
    # 0.6 ** g for g in [1/1.4, 1.4]: from 0.49 to 0.69
    assert min(medians) < 0.52 and max(medians) > 0.66 and 0.48 < min(medians) and max(medians) < 0.70


def test_noise_reaches_the_background_and_the_scale_darkens():
    img = _head()
    noisy = [ScannerAugment(**{**NONE, "noise": 0.05}).apply(img, case_rng(0, 0, i)) for i in range(30)]
    sigmas = [float(np.sqrt(np.mean(n[img == 0] ** 2))) for n in noisy]
    assert max(sigmas) > 0.03 and max(sigmas) <= 0.05 * 1.1, "background noise up to sigma 0.05 (folded)"
    darker = [ScannerAugment(**{**NONE, "scale": 0.7}).apply(img, case_rng(0, 0, i)).max() for i in range(30)]
    assert min(darker) < 0.75 * img.max() and max(darker) <= img.max() + 1e-6


def test_thick_slices_blur_one_axis_only():
    img = _head()
    axes = []
    for i in range(30):
        out = ScannerAugment(**{**NONE, "blur": 2.0}).apply(img, case_rng(0, 0, i))
        change = [float(np.abs(np.diff(out, axis=k)).sum() - np.abs(np.diff(img, axis=k)).sum()) for k in range(3)]
        main = int(np.argmin(change))
        if change[main] < -1.0:
            others = [change[k] for k in range(3) if k != main]
            assert min(others) > 0.2 * change[main], f"draw {i}: more than one axis lost its edges {change}"
            axes.append(main)
    assert len(axes) >= 15 and set(axes) == {0, 1, 2}, "most draws blur one axis, each axis in turn"


def test_a_tilt_moves_an_off_centre_structure_and_keeps_the_centre():
    img = _head()
    moved = []
    for i in range(20):
        out = ScannerAugment(**{**NONE, "rotate": 8.0}).apply(img, case_rng(0, 0, i))
        blob = lambda v: np.array(ndi.center_of_mass(v > 0.8))
        moved.append(float(np.linalg.norm(blob(out) - blob(img))) if (out > 0.8).any() else 0.0)
        assert abs(out.sum() - img.sum()) < 0.05 * img.sum()
    assert max(moved) > 0.8 and max(moved) < 4.0, "8 degrees about the centre move a blob 13 voxels out by <= 2"


def test_the_bias_field_is_smooth_and_multiplicative():
    flat = np.full((32, 32, 32), 0.5, dtype=np.float32)
    out = ScannerAugment(**{**NONE, "bias": 0.35}).apply(flat, case_rng(0, 0, 3))
    log_field = np.log(out / flat)
    step = max(float(np.abs(np.diff(log_field, axis=k)).max()) for k in range(3))
    assert log_field.std() > 0.02 and step < 0.2 * (log_field.max() - log_field.min()), \
        "a smooth field: neighbouring voxels differ by a small part of its range"
    img = _head()
    assert (ScannerAugment(**{**NONE, "bias": 0.35}).apply(img, case_rng(0, 0, 3))[img == 0] == 0).all(), \
        "a field multiplies: the background stays 0"


@pytest.mark.parametrize("field,value", [("gamma", 0.5), ("scale", 0.0), ("noise", -0.1), ("rotate", 90.0),
                                         ("clean", 1.5), ("blur", True)])
def test_bad_ranges_are_refused_by_name(field, value):
    with pytest.raises(AlifuseInputError, match=f"'{field}'"):
        ScannerAugment(**{field: value})


def test_training_can_give_each_scan_another_scanners_look_each_epoch(toy_cohort, tmp_path):
    """alifuse-train --augment-scanners: the dataset draws a new look per case and epoch, the run records it."""
    import torch

    from engine.checkpoint import load_checkpoint
    from engine.config import preset
    from trainer.cli_train import main as train_main
    from trainer.dataset import CaseDataset
    from trainer.records import read_manifest

    records = read_manifest(toy_cohort / "manifest.csv").records
    cfg = preset("tiny")
    plain = CaseDataset(records, cfg, ["NC", "MCI", "AD"])
    looks = CaseDataset(records, cfg, ["NC", "MCI", "AD"], image_augment=ScannerAugment(clean=0.0))
    looks.set_epoch(1)
    first = [looks[i]["image"] for i in range(4)]
    assert all(not torch.equal(a, plain[i]["image"]) for i, a in enumerate(first))
    assert all(torch.equal(a, looks[i]["image"]) for i, a in enumerate(first)), "the same look within an epoch"
    looks.set_epoch(2)
    assert any(not torch.equal(a, looks[i]["image"]) for i, a in enumerate(first)), "a new look each epoch"

    run = tmp_path / "run"
    assert train_main(["--data", str(toy_cohort), "--preset", "tiny", "--out", str(run), "--epochs", "1",
                       "--batch-size", "4", "--augment-scanners"]) == 0
    prov = load_checkpoint(run / "last.safetensors")[1].provenance
    assert prov["augment_scanners"] is True and prov["image_augment"]["kind"] == "ScannerAugment"
    assert prov["image_augment"]["gamma"] == ScannerAugment().gamma


def test_two_kinds_of_image_augmentation_at_once_are_refused_by_name(toy_cohort, tmp_path, capsys):
    from trainer.cli_train import main as train_main

    with pytest.raises(SystemExit) as exc:
        train_main(["--data", str(toy_cohort), "--preset", "tiny", "--out", str(tmp_path / "run"),
                    "--augment-images", "--augment-scanners"])
    assert exc.value.code == 2 and "--augment-images and --augment-scanners" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
