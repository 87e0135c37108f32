"""alifuse-eval: scores against hand-checked values, leakage refusal, two-class scoring, outputs."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from trainer.cli_eval import main as eval_main
from trainer.cli_train import main as train_main
from trainer.metrics import auc, scores, to_two_class
from tests.trainer.conftest import run_command, write_toy_cohort


_run = run_command


def test_scores_by_hand():
    y = np.array([0, 0, 1, 1, 2, 2])
    p = np.array([[.8, .1, .1], [.3, .6, .1], [.2, .7, .1], [.1, .8, .1], [.1, .2, .7], [.5, .1, .4]])
    s = scores(y, p, ["NC", "MCI", "AD"])
    assert s["acc"] == pytest.approx(4 / 6)
    assert s["confusion"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert s["sensitivity"] == {"NC": 0.5, "MCI": 1.0, "AD": 0.5}
    assert s["specificity"]["MCI"] == pytest.approx(3 / 4)
    assert s["balanced_acc"] == pytest.approx((0.5 + 1 + 0.5) / 3)
    # binary AUC: all positives ranked above negatives -> 1
    assert auc(np.array([0, 0, 1, 1]), np.array([.1, .2, .8, .9])) == 1.0
    assert math.isnan(auc(np.array([1, 1]), np.array([.1, .2])))
    p2, y2 = to_two_class(p, y)
    assert np.allclose(p2.sum(1), 1) and list(y2) == [0, 0, 1, 1, 1, 1]


@pytest.mark.slow
def test_eval_refuses_training_subjects_and_scores_held_out(toy_cohort, tmp_path, capsys):
    run = tmp_path / "run"
    code, io = _run(train_main, ["--data", toy_cohort, "--out", run, "--epochs", "1", "--preset", "tiny",
                                 "--batch-size", "2", "--cache", tmp_path / "c"], capsys)
    assert code == 0, io.err
    ckpt = run / "best.safetensors"
    code, io = _run(eval_main, ["--checkpoint", ckpt, "--data", toy_cohort], capsys)
    assert code == 2 and "training split" in io.err and io.err.count("\n") == 1
    other = write_toy_cohort(tmp_path / "other", 9, seed=5).parent
    # another cohort reuses the ids sub-000 ... but not the people: its data set name tells them apart
    code, io = _run(eval_main, ["--checkpoint", ckpt, "--data", other], capsys)
    assert code == 2 and "training split" in io.err  # same data set name and ids: refused as the same people
    manifest = (other / "manifest.csv").read_text().replace(",toy,", ",toy-other,")
    (other / "manifest.csv").write_text(manifest)
    code, io = _run(eval_main, ["--checkpoint", ckpt, "--data", f"zeroshot={other}", "--out", tmp_path / "ev",
                                "--bootstrap", "50"], capsys)
    assert code == 0, io.err
    res = json.loads((tmp_path / "ev" / "results.json").read_text())
    assert [r["dataset"] for r in res] == ["zeroshot"]
    assert res[0]["n"] == 9 and 0 <= res[0]["acc"] <= 1 and len(res[0]["confusion"]) == 3
    assert res[0]["ci95"]["acc"][0] <= res[0]["acc"] <= res[0]["ci95"]["acc"][1]
    assert res[0]["modality_gap"] > 0
    assert 0.0 <= res[0]["reliance"]["image"] <= 1.0 and 0.0 <= res[0]["reliance"]["record"] <= 1.0
    assert "| moved without the MRI | moved without the record |" in (tmp_path / "ev" / "results.md").read_text()
    assert (tmp_path / "ev" / "roc_zeroshot.png").stat().st_size > 1000
    assert "| zeroshot | 9 |" in (tmp_path / "ev" / "results.md").read_text()
    code, io = _run(eval_main, ["--checkpoint", ckpt, "--data", toy_cohort, "--split", "test", "--json",
                                "--bootstrap", "0"], capsys)
    assert code == 0, io.err
    res = json.loads(io.out)
    assert res[0]["n"] == 3  # the test split: 20% of 12 subjects, none of them trained on


def test_mean_reliance_is_the_viewers_per_case_figure_averaged(toy_cohort, tmp_path):
    """alifuse-eval's "moved without the MRI / the record": the mean over the cases of what the viewer shows for one."""
    from engine.config import preset
    from engine.explain.reliance import modality_reliance
    from engine.model import AlifuseModel
    from trainer.cache import PreprocessCache
    from trainer.dataset import CaseDataset
    from trainer.evaluate import mean_reliance
    from trainer.records import read_manifest

    torch.manual_seed(0)
    cfg, cpu = preset("tiny"), torch.device("cpu")
    model = AlifuseModel(cfg).eval()
    ds = CaseDataset(read_manifest(toy_cohort / "manifest.csv").records, cfg, ["NC", "MCI", "AD"],
                     PreprocessCache(tmp_path / "cache"))
    got = mean_reliance(model, ds, cpu, batch=5)  # batches of 5, 5 and 2: the batching must not matter
    per_case = []
    for i in range(len(ds)):
        item = ds[i]
        r = modality_reliance(model, item["image"][None], item["ids"][None], item["mask"][None])
        per_case.append((r.shift("image"), r.shift("record")))
    want = np.mean(per_case, axis=0)
    assert got["image"] == pytest.approx(want[0], abs=1e-5) and got["record"] == pytest.approx(want[1], abs=1e-5)
    assert got["record"] > 0.0
    with torch.no_grad():  # a fusion head that does not read the image
        model.fusion[0].weight[:, :cfg.img_dim].zero_()
    # one batched forward: rows agree to float32 rounding, not bit for bit (see tests/engine/test_reliance.py)
    assert mean_reliance(model, ds, cpu)["image"] == pytest.approx(0.0, abs=1e-6)
    text_only = mean_reliance(AlifuseModel(preset("tiny", modalities=("text",))), ds, cpu)
    assert math.isnan(text_only["image"]) and math.isnan(text_only["record"])
