"""scripts/pretrain_stem.py: a stem learned inside a CNN starts alifuse-train's image encoder (--init-from)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from engine.checkpoint import load_checkpoint
from engine.model import AlifuseModel
from trainer.cli_train import main as train_main

from tests.trainer.conftest import load_script, write_toy_cohort

ROOT = Path(__file__).resolve().parents[2]
SETS = ["--set", "image_size=16", "--set", "patch_size=8", "--set", "stem_widths=8,8"]


def _script():
    return load_script("pretrain_stem")


def test_the_pretrained_stem_starts_the_encoder_and_its_run_is_recorded(tmp_path, monkeypatch):
    out = tmp_path / "stem.safetensors"
    manifest = write_toy_cohort(tmp_path / "toy", 60)  # a validation split with every class, for its AUC
    monkeypatch.setattr(sys, "argv", ["pretrain_stem.py", str(manifest), "--test", str(manifest), "--out", str(out),
                                      "--epochs", "4", "--threads", "1", *SETS])
    _script().main()
    model, info = load_checkpoint(out)
    assert model.cfg.patch_stem == "cnn" and model.cfg.stem_widths == (8, 8) and not model.cfg.use_text
    assert info.provenance["trained_parts"] == ["image_encoder.patch_embed"]
    torch.manual_seed(0)  # the same initialisation the script drew before training: the stem moved from it
    fresh = AlifuseModel(model.cfg).image_encoder.patch_embed.state_dict()
    mine = model.image_encoder.patch_embed.state_dict()
    assert any(not torch.equal(fresh[k], mine[k]) for k in mine), "the stem was trained"
    record = json.loads(Path(f"{out}.json").read_text())
    assert 1 <= record["kept_epoch"] <= 4 and 0.0 <= record["best_val"]["auc"] <= 1.0
    assert record["environment"]["cpu_capability"] and record["environment"]["scipy"] != "none"  # what ran it
    n = record["n_cases"]
    assert n["test"] == 60 and n["train"] > n["val"] > 0 and n["train"] + n["val"] < 60  # the split's own test kept out

    run = tmp_path / "encoder"  # alifuse-train takes it as the start of an image encoder with that stem, frozen
    assert train_main(["--data", str(manifest), "--preset", "demo", "--out", str(run), "--epochs", "1",
                       "--batch-size", "4", "--modalities", "image", "--loss", "cls", "--patch-stem", "cnn",
                       *SETS, "--set", "image_pool=mean", "--init-from", str(out),
                       "--freeze", "image_encoder.patch_embed"]) == 0
    trained = load_checkpoint(run / "last.safetensors")[0].image_encoder.patch_embed.state_dict()
    assert all(torch.equal(trained[k], mine[k]) for k in mine)


@pytest.mark.parametrize("argv, named", [(["--set", "stem_width=8"], "--set 'stem_width=8'"),
                                         (["--set", "patch_stem=linear"], "patch_stem=linear"),
                                         (["--epochs", "0"], "--epochs 0")])
def test_bad_options_are_named_and_nothing_is_written(tmp_path, monkeypatch, capsys, argv, named):
    out = tmp_path / "stem.safetensors"
    monkeypatch.setattr(sys, "argv", ["pretrain_stem.py", str(tmp_path / "m.csv"), "--test", str(tmp_path / "m.csv"),
                                      "--out", str(out), *argv])
    with pytest.raises(SystemExit) as exc:
        _script().main()
    assert exc.value.code == 2 and named in capsys.readouterr().err and not out.exists()


def test_scanner_batches_give_each_training_case_another_look_per_epoch():
    script = _script()
    cfg = script.preset("demo", **{**script.DEFAULTS, "image_size": 16, "stem_widths": (8, 8)})
    raw = torch.rand(2, 16, 16, 16) * 0.8
    xb = (raw - cfg.image_mean) / cfg.image_std
    change = script.scanner_batches(script.ScannerAugment(clean=0.0), cfg, seed=0)
    once, again, later = change(xb, [3, 4], 1), change(xb, [3, 4], 1), change(xb, [3, 4], 2)
    assert once.shape == xb.shape and once.dtype == torch.float32
    assert torch.equal(once, again), "a case's look is drawn from (seed, epoch, index): a run is reproducible"
    assert not torch.equal(once, later) and not torch.equal(once[0], change(xb, [5, 4], 1)[0])
    back = once * cfg.image_std + cfg.image_mean  # centred again as the encoder centres: back in [0, 1]
    assert back.min() >= -1e-5 and back.max() <= 1 + 1e-5 and (back - raw).abs().mean() > 0.01
    keep = script.scanner_batches(script.ScannerAugment(clean=1.0), cfg, seed=0)(xb, [3, 4], 1)
    assert torch.allclose(keep, xb, atol=1e-5), "a clean draw leaves the volume as it was"


def test_augment_scanners_changes_the_learned_stem_and_is_recorded(tmp_path, monkeypatch):
    manifest = write_toy_cohort(tmp_path / "toy", 40)
    stems = {}
    for flag in ([], ["--augment-scanners"]):
        out = tmp_path / f"stem{len(flag)}.safetensors"
        monkeypatch.setattr(sys, "argv", ["pretrain_stem.py", str(manifest), "--test", str(manifest), "--out",
                                          str(out), "--epochs", "2", "--threads", "1", *flag, *SETS])
        _script().main()
        model, info = load_checkpoint(out)
        stems[bool(flag)] = (model.image_encoder.patch_embed.state_dict(), info.provenance.get("image_augment"))
    assert stems[False][1] is None
    assert stems[True][1]["kind"] == "ScannerAugment" and stems[True][1]["rotate"] == 8.0
    assert any(not torch.equal(stems[False][0][k], stems[True][0][k]) for k in stems[True][0]), \
        "the same seed with the scans changed learns another stem"


def test_skip_if_done_keeps_a_stem_written_by_the_same_command_and_trains_again_with_others(tmp_path, monkeypatch,
                                                                                           capsys):
    out = tmp_path / "stem.safetensors"
    manifest = write_toy_cohort(tmp_path / "toy", 60)  # a validation split with every class, for its AUC
    argv = ["pretrain_stem.py", str(manifest), "--test", str(manifest), "--out", str(out), "--epochs", "1",
            "--threads", "1", *SETS, "--skip-if-done"]
    monkeypatch.setattr(sys, "argv", argv)
    _script().main()
    record = json.loads(Path(f"{out}.json").read_text())
    assert "--skip-if-done" not in record["command"] and "--epochs 1" in record["command"]
    before = out.read_bytes()
    capsys.readouterr()
    _script().main()
    assert "nothing to do" in capsys.readouterr().out and out.read_bytes() == before
    monkeypatch.setattr(sys, "argv", [*argv[:-1], "--seed", "1", "--skip-if-done"])  # another option: trained again
    _script().main()
    assert "--seed 1" in json.loads(Path(f"{out}.json").read_text())["command"] and out.read_bytes() != before
