"""scripts/pretrain_stem.py: a stem learned inside a CNN starts alifuse-train's image encoder (--init-from)."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

from engine.checkpoint import load_checkpoint
from engine.model import AlifuseModel
from trainer.cli_train import main as train_main

from tests.trainer.conftest import write_toy_cohort

ROOT = Path(__file__).resolve().parents[2]
SETS = ["--set", "image_size=16", "--set", "patch_size=8", "--set", "stem_widths=8,8"]


def _script():
    spec = importlib.util.spec_from_file_location("pretrain_stem", ROOT / "scripts" / "pretrain_stem.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
