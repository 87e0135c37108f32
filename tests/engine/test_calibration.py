"""Calibration: temperature fit, ECE, the 'uncertain' threshold, checkpoint metadata, and what predict says."""
from __future__ import annotations

import json
import math

import nibabel as nib
import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from engine.calibration import (UNCERTAIN, Calibration, choose_threshold, expected_calibration_error,
                                fit_temperature, reliability_bins, softmax, verdict)
from engine.checkpoint import load_checkpoint, read_info, save_checkpoint
from engine.config import preset
from engine.errors import AlifuseInputError
from engine.model import AlifuseModel
from engine.resources import DEMO_CHECKPOINT
from tests.engine.test_cli_predict import run as run_predict

CAL = dict(temperature=2.0, uncertain_below=0.99, target_accuracy=0.9, n_val=12, val_ece_before=0.2,
           val_ece_after=0.05, val_coverage=0.25, val_selective_accuracy=0.9, data="toy")


def _sample_labels(p: np.ndarray, rng) -> np.ndarray:
    u = rng.random(len(p))[:, None]
    return (u > np.cumsum(p, axis=1)).sum(axis=1).clip(0, p.shape[1] - 1)


@pytest.mark.parametrize("true_t", [0.5, 1.0, 2.5])
def test_fit_recovers_a_known_temperature(true_t):
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 3, (20000, 3))
    labels = _sample_labels(softmax(logits, true_t), rng)  # the labels follow softmax(logits / T)
    assert fit_temperature(logits, labels) == pytest.approx(true_t, rel=0.06)


def test_ece_small_when_calibrated_large_when_overconfident():
    rng = np.random.default_rng(2)
    p = rng.dirichlet([1.0, 1.0, 1.0], 20000)
    y = _sample_labels(p, rng)
    assert expected_calibration_error(p, y) < 0.02
    sharp = p ** 4 / (p ** 4).sum(axis=1, keepdims=True)  # same ranking, far too sure
    assert expected_calibration_error(sharp, y) > 0.15
    b = reliability_bins(sharp, y)
    assert b["count"].sum() == len(y) and len(b["edges"]) == 16
    full = b["count"] > 0
    assert np.all(b["confidence"][full] >= b["edges"][:-1][full]) and np.all(b["confidence"][full] <= b["edges"][1:][full])
    # temperature scaling mends the overconfident one
    t = fit_temperature(np.log(sharp), y)
    assert t == pytest.approx(4.0, rel=0.1)
    assert expected_calibration_error(softmax(np.log(sharp), t), y) < 0.02


def test_ece_by_hand():
    p = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.6, 0.4]])
    y = np.array([0, 1, 0, 0])
    # bin of 0.9: accuracy 0.5 (gap 0.4); bin of 0.6: accuracy 1.0 (gap 0.4)
    assert expected_calibration_error(p, y, n_bins=10) == pytest.approx(0.4, abs=1e-9)


def _probs(conf, correct):
    p = np.array([[c, (1 - c) / 2, (1 - c) / 2] for c in conf])
    return p, np.where(np.asarray(correct, bool), 0, 1)


CONF = [0.95, 0.9, 0.85, 0.8, 0.7, 0.6, 0.55, 0.5, 0.45, 0.4]


def test_threshold_rule_smallest_t_reaching_the_target():
    p, y = _probs(CONF, [1, 1, 1, 1, 0, 1, 0, 0, 1, 0])
    t = choose_threshold(p, y, 0.9)
    assert (t.threshold, t.coverage, t.selective_accuracy, t.reached_target) == (0.8, 0.4, 1.0, True)
    t = choose_threshold(p, y, 0.8)  # 0.6 keeps 5 of 6 right (83%); 0.7 (80%) would also do, but is larger
    assert t.threshold == 0.6 and t.coverage == pytest.approx(0.6) and t.selective_accuracy == pytest.approx(5 / 6)
    t = choose_threshold(p, y, 0.5)  # everything answered already reaches 50%
    assert t.threshold == 0.0 and t.coverage == 1.0


def test_threshold_rule_falls_back_to_best_accuracy_with_a_fifth_answered():
    p, y = _probs(CONF, [0, 1, 1, 1, 0, 1, 0, 0, 1, 0])  # the surest case is wrong: 99% is never reached
    t = choose_threshold(p, y, 0.99)
    assert not t.reached_target
    assert (t.threshold, t.coverage, t.selective_accuracy) == (0.8, 0.4, 0.75)
    assert verdict(p[4], ["NC", "MCI", "AD"], Calibration(**{**CAL, "uncertain_below": t.threshold})) == UNCERTAIN
    assert verdict(p[3], ["NC", "MCI", "AD"], Calibration(**{**CAL, "uncertain_below": t.threshold})) == "NC"
    assert verdict(p[4], ["NC", "MCI", "AD"], None) == "NC"


