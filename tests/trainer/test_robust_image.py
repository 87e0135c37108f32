"""scripts/robust_image.py: only the image encoder learns other scanners' looks; the rest of the model is kept."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from engine.checkpoint import load_checkpoint
from trainer.cli_train import main as train_main

from tests.trainer.conftest import load_script, write_toy_cohort

ROOT = Path(__file__).resolve().parents[2]
SETS = ["--set", "image_size=16", "--set", "patch_size=8", "--set", "patch_stem=cnn", "--set", "stem_widths=8,8",
        "--set", "image_pool=mean"]


def _script():
    return load_script("robust_image")


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("robust")
    manifest = write_toy_cohort(tmp / "toy", 60)  # a validation split with every class, for its AUC
    run = tmp / "run"
    assert train_main(["--data", str(manifest), "--preset", "demo", "--out", str(run), "--epochs", "1",
                       "--batch-size", "4", "--modalities", "both", "--loss", "cls", *SETS]) == 0
    return manifest, run / "last.safetensors"


def test_only_the_image_encoder_changes_and_the_run_is_recorded(trained, tmp_path, monkeypatch):
    manifest, start = trained
    out = tmp_path / "robust.safetensors"
    monkeypatch.setattr(sys, "argv", ["robust_image.py", str(start), str(manifest), "--out", str(out),
                                      "--epochs", "2", "--threads", "1", "--lr", "1e-3"])
    _script().main()
    before, _ = load_checkpoint(start, calibrated=False)
    after, info = load_checkpoint(out, calibrated=False)
    a, b = before.state_dict(), after.state_dict()
    moved = {k for k in a if not torch.equal(a[k], b[k])}
    assert moved and all(k.startswith("image_encoder.") for k in moved), sorted(moved)[:5]
    assert any(k.startswith("image_encoder.patch_embed") for k in moved), "the stem learns too"
    assert info.provenance["robust_image"]["epochs"] == 2 and info.provenance["robust_image"]["augment"]["noise"] > 0
    record = json.loads(Path(f"{out}.json").read_text())
    assert [h["epoch"] for h in record["history"]] == [0, 1, 2] and record["seconds"] > 0
    assert all(0.0 <= h["val_auc"] <= 1.0 and 0.0 <= h["val_auc_other_look"] <= 1.0 for h in record["history"])
    assert all(h["loss"] > 0 for h in record["history"][1:])


def test_the_objective_is_zero_for_an_encoder_that_keeps_its_tokens_and_its_gradient_reaches_the_encoder(trained):
    """Consistency of changed scans and of the hidden MRI with the original tokens, plus the fusion head's
    cross-entropy; the script steps only the image encoder (the first test checks the weights)."""
    import torch.nn.functional as F

    from engine.explain.reliance import hidden_mri
    from trainer.cache import PreprocessCache
    from trainer.data_source import load_records

    mod = _script()
    manifest, start = trained
    model, info = load_checkpoint(start, calibrated=False)
    records, _ = load_records(manifest)
    x = mod.volumes(records[:6], PreprocessCache(None, memory=False), model.cfg.image_size)
    blank = hidden_mri(x[:1])
    target, blank_target = mod.tokens(model, x), mod.tokens(model, blank)
    txt = mod.empty_record_tokens(model, list(info.class_names))
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    one = torch.tensor(1.0)
    assert float(mod.objective(model, x, target, blank, blank_target, one, txt, y, 0.0)) < 1e-10
    assert float(mod.objective(model, x, target, blank, blank_target + 0.5, one, txt, y, 0.0)) == \
        pytest.approx(0.25, rel=1e-4), "the hidden MRI's tokens are held too"
    assert float(mod.objective(model, x, target + 0.1, blank, blank_target, torch.tensor(0.5), txt, y, 0.0)) == \
        pytest.approx(0.01 / 0.5, rel=1e-4), "scaled by the tokens' variance"
    from engine.model import Encoded

    with torch.no_grad():
        logits = model.classify(Encoded(target, txt.expand(6, -1, -1)))
    assert float(mod.objective(model, x, target, blank, blank_target, one, txt, y, 0.5)) == \
        pytest.approx(0.5 * float(F.cross_entropy(logits, y)), rel=1e-4)
    model.zero_grad()
    mod.objective(model, mod.augmented(x, mod.ScannerAugment(clean=0.0), 0, 1, list(range(6))), target, blank,
                  blank_target, one, txt, y, 0.5).backward()
    assert any(q.grad is not None and q.grad.abs().sum() > 0 for q in model.image_encoder.parameters())


@pytest.mark.parametrize("argv, named", [(["--epochs", "0"], "--epochs 0: must"), (["--cls", "-1"], "--cls -1: must"),
                                         (["--lr", "0"], "--lr 0: must"), (["--threads", "0"], "--threads 0: must")])
def test_bad_options_are_named_and_nothing_is_written(trained, tmp_path, monkeypatch, capsys, argv, named):
    manifest, start = trained
    out = tmp_path / "robust.safetensors"
    monkeypatch.setattr(sys, "argv", ["robust_image.py", str(start), str(manifest), "--out", str(out), *argv])
    with pytest.raises(SystemExit) as exc:
        _script().main()
    assert exc.value.code == 2 and named in capsys.readouterr().err and not out.exists()


def test_a_model_without_a_record_reader_is_refused_by_name(tmp_path, monkeypatch, capsys):
    manifest = write_toy_cohort(tmp_path / "toy", 30)
    run = tmp_path / "img"
    assert train_main(["--data", str(manifest), "--preset", "demo", "--out", str(run), "--epochs", "1",
                       "--batch-size", "4", "--modalities", "image", "--loss", "cls", *SETS]) == 0
    monkeypatch.setattr(sys, "argv", ["robust_image.py", str(run / "last.safetensors"), str(manifest),
                                      "--out", str(tmp_path / "o.safetensors")])
    with pytest.raises(SystemExit) as exc:
        _script().main()
    assert exc.value.code == 2 and "both modalities" in capsys.readouterr().err


def test_an_existing_out_file_is_never_overwritten(trained, tmp_path, monkeypatch, capsys):
    manifest, start = trained
    out = tmp_path / "robust.safetensors"
    out.write_bytes(b"an earlier probe")
    monkeypatch.setattr(sys, "argv", ["robust_image.py", str(start), str(manifest), "--out", str(out)])
    with pytest.raises(SystemExit) as exc:
        _script().main()
    assert exc.value.code == 2 and "already exists" in capsys.readouterr().err
    assert out.read_bytes() == b"an earlier probe"


def test_a_manifest_that_is_not_the_runs_own_is_refused(trained, tmp_path, monkeypatch, capsys):
    """Another cohort gives another validation split: the check on the run's own validation count names it."""
    _, start = trained
    other = write_toy_cohort(tmp_path / "other", 30)
    out = tmp_path / "o.safetensors"
    monkeypatch.setattr(sys, "argv", ["robust_image.py", str(start), str(other), "--out", str(out)])
    with pytest.raises(SystemExit) as exc:
        _script().main()
    assert exc.value.code == 2 and "not the data (or seed) it was trained with" in capsys.readouterr().err
