"""The paired AUC difference the ablation tables report (trainer.metrics.paired_auc_difference)."""
import numpy as np

from trainer.metrics import auc, bootstrap_ci, paired_auc_difference


def _cases(n: int = 300, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    return y, rng.dirichlet(np.ones(3), n)


def _sharpen(y: np.ndarray, p: np.ndarray, w: float) -> np.ndarray:
    """Probabilities moved towards the true class by w: a better model on the same cases."""
    q = p * (1 - w)
    q[np.arange(len(y)), y] += w
    return q


def test_a_model_against_itself_differs_by_nothing():
    y, p = _cases()
    d = paired_auc_difference(y, p, p, n=200)
    assert d["auc_diff"] == 0 and d["ci95"] == [0.0, 0.0]


def test_a_clearly_better_model_is_shown_better_and_the_sign_follows_the_order():
    y, p = _cases()
    better = _sharpen(y, p, 0.3)
    d = paired_auc_difference(y, better, p, n=300)
    assert d["auc_diff"] == round(auc(y, better) - auc(y, p), 4) and d["auc_diff"] > 0.1
    assert 0 < d["ci95"][0] <= d["auc_diff"] <= d["ci95"][1]
    back = paired_auc_difference(y, p, better, n=300)
    assert back["auc_diff"] == -d["auc_diff"] and back["ci95"][1] < 0


def test_pairing_narrows_the_interval_of_a_small_difference():
    # two models that differ a little on the same cases: separate CIs overlap, the paired one is much narrower
    y, p = _cases(seed=2)
    a = _sharpen(y, p, 0.05)
    d = paired_auc_difference(y, a, p, n=300)
    ca, cb = bootstrap_ci(y, a, n=300)["auc"], bootstrap_ci(y, p, n=300)["auc"]
    assert ca[0] < cb[1]  # the separate intervals overlap
    assert d["ci95"][1] - d["ci95"][0] < 0.5 * (ca[1] - ca[0])
    assert d["ci95"][0] > 0