def test_calibration_json_round_trip_and_bad_fields_named():
    c = Calibration(**CAL)
    assert Calibration.from_json(c.to_json()) == c
    for name, bad in [("temperature", 0.0), ("temperature", -1.0), ("temperature", math.nan),
                      ("uncertain_below", 1.5), ("val_coverage", -0.1), ("n_val", 0), ("n_val", 2.5),
                      ("target_accuracy", "high")]:
        with pytest.raises(AlifuseInputError, match=repr(name)):
            Calibration(**{**CAL, name: bad})
    with pytest.raises(AlifuseInputError, match="'colour'"):
        Calibration.from_json(json.dumps({**CAL, "colour": 1}))
    with pytest.raises(AlifuseInputError, match="'temperature'"):
        Calibration.from_json(json.dumps({k: v for k, v in CAL.items() if k != "temperature"}))
    with pytest.raises(AlifuseInputError, match="'temperature'"):
        Calibration.from_json(json.dumps(CAL).replace("2.0", "Infinity"))


def test_certainty_sentence_never_rounds_onto_the_threshold():
    from engine.calibration import certainty_sentence

    probs = {"NC": 0.022, "MCI": 0.079, "AD": 0.899}
    line = certainty_sentence(probs, UNCERTAIN, Calibration(**{**CAL, "uncertain_below": 0.9}))
    assert "cannot tell AD from MCI (best 89.9%; it says 'uncertain' below 90.0%" in line
    line = certainty_sentence(probs, "AD", Calibration(**{**CAL, "uncertain_below": 0.62}))
    assert line.startswith("Calibrated: AD at 90% (it says 'uncertain' below 62%, chosen on 12 validation cases")
    assert certainty_sentence(probs, "AD", None).startswith("Not calibrated: ")


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    d = tmp_path_factory.mktemp("cal")
    x, y, z = np.meshgrid(*[np.linspace(-1, 1, n) for n in (30, 36, 28)], indexing="ij")
    r = x ** 2 + y ** 2 + z ** 2
    nib.save(nib.Nifti1Image(np.where(r < 0.8, 100 + 50 * (r < 0.3), 0).astype(np.float32), np.eye(4)),
             d / "t1.nii.gz")
    (d / "ehr.json").write_text(json.dumps({"age": 74, "mmse": 27}))
    torch.manual_seed(0)
    model = AlifuseModel(preset("tiny"))
    prov = {"trained": True, "note": "test"}
    save_checkpoint(model, d / "raw.safetensors", ["NC", "MCI", "AD"], prov)
    save_checkpoint(model, d / "cal.safetensors", ["NC", "MCI", "AD"], prov, calibration=Calibration(**CAL))
    return d


def test_metadata_round_trip_and_a_bad_stored_field_is_refused_by_name(case, tmp_path):
    assert read_info(case / "cal.safetensors").calibration == Calibration(**CAL)
    assert read_info(case / "raw.safetensors").calibration is None
    with safe_open(str(case / "cal.safetensors"), framework="pt") as f:
        meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    save_file(tensors, tmp_path / "bad.safetensors",
              metadata={**meta, "calibration": json.dumps({**CAL, "uncertain_below": 7})})
    with pytest.raises(AlifuseInputError, match="bad.safetensors.*'uncertain_below'"):
        read_info(tmp_path / "bad.safetensors")
    with pytest.raises(AlifuseInputError, match="'uncertain_below'"):
        load_checkpoint(tmp_path / "bad.safetensors")


def test_loaded_model_gives_logits_over_t_and_is_not_saved_twice_scaled(case, tmp_path):
    from tests.conftest import make_batch

    raw, _ = load_checkpoint(case / "cal.safetensors", calibrated=False)
    cal, info = load_checkpoint(case / "cal.safetensors")
    img, ids, mask, _ = make_batch(raw.cfg, 3)
    with torch.no_grad():
        a, b = raw(img, ids, mask), cal(img, ids, mask)
    assert info.calibration.temperature == 2.0
    assert torch.allclose(b, a / 2.0, atol=1e-6) and not torch.allclose(a, b, atol=1e-3)
    with pytest.raises(ValueError, match="calibrated=False"):
        save_checkpoint(cal, tmp_path / "again.safetensors", info.class_names)


