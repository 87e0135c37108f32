"""The figures both reports write (trainer.metrics.scores_with_ci), and that their JSON keeps its layout."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from trainer.metrics import scores_with_ci

from tests.trainer.conftest import load_script

CLASSES = ["NC", "MCI", "AD"]
ROOT = Path(__file__).resolve().parents[2]


def _script(name: str):
    return load_script(name)


def _layout(d: dict) -> list:
    """Keys in order, nested, the way the JSON file shows them."""
    return [(k, _layout(v) if isinstance(v, dict) else None) for k, v in d.items()]


def test_perfect_separation_scores_one_with_a_ci_of_one():
    y = np.repeat([0, 1, 2], 6)
    p = np.full((18, 3), 0.1)
    p[np.arange(18), y] = 0.8
    r = scores_with_ci(y, p, CLASSES, n_boot=200)
    assert r["n"] == 18 and r["acc"] == r["auc"] == r["balanced_acc"] == 1.0
    assert r["ci95"] == {"acc": [1.0, 1.0], "auc": [1.0, 1.0], "balanced_acc": [1.0, 1.0]}


def test_a_known_example_matches_sklearn_and_the_hand_count():
    y = np.array([0, 0, 1, 1, 2, 2])
    p = np.array([[.8, .1, .1], [.3, .6, .1], [.2, .7, .1], [.1, .8, .1], [.1, .2, .7], [.5, .1, .4]])
    r = scores_with_ci(y, p, CLASSES, n_boot=50, digits=12)
    assert r["auc"] == pytest.approx(roc_auc_score(y, p, multi_class="ovr", average="macro"), abs=1e-9)
    assert r["acc"] == pytest.approx(4 / 6, abs=1e-9)
    assert r["balanced_acc"] == pytest.approx((0.5 + 1 + 0.5) / 3, abs=1e-9)
    # the default rounds to the 4 digits the reports show
    assert scores_with_ci(y, p, CLASSES, n_boot=50)["auc"] == round(r["auc"], 4)


def test_the_interval_holds_the_point_estimate():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 200)
    p = rng.dirichlet(np.ones(3), 200) * 0.7
    p[np.arange(200), y] += 0.3  # a model that is right more often than not, but not always
    r = scores_with_ci(y, p, CLASSES, n_boot=300)
    for m in ("acc", "auc", "balanced_acc"):
        lo, hi = r["ci95"][m]
        assert 0 < lo < r[m] < hi < 1, m


@pytest.mark.parametrize("script, shipped, entry", [
    ("tables_demo_report", "docs/tables_demo.json", lambda j: j["runs"]["loss-cls-cl"]["test"]),
    ("demo_model_report", "docs/demo_model_report.json", lambda j: j["data"]["test"]["fused"]),
])
def test_each_report_writes_the_layout_of_its_shipped_json(script, shipped, entry):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 40)
    written = _script(script)._scored(y, rng.dirichlet(np.ones(3), 40), 20)
    assert _layout(written) == _layout(entry(json.loads((ROOT / shipped).read_text())))


def test_the_ece_s_noise_floor_holds_a_calibrated_model_and_not_an_overconfident_one():
    """ece_noise_floor: labels drawn from the probabilities themselves (a calibrated model) give an ECE inside the
    floor; the same probabilities made more confident than the labels give one far above it."""
    from engine.calibration import expected_calibration_error
    from trainer.metrics import ece_noise_floor

    rng = np.random.default_rng(7)
    p = rng.dirichlet(np.ones(3) * 0.7, 300)
    y = (rng.random((300, 1)) > p.cumsum(axis=1)).sum(axis=1).clip(0, 2)  # calibrated by construction
    calm = ece_noise_floor(p, n=300)
    assert 0.01 < calm["mean"] < calm["p95"] < 0.15, calm
    assert expected_calibration_error(p, y) <= calm["p95"]
    sharp = p ** 4 / (p ** 4).sum(axis=1, keepdims=True)  # the same ranking, said far too surely
    assert expected_calibration_error(sharp, y) > 2 * ece_noise_floor(sharp, n=300)["p95"]
    assert ece_noise_floor(p, n=300) == calm, "deterministic in its seed"


def test_the_log_loss_is_the_mean_cross_entropy_and_its_interval_holds_it():
    from trainer.metrics import log_loss_ci

    y = np.array([0, 1, 2, 0])
    p = np.array([[0.5, 0.25, 0.25], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [1.0, 0.0, 0.0]])
    r = log_loss_ci(y, p, n=200)
    assert r["log_loss"] == pytest.approx(-(np.log(0.5) + np.log(0.8) + np.log(0.6) + 0) / 4, abs=1e-4)
    assert r["ci95"][0] <= r["log_loss"] <= r["ci95"][1] and r["ci95"][0] < r["ci95"][1]
    # a case the model rules out costs a large but finite amount, and a sharper right model costs less
    assert 27 < log_loss_ci([1], np.array([[1.0, 0.0, 0.0]]), n=10)["log_loss"] < 28
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    sure = np.full((300, 3), 0.05)
    sure[np.arange(300), y] = 0.9
    vague = np.full((300, 3), 1 / 3)
    assert log_loss_ci(y, sure)["ci95"][1] < log_loss_ci(y, vague)["ci95"][0]
