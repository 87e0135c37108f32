"""alifuse-train: checkpoints every epoch, metrics, progress, exact resume after SIGKILL, ablations, bad input."""
from __future__ import annotations

import json
import math
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from engine.checkpoint import load_checkpoint, read_info
from trainer.bench.machine import cpu_model
from trainer.cli_train import main
from trainer.records import read_manifest

ARGS = ["--preset", "tiny", "--batch-size", "2", "--seed", "3"]


def run(argv, capsys=None):
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr() if capsys else None
    return code, out


def _tensors(path: Path) -> dict[str, torch.Tensor]:
    with safe_open(str(path), framework="pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}


@pytest.mark.slow
def test_run_folder_metrics_and_progress(toy_cohort, tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")  # as scripts/kernels.sh sets it: recorded beside torch's set
    code, io = run(["--data", toy_cohort, "--out", out, "--epochs", "2", "--progress-json", *ARGS,
                    "--cache", tmp_path / "cache"], capsys)
    assert code == 0, io.err
    events = [json.loads(line) for line in io.out.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done" and kinds.count("epoch") == 2
    steps = [e for e in events if e["event"] == "step"]
    assert steps[-1]["fraction"] == pytest.approx(1.0) and steps[-1]["eta_s"] == 0
    assert all(set(s["loss"]) >= {"itc", "img_rec", "txt_rec", "cls", "total"} for s in steps)
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in metrics] == [1, 2]
    assert {"acc", "auc", "loss"} <= set(metrics[0]["val"])
    info = read_info(out / "best.safetensors")
    assert info.trained and info.provenance["seed"] == 3 and "val" in info.provenance
    assert len(info.provenance["train_subjects_sha256"]) == 8  # 70% of 12 subjects, no ids in the model
    splits = json.loads((out / "splits.json").read_text())
    ages = [r.ehr["age"] for r in read_manifest(toy_cohort / "manifest.csv").records if r.subject_id in splits["train"]]
    # the training cases' demographics: a case outside them is answered with a note (engine.training_ranges)
    assert info.provenance["record_ranges"]["age"] == [min(ages), max(ages)]
    assert not (set(splits["train"]) & set(splits["test"])) and not (set(splits["train"]) & set(splits["val"]))
    run_info = json.loads((out / "run.json").read_text())
    assert run_info["environment"]["torch"] == torch.__version__ and run_info["seed"] == 3
    # the processor and its kernels' instruction set: what a rerun elsewhere that does not match is checked against
    assert run_info["environment"]["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert run_info["environment"]["cpu"] == cpu_model() and run_info["environment"]["cpu"]
    import nibabel
    import scipy
    assert (run_info["environment"]["scipy"], run_info["environment"]["nibabel"]) == (scipy.__version__,
                                                                                        nibabel.__version__)
    assert run_info["environment"]["onednn_max_cpu_isa"] == "AVX2" and "mkl_cbwr" not in run_info["environment"]
    assert json.loads((out / "progress.json").read_text())["event"] == "done"


@pytest.mark.slow
def test_resume_after_sigkill_at_random_moments_gives_the_same_weights(toy_cohort, tmp_path):
    common = ["--data", toy_cohort, "--epochs", "3", *ARGS, "--cache", tmp_path / "cache"]
    # Every run in its own process with the same thread count: float sums depend on it.
    cmd = [sys.executable, "-m", "trainer.cli_train", *map(str, common)]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    subprocess.run([*cmd, "--out", str(tmp_path / "straight")], check=True, env=env, capture_output=True)
    # The same run, killed with SIGKILL (no clean-up) after a random number of progress events (some land while
    # a checkpoint is being written), resumed each time, until it ends by itself.
    out = tmp_path / "killed"
    cmd = [*cmd, "--out", str(out), "--progress-json"]
    rng = random.Random(7)
    kills = 0
    while True:
        resume = ["--resume"] if (out / "train_state.pt").exists() else []
        proc = subprocess.Popen([*cmd, *resume], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                env=env)
        budget = rng.randint(2, 8) if kills < 5 else None
        for n, _ in enumerate(proc.stdout, 1):
            if budget is not None and n >= budget:
                proc.send_signal(signal.SIGKILL)
                break
        proc.wait(timeout=300)
        if proc.returncode == 0:
            break
        assert proc.returncode == -signal.SIGKILL
        kills += 1
    assert kills == 5
    a, b = _tensors(tmp_path / "straight" / "last.safetensors"), _tensors(out / "last.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["epoch"] for x in lines] == [1, 2, 3]
    assert not list(out.glob("*.tmp")), "no half-written files remain"


@pytest.mark.slow
@pytest.mark.parametrize("flags, check", [
    (["--modalities", "image"], lambda c: c.modalities == ("image",) and c.use_text is False),
    (["--modalities", "text"], lambda c: c.modalities == ("text",)),
    (["--loss", "cls"], lambda c: (c.lambda_cl, c.lambda_res, c.lambda_cls) == (0.0, 0.0, 1.0)),
    (["--loss", "cls+cl"], lambda c: (c.lambda_cl, c.lambda_res, c.lambda_cls) == (1.0, 0.0, 1.0)),
    (["--patch-stem", "conv"], lambda c: c.patch_stem == "conv" and c.stem_widths == (16, 32)),
    (["--patch-stem", "cnn", "--image-pool", "mean"], lambda c: c.patch_stem == "cnn" and c.image_pool == "mean"),
])
def test_ablation_switches_reach_the_model(toy_cohort, tmp_path, flags, check):
    code, _ = run(["--data", toy_cohort, "--out", tmp_path / "r", "--epochs", "1", *ARGS, *flags,
                   "--cache", tmp_path / "cache"])
    assert code == 0
    model, info = load_checkpoint(tmp_path / "r" / "last.safetensors")
    assert check(info.config)
    assert (model.image_encoder is None) == (not info.config.use_image)


def test_without_ehr_parts_leaves_them_out_of_the_text(toy_cohort):
    from engine.config import preset
    from trainer.dataset import CaseDataset
    from trainer.records import read_manifest

    recs = read_manifest(toy_cohort / "manifest.csv").records
    full = CaseDataset(recs, preset("tiny"), ["NC", "MCI", "AD"])
    cut = CaseDataset(recs, preset("tiny"), ["NC", "MCI", "AD"], exclude_parts=("summary", "lab_results"))
    assert "forgetfulness" in full.texts[1].text and "MMSE" in full.texts[1].text
    assert "forgetfulness" not in cut.texts[1].text and "MMSE" not in cut.texts[1].text
    assert "age" in cut.texts[1].text


def test_bad_input_is_one_line_and_keeps_checkpoints(toy_cohort, tmp_path, capsys):
    code, io = run(["--data", tmp_path / "nowhere", "--out", tmp_path / "r", *ARGS], capsys)
    assert code == 2 and io.err.startswith("alifuse: error: --data") and io.err.count("\n") == 1
    code, io = run(["--data", toy_cohort, "--out", tmp_path / "r", "--epochs", "0", *ARGS], capsys)
    assert code == 2 and "--epochs 0" in io.err
    code, io = run(["--data", toy_cohort, "--out", tmp_path / "r", "--preset", "huge"], capsys)
    assert code == 2 and "--preset" in io.err
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, io = run(["--data", toy_cohort, "--out", blocker, *ARGS], capsys)
    assert code == 2 and "not a folder" in io.err
    # an existing run is never overwritten without --resume
    run_dir = tmp_path / "existing"
    run_dir.mkdir()
    (run_dir / "last.safetensors").write_bytes(b"precious")
    code, io = run(["--data", toy_cohort, "--out", run_dir, *ARGS], capsys)
    assert code == 2 and "--resume" in io.err
    assert (run_dir / "last.safetensors").read_bytes() == b"precious"
    code, io = run(["--data", toy_cohort, "--out", tmp_path / "fresh", "--resume", *ARGS], capsys)
    assert code == 2 and "--resume" in io.err


def test_cache_decodes_each_image_once(toy_cohort, tmp_path):
    import numpy as np

    from trainer.cache import PreprocessCache

    img = next((toy_cohort / "images").glob("*.nii.gz"))
    c1 = PreprocessCache(tmp_path / "c")
    a = c1.get(img, 16)
    assert c1.misses == 1 and len(list((tmp_path / "c").rglob("*.npy"))) == 1
    c2 = PreprocessCache(tmp_path / "c")  # a new process: reads the disk entry
    b = c2.get(img, 16)
    assert c2.misses == 0 and c2.hits == 1
    assert np.allclose(a, b, atol=1e-3)  # float16 on disk
    assert c2.get(img, 16) is c2.get(img, 16)  # memoised in memory


@pytest.mark.slow
def test_torchrun_two_processes_gather_itc_negatives(toy_cohort, tmp_path):
    """DDP on CPU (gloo): both processes train; ITC sees the negatives of both (4 pairs, not 2)."""
    torchrun = Path(sys.executable).parent / "torchrun"
    # --standalone: a free port of its own, as the suite runs in parallel workers (pytest-xdist)
    res = subprocess.run([torchrun, "--standalone", "--nproc_per_node", "2", "-m", "trainer.cli_train", "--data",
                          toy_cohort, "--out", tmp_path / "ddp", "--epochs", "1", *ARGS, "--device", "cpu",
                          "--progress-json", "--cache", tmp_path / "cache"], capture_output=True, text=True, timeout=600,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, res.stderr[-2000:]
    events = [json.loads(x) for x in res.stdout.splitlines() if x.startswith("{")]
    first = next(e for e in events if e["event"] == "step")
    # with random features ITC ~ log(number of pairs); gathered across 2 processes x batch 2 = 4
    assert abs(first["loss"]["itc"] - math.log(4)) < abs(first["loss"]["itc"] - math.log(2))
    assert first["steps_per_epoch"] == 2  # 8 training cases / (2 processes x batch 2)
    assert json.loads((tmp_path / "ddp" / "run.json").read_text())["world_size"] == 2
    assert load_checkpoint(tmp_path / "ddp" / "last.safetensors")[1].trained


def test_best_epoch_breaks_auc_ties_by_balanced_accuracy_then_loss():
    from trainer.loop import selection_key

    perfect_rank_bad_threshold = {"auc": 1.0, "acc": 0.61, "balanced_acc": 0.5, "loss": 0.6}
    perfect_rank_good_threshold = {"auc": 1.0, "acc": 0.97, "balanced_acc": 0.96, "loss": 0.2}
    lower_auc = {"auc": 0.98, "acc": 1.0, "balanced_acc": 1.0, "loss": 0.1}
    assert selection_key(perfect_rank_good_threshold) > selection_key(perfect_rank_bad_threshold)
    assert selection_key(perfect_rank_bad_threshold) > selection_key(lower_auc)
    same_but_lower_loss = dict(perfect_rank_good_threshold, loss=0.1)
    assert selection_key(same_but_lower_loss) > selection_key(perfect_rank_good_threshold)
    one_class_only = {"auc": float("nan"), "acc": 0.7, "balanced_acc": 0.7, "loss": 0.5}
    assert selection_key(one_class_only)[0] == 0.7


def test_resume_keeps_the_runs_own_config_when_the_preset_has_changed(toy_cohort, tmp_path, capsys):
    """A run started under other defaults (here: another image scaling) resumes with the config its weights were
    trained with, and says which fields the preset would now set otherwise."""
    out = tmp_path / "run"
    common = ["--data", str(toy_cohort), "--out", str(out), *ARGS, "--cache", str(tmp_path / "cache")]
    assert main([*common, "--epochs", "1"]) == 0
    saved = json.loads((out / "config.json").read_text())
    saved.update(image_mean=0.5, image_std=2.0)  # as if the preset had said so when the run began
    (out / "config.json").write_text(json.dumps(saved))
    capsys.readouterr()
    assert main([*common, "--epochs", "2", "--resume"]) == 0
    err = capsys.readouterr().err
    assert "--resume: continuing with the run's own config" in err and "image_mean, image_std" in err
    cfg = read_info(out / "last.safetensors").config
    assert (cfg.image_mean, cfg.image_std) == (0.5, 2.0)
    assert json.loads((out / "config.json").read_text())["image_mean"] == 0.5