def test_a_model_reading_scores_as_numbers_is_calibrated_whole_path_included(tmp_path):
    """T is fitted on the fusion's logits plus the score path's shifts (trainer.calibrate loads raw logits): the
    calibrated model must divide both, or a record's scores would speak with their uncalibrated confidence."""
    from tests.conftest import make_batch

    torch.manual_seed(0)
    model = AlifuseModel(preset("tiny", score_knots=6))
    with torch.no_grad():
        model.score_path.raw_rise.copy_(3 * torch.rand_like(model.score_path.raw_rise))
    save_checkpoint(model, tmp_path / "cal.safetensors", ["NC", "MCI", "AD"], {"trained": True},
                    calibration=Calibration(**CAL))
    raw, _ = load_checkpoint(tmp_path / "cal.safetensors", calibrated=False)
    cal, _ = load_checkpoint(tmp_path / "cal.safetensors")
    img, ids, mask, _ = make_batch(raw.cfg, 3)
    scores = torch.tensor([[10.0, 2.0, 12.0, 1.0], [30.0, 0.0, float("nan"), 20.0], [float("nan")] * 4])
    with torch.no_grad():
        a, b = raw(img, ids, mask, scores=scores), cal(img, ids, mask, scores=scores)
        shift = raw.score_path(scores)
    assert shift[0].abs().max() > 1.0  # the path speaks on the first record: the check below could fail
    assert torch.allclose(b, a / CAL["temperature"], atol=1e-5)


_predict = run_predict  # (exit code, stdout, stderr) of alifuse-predict, in-process


def _strict(text: str):
    def refuse(c):
        raise ValueError(f"not strict JSON: {c}")
    return json.loads(text, parse_constant=refuse)


def test_predict_json_says_uncertain_below_a_huge_threshold(case, capsys):
    code, out, err = _predict([case / "t1.nii.gz", "--ehr", case / "ehr.json", "--checkpoint",
                               case / "cal.safetensors", "--device", "cpu", "--json"], capsys)
    assert code == 0, err
    res = _strict(out)
    assert res["verdict"] == UNCERTAIN and res["label"] in ("NC", "MCI", "AD")
    assert res["calibrated"] is True and res["uncertain_below"] == 0.99 and res["temperature"] == 2.0
    assert res["confidence"] == pytest.approx(max(res["probabilities"].values()), abs=1e-9)
    assert res["certainty"].startswith("Uncertain: the model cannot tell ")
    code, out, err = _predict([case / "t1.nii.gz", "--ehr", case / "ehr.json", "--checkpoint",
                               case / "cal.safetensors", "--device", "cpu"], capsys)
    assert code == 0, err
    assert out.startswith("Prediction: uncertain (most likely ")
    assert "it says 'uncertain' below 99%, chosen on 12 validation cases" in out


def test_predict_probabilities_are_softmax_of_raw_logits_over_t(case):
    from engine.predict import Predictor

    p = Predictor(case / "cal.safetensors", "cpu")
    pred, inputs = p.predict(case / "t1.nii.gz", {"age": 74, "mmse": 27})
    raw, _ = load_checkpoint(case / "cal.safetensors", calibrated=False)
    with torch.no_grad():
        logits = raw(*p.tensors(inputs))[0].numpy()
    want = softmax(logits, 2.0)
    assert list(pred.probabilities.values()) == pytest.approx(list(want), abs=1e-6)
    assert list(softmax(logits, 1.0)) != pytest.approx(list(want), abs=1e-3)  # T really changed them


def test_uncalibrated_checkpoint_loads_and_says_not_calibrated(case, capsys):
    code, out, err = _predict([case / "t1.nii.gz", "--ehr", case / "ehr.json", "--checkpoint",
                               case / "raw.safetensors", "--device", "cpu", "--json"], capsys)
    assert code == 0, err
    res = _strict(out)
    assert res["calibrated"] is False and res["uncertain_below"] is None and res["temperature"] is None
    assert res["verdict"] == res["label"] and res["certainty"].startswith("Not calibrated")


@pytest.mark.skipif(not DEMO_CHECKPOINT.is_file(), reason="no bundled demo checkpoint")
def test_the_bundled_demo_checkpoint_still_reads():
    info = read_info(DEMO_CHECKPOINT)
    assert info.class_names == ["NC", "MCI", "AD"]
    if info.calibration is None:  # written before calibration existed
        from engine.calibration import describe_calibration

        assert describe_calibration(info.calibration).startswith("not calibrated")
