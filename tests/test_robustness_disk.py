"""A full disk during training: the command stops with one line naming the run folder; epoch 1 survives."""
from __future__ import annotations

import errno
import json
import os

import pytest
import torch

from engine.checkpoint import load_checkpoint, read_info
from tests.trainer.conftest import write_toy_cohort
from trainer.cli_train import main


def _enospc(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _fail_on_epoch_2_save_file(monkeypatch):
    """safetensors' save_file fails once the checkpoint being written is epoch 2's."""
    import engine.checkpoint as ck

    real = ck.save_file

    def save_file(tensors, filename, metadata=None):
        if json.loads((metadata or {}).get("provenance", "{}")).get("epoch") == 2:
            _enospc()
        return real(tensors, filename, metadata=metadata)

    monkeypatch.setattr(ck, "save_file", save_file)


def _fail_on_epoch_2_rename(monkeypatch):
    """The rename of the 3rd checkpoint (epoch 1 writes last and best, epoch 2 starts with last) fails."""
    real = os.replace
    seen = []

    def replace(src, dst, *a, **kw):
        if str(dst).endswith(".safetensors"):
            seen.append(dst)
            if len(seen) == 3:
                _enospc()
        return real(src, dst, *a, **kw)

    monkeypatch.setattr(os, "replace", replace)


def _train(capsys, cohort, run, tmp_path, extra=()) -> tuple[int, str]:
    """Run alifuse-train in-process for 3 tiny epochs; (exit code, stderr)."""
    try:
        code = main([str(a) for a in ["--data", cohort, "--preset", "tiny", "--epochs", "3", "--batch-size", "2",
                                      "--out", run, "--cache", tmp_path / "cache", *extra]])
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("inject", [_fail_on_epoch_2_save_file, _fail_on_epoch_2_rename],
                         ids=["save_file", "os.replace"])
def test_disk_full_on_second_epoch_checkpoint(tmp_path, monkeypatch, capsys, inject):
    cohort = write_toy_cohort(tmp_path / "toy", 12).parent
    run = tmp_path / "run"
    inject(monkeypatch)
    code, err = _train(capsys, cohort, run, tmp_path, ["--progress-json"])  # progress on stdout: stderr is the error only
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("alifuse: error:") and str(run) in err and "No space left on device" in err
    monkeypatch.undo()

    info = read_info(run / "last.safetensors")
    assert info.provenance["epoch"] == 1
    model, _ = load_checkpoint(run / "last.safetensors")
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert not list(run.glob("*.tmp")), "a failed write must not leave temporary files behind"
    metrics = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in metrics] == [1]


@pytest.mark.slow
def test_disk_full_error_is_on_its_own_line_after_the_progress_bar(tmp_path, monkeypatch, capsys):
    cohort = write_toy_cohort(tmp_path / "toy", 12).parent
    _fail_on_epoch_2_save_file(monkeypatch)
    code, err = _train(capsys, cohort, tmp_path / "run", tmp_path)
    assert code == 2
    assert err.splitlines()[-1].startswith("alifuse: error:")
