"""alifuse-calibrate on a checkpoint's own validation split, and what alifuse-eval reports of calibration."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from engine.calibration import softmax
from engine.checkpoint import read_info, save_checkpoint
from engine.config import preset
from engine.model import AlifuseModel
from engine.training_ranges import record_ranges
from tests.trainer.conftest import run_command, write_toy_cohort
from trainer.calibrate import fit_calibration
from trainer.calibrate import main as calibrate_main
from trainer.cli_eval import main as eval_main
from trainer.records import read_manifest
from trainer.run_files import SUBJECT_KEY_SCHEME, subject_hashes
from trainer.splits import run_splits
from trainer.synth.records_only import record_only_cases


_run = run_command


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("calib")
    manifest = write_toy_cohort(d / "cohort", 30, seed=3)
    records = read_manifest(manifest).records
    splits = run_splits(records, 4)
    torch.manual_seed(0)
    model = AlifuseModel(preset("tiny"))
    prov = {"trained": True, "seed": 4, "train_subjects_sha256": subject_hashes(splits["train"]),
            "train_subjects_scheme": SUBJECT_KEY_SCHEME,
            "val": {"n": len(splits["val"])}}
    save_checkpoint(model, d / "run.safetensors", ["NC", "MCI", "AD"], prov)
    # a checkpoint whose "training" subjects are the validation ones: calibrating on them must be refused
    leaky = dict(prov, train_subjects_sha256=subject_hashes(splits["val"]))
    save_checkpoint(model, d / "leaky.safetensors", ["NC", "MCI", "AD"], leaky)
    return d, manifest.parent, splits


def test_fit_calibration_on_overconfident_logits():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2, (3000, 3))
    u = rng.random(3000)[:, None]
    labels = (u > np.cumsum(softmax(logits, 1.0), axis=1)).sum(axis=1).clip(0, 2)
    cal = fit_calibration(3 * logits, labels, 0.8)  # shown three times too sure
    assert cal.temperature == pytest.approx(3.0, rel=0.1)
    assert cal.val_ece_after < 0.03 < 0.1 < cal.val_ece_before
    assert cal.val_selective_accuracy >= 0.8 and 0 < cal.val_coverage < 1 and cal.n_val == 3000
    conf = softmax(logits * 3, cal.temperature).max(axis=1)
    assert (conf >= cal.uncertain_below).mean() == pytest.approx(cal.val_coverage)


def test_calibrate_writes_the_same_model_with_its_calibration(setup, capsys, tmp_path):
    d, cohort, splits = setup
    out = tmp_path / "cal.safetensors"
    code, io = _run(calibrate_main, ["--checkpoint", d / "run.safetensors", "--data", cohort, "--out", out,
                                     "--device", "cpu", "--cache", tmp_path / "c", "--target-accuracy", "0.5"], capsys)
    assert code == 0, io.err
    assert f"Wrote {out}" in io.out and "validation cases" in io.out and "validation loss (cross-entropy) " in io.out
    before, after = read_info(d / "run.safetensors"), read_info(out)
    assert before.calibration is None and after.calibration is not None
    # the same weights and provenance; a checkpoint trained before alifuse-train stored the training cases' ranges
    # gets them from its own training split (engine.training_ranges: a case outside them is answered with a note)
    assert after.checkpoint_id == before.checkpoint_id
    ranges = record_ranges(r.ehr for r in splits["train"])
    assert set(ranges) == {"age"} and after.provenance == {**before.provenance, "record_ranges": ranges}
    again = tmp_path / "again.safetensors"  # ranges a checkpoint holds already are kept as they are
    save_checkpoint(AlifuseModel(preset("tiny")), d / "ranged.safetensors", ["NC", "MCI", "AD"],
                    {**before.provenance, "record_ranges": {"age": [40.0, 99.0]}})
    code, io = _run(calibrate_main, ["--checkpoint", d / "ranged.safetensors", "--data", cohort, "--out", again,
                                     "--device", "cpu", "--cache", tmp_path / "c"], capsys)
    assert code == 0, io.err
    assert read_info(again).provenance["record_ranges"] == {"age": [40.0, 99.0]}
    # a training split that is not the run's (a subset here) would give other ranges: none is added, and it says so
    other = {**before.provenance, "train_subjects_sha256": subject_hashes(splits["train"][:3])}
    save_checkpoint(AlifuseModel(preset("tiny")), d / "other.safetensors", ["NC", "MCI", "AD"], other)
    code, io = _run(calibrate_main, ["--checkpoint", d / "other.safetensors", "--data", cohort, "--out", again,
                                     "--device", "cpu", "--cache", tmp_path / "c"], capsys)
    assert code == 0, io.err
    assert "record_ranges" not in read_info(again).provenance and "ranges are not added" in io.err
    # a run with records without a scan stores their subjects too: its own table's split is still recognised
    extra = record_only_cases(5, 4)
    drew = {**before.provenance, "record_only": 5,
            "train_subjects_sha256": subject_hashes(list(splits["train"]) + extra)}
    save_checkpoint(AlifuseModel(preset("tiny")), d / "drew.safetensors", ["NC", "MCI", "AD"], drew)
    code, io = _run(calibrate_main, ["--checkpoint", d / "drew.safetensors", "--data", cohort, "--out", again,
                                     "--device", "cpu", "--cache", tmp_path / "c"], capsys)
    assert code == 0, io.err
    assert read_info(again).provenance["record_ranges"] == ranges  # the table's cases', not the drawn records'
    cal = after.calibration
    assert cal.n_val == len(splits["val"]) and cal.target_accuracy == 0.5 and cal.data == str(cohort)
    assert cal.temperature > 0 and 0 <= cal.uncertain_below <= 1


def test_calibrate_bad_input_one_line_exit_2(setup, capsys, tmp_path):
    d, cohort, _ = setup
    base = ["--checkpoint", d / "run.safetensors", "--data", cohort, "--device", "cpu", "--cache", tmp_path / "c"]
    for extra, needle in [(["--target-accuracy", "1.5"], "--target-accuracy"),
                          (["--missing-scores", "-1"], "--missing-scores"),
                          (["--out", tmp_path], "--out"),
                          (["--out", tmp_path / "x.pt"], "--out")]:
        code, io = _run(calibrate_main, base + extra, capsys)
        assert code == 2 and io.err.count("\n") == 1 and io.err.startswith("alifuse: error: ") and needle in io.err
    code, io = _run(calibrate_main, ["--checkpoint", d / "run.safetensors", "--data", tmp_path / "nope"], capsys)
    assert code == 2 and "--data" in io.err and io.err.count("\n") == 1
    code, io = _run(calibrate_main, ["--checkpoint", d / "leaky.safetensors", "--data", cohort, "--device", "cpu",
                                     "--cache", tmp_path / "c"], capsys)
    assert code == 2 and "training split" in io.err and io.err.count("\n") == 1
    other = write_toy_cohort(tmp_path / "other", 45, seed=1).parent  # another cohort: another validation split
    code, io = _run(calibrate_main, ["--checkpoint", d / "run.safetensors", "--data", other, "--device", "cpu",
                                     "--cache", tmp_path / "c"], capsys)
    assert code == 2 and "not the data" in io.err and io.err.count("\n") == 1


def test_eval_reports_ece_reliability_and_the_uncertain_fraction(setup, capsys, tmp_path):
    d, cohort, splits = setup
    cal_path = tmp_path / "cal.safetensors"
    code, io = _run(calibrate_main, ["--checkpoint", d / "run.safetensors", "--data", cohort, "--out", cal_path,
                                     "--device", "cpu", "--cache", tmp_path / "c", "--json"], capsys)
    assert code == 0, io.err
    said = json.loads(io.out)
    assert said["checkpoint"] == str(cal_path)
    # the validation loss it reports is the cross-entropy of the validation cases, before and after the temperature
    from engine.checkpoint import load_checkpoint
    from trainer.calibrate import validation_logits

    model, info = load_checkpoint(d / "run.safetensors", "cpu", calibrated=False)
    logits, labels = validation_logits(model, info, splits["val"], torch.device("cpu"))
    t = said["calibration"]["temperature"]
    for key, temp in (("raw", 1.0), ("calibrated", t)):
        expected = -np.log(softmax(logits, temp)[np.arange(len(labels)), labels]).mean()
        assert said["validation_loss"][key] == pytest.approx(expected, abs=2e-4), key
    assert said["validation_loss"]["calibrated"] <= said["validation_loss"]["raw"] + 1e-4  # T minimises it
    for ckpt, calibrated in ((d / "run.safetensors", False), (cal_path, True)):
        out = tmp_path / f"ev-{calibrated}"
        code, io = _run(eval_main, ["--checkpoint", ckpt, "--data", cohort, "--split", "test", "--out", out,
                                    "--bootstrap", "0", "--device", "cpu"], capsys)
        assert code == 0, io.err
        res = json.loads((out / "results.json").read_text())[0]
        assert res["n"] == len(splits["test"]) and 0 <= res["ece"] <= 1 and res["calibrated"] is calibrated
        assert (out / f"reliability_{cohort.name}.png").stat().st_size > 1000
        table = (out / "results.md").read_text()
        assert "| ECE % | ECE if calibrated % (p95) | uncertain % | ACC when answered % |" in table
        # beside the ECE, what a perfectly calibrated model would show on so few cases (sampling alone)
        floor = res["ece_if_calibrated"]
        assert 0 < floor["mean"] <= floor["p95"] < 1
        assert f"| {100 * floor['mean']:.1f} ({100 * floor['p95']:.1f}) |" in table
        if calibrated:
            assert res["coverage"] + res["uncertain_fraction"] == pytest.approx(1.0)
            assert res["uncertain_below"] == read_info(cal_path).calibration.uncertain_below
        else:
            assert "uncertain_fraction" not in res


def test_calibrate_reports_the_validation_loss_with_scores_missing(setup, capsys, tmp_path):
    """--missing-scores K: the calibrated loss on K copies of each validation case with some scores hidden, beside
    the scan and the summary and on the record read bare: the records trainer.missing_scores makes, no others."""
    from engine.checkpoint import load_checkpoint
    from trainer.calibrate import validation_logits, validation_loss
    from trainer.missing_scores import with_missing_scores

    d, cohort, splits = setup
    out = tmp_path / "cal.safetensors"
    code, io = _run(calibrate_main, ["--checkpoint", d / "run.safetensors", "--data", cohort, "--out", out,
                                     "--device", "cpu", "--missing-scores", "2", "--json"], capsys)
    assert code == 0, io.err
    said = json.loads(io.out)
    missing, t = said["validation_loss_missing_scores"], said["calibration"]["temperature"]
    assert missing["copies"] == 2 and missing["keep"] == 0.5
    model, info = load_checkpoint(d / "run.safetensors", "cpu", calibrated=False)
    for key, bare, seed in (("beside_scan", False, 1), ("bare", True, 2)):
        records = with_missing_scores(splits["val"], 2, 0.5, bare, seed)
        assert len(records) == 2 * len(splits["val"])
        logits, labels = validation_logits(model, info, records, torch.device("cpu"))
        assert missing[key] == pytest.approx(validation_loss(logits, labels, t), abs=2e-4), key
    code, io = _run(calibrate_main, ["--checkpoint", d / "run.safetensors", "--data", cohort, "--out", out,
                                     "--device", "cpu", "--missing-scores", "1"], capsys)
    assert code == 0 and "(1 copy of each case" in io.out
    assert "with scores missing" in io.out and "on the record read bare" in io.out


def test_cases_whose_scores_disagree_count_as_uncertain_in_the_evaluation():
    """As the viewer says "uncertain" on them whatever the confidence, alifuse-eval does not count them answered."""
    from engine.calibration import Calibration
    from trainer.evaluate import certainty

    cal = Calibration(temperature=1.0, uncertain_below=0.6, target_accuracy=0.9, n_val=10, val_ece_before=0.1,
                      val_ece_after=0.05, val_coverage=0.8, val_selective_accuracy=0.9, data="toy")
    probs = np.array([[0.9, 0.05, 0.05], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8], [0.5, 0.3, 0.2]])
    y = np.array([0, 1, 0, 0])
    plain = certainty(y, probs, probs.max(1), cal)
    assert plain["coverage"] == 0.75 and plain["selective_accuracy"] == pytest.approx(2 / 3)
    flagged = certainty(y, probs, probs.max(1), cal, np.array([False, False, True, False]))
    assert flagged["coverage"] == 0.5 and flagged["selective_accuracy"] == 1.0 and flagged["scores_disagree"] == 1
    assert flagged["uncertain_fraction"] == 0.5
