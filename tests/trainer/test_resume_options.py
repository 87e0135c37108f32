"""``--resume`` and ``--skip-if-done`` compare every option that decides what a run learns with the run's own
(run.json "options"), keep the run's first command and add up its training time across sessions."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from tests.trainer.conftest import run_command, write_toy_cohort
from trainer.cli_train import main as train_main

BASE = ["--preset", "tiny", "--batch-size", "2", "--lr", "0.001"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A toy cohort and a finished one-epoch run on it."""
    d = tmp_path_factory.mktemp("resume")
    cohort = write_toy_cohort(d / "toy", 12).parent
    out = d / "run"
    argv = ["--data", cohort, "--out", out, "--epochs", "1", "--cache", d / "c", *BASE]
    assert train_main([str(a) for a in argv]) == 0
    return cohort, out


def _copy(out: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(out, tmp_path / "run"))


def _train(capsys, cohort, out, *extra):  # noqa: ANN001, ANN202
    return run_command(train_main, ["--data", cohort, "--out", out, "--cache", out.parent / "c", *BASE, *extra], capsys)


def test_run_json_keeps_every_training_option(finished):
    _, out = finished
    options = json.loads((out / "run.json").read_text())["options"]
    assert options["lr"] == 0.001 and options["epochs"] == 1 and options["preset"] == "tiny"
    assert options["augment_records"] is False and options["set"] == []
    assert not {"out", "device", "cache", "resume", "workers"} & set(options)  # where and how fast, not what


@pytest.mark.parametrize("extra, named", [
    (["--lr", "0.01"], ["--lr 0.01 (the run's: 0.001)"]),
    (["--augment-records", "--field-drop", "0.5"], ["--augment-records on (the run's: off)",
                                                   "--field-drop 0.5 (the run's: 0.3)"]),
    (["--set", "depth=1"], ["--set depth=1 (the run's: not given)"]),
])
def test_resume_refuses_other_training_options_and_keeps_the_run(finished, tmp_path, capsys, extra, named):
    cohort, out = finished
    run = _copy(out, tmp_path)
    before = (run / "last.safetensors").read_bytes()
    code, io = _train(capsys, cohort, run, "--epochs", "1", "--resume", *extra)
    assert code == 2 and io.err.count("\n") == 1 and "trained with other options" in io.err, io.err
    assert all(n in io.err for n in named), io.err
    assert (run / "last.safetensors").read_bytes() == before


def test_resume_to_train_longer_warns_keeps_the_first_command_and_adds_up_the_time(finished, tmp_path, capsys):
    cohort, out = finished
    run = _copy(out, tmp_path)
    first = json.loads((run / "run.json").read_text())
    state = torch.load(run / "train_state.pt", weights_only=True)
    assert state["seconds"] > 0  # the first epoch's training
    state["seconds"] = 1000.0  # as if the first session had trained for 1000 s: the total must carry it
    torch.save(state, run / "train_state.pt")
    code, io = _train(capsys, cohort, run, "--epochs", "2", "--resume", "--device", "cpu")  # device: not compared
    assert code == 0, io.err
    assert "--epochs 2 (the run's: 1)" in io.err and "schedule is stretched" in io.err
    info = json.loads((run / "run.json").read_text())
    assert info["command"] == first["command"] and info["started"] == first["started"]
    assert len(info["resumed"]) == 1 and "--resume" in info["resumed"][0]["command"]
    assert info["options"]["epochs"] == 2  # the length it now trains to: a second resume to 2 is exact
    done = json.loads((run / "progress.json").read_text())
    assert done["event"] == "done" and done["epochs_done"] == 2
    assert done["seconds"] > 1000.0  # both sessions' training, not the second one's alone


def test_skip_if_done_keeps_a_finished_run_refuses_other_options_and_resumes_to_train_longer(finished, tmp_path,
                                                                                             capsys):
    cohort, out = finished
    run = _copy(out, tmp_path)
    before = (run / "last.safetensors").read_bytes()
    code, io = _train(capsys, cohort, run, "--epochs", "1", "--skip-if-done")
    assert code == 0 and "nothing to do" in io.err and (run / "last.safetensors").read_bytes() == before
    code, io = _train(capsys, cohort, run, "--epochs", "1", "--skip-if-done", "--monotone", "3")
    assert code == 2 and "--skip-if-done" in io.err and "--monotone 3.0 (the run's: 0.0)" in io.err, io.err
    assert (run / "last.safetensors").read_bytes() == before
    code, io = _train(capsys, cohort, run, "--epochs", "2", "--skip-if-done")
    assert code == 0 and json.loads((run / "progress.json").read_text())["epochs_done"] == 2
    assert (run / "last.safetensors").read_bytes() != before


def test_skip_if_done_starts_a_new_run_in_an_empty_folder(finished, tmp_path, capsys):
    cohort, _ = finished
    code, io = _train(capsys, cohort, tmp_path / "new", "--epochs", "1", "--skip-if-done")
    assert code == 0 and json.loads((tmp_path / "new" / "progress.json").read_text())["event"] == "done"
    assert "resumed" not in json.loads((tmp_path / "new" / "run.json").read_text())


def test_skip_if_done_resumes_an_unfinished_run_and_names_itself_when_it_refuses(finished, tmp_path, capsys):
    cohort, out = finished
    run = _copy(out, tmp_path)
    (run / "progress.json").write_text(json.dumps({"event": "stopped"}))  # as after a SIGTERM
    code, io = _train(capsys, cohort, run, "--epochs", "1", "--skip-if-done", "--lr", "0.01")
    assert code == 2 and io.err.startswith("alifuse: error: --skip-if-done:") and "--lr 0.01" in io.err, io.err
    code, io = _train(capsys, cohort, run, "--epochs", "1", "--skip-if-done")
    assert code == 0 and json.loads((run / "progress.json").read_text())["event"] == "done"
    code, io = _train(capsys, cohort, run, "--epochs", "3", "--skip-if-done")  # resumed to train longer ...
    assert code == 0 and json.loads((run / "progress.json").read_text())["epochs_done"] == 3
    code, io = _train(capsys, cohort, run, "--epochs", "2", "--skip-if-done")  # ... but never shorter
    assert code == 2 and "finished 3 epochs, more than --epochs 2" in io.err


def test_an_older_run_folder_resumes(finished, tmp_path, capsys):
    """run.json without "options" and a state without "seconds", as alifuse-train wrote them before."""
    cohort, out = finished
    run = _copy(out, tmp_path)
    info = json.loads((run / "run.json").read_text())
    del info["options"]
    (run / "run.json").write_text(json.dumps(info))
    state = torch.load(run / "train_state.pt", weights_only=True)
    del state["seconds"]
    torch.save(state, run / "train_state.pt")
    code, io = _train(capsys, cohort, run, "--epochs", "2", "--resume")
    assert code == 0, io.err
    assert json.loads((run / "run.json").read_text())["options"]["epochs"] == 2


def test_a_checkpoint_without_a_state_is_named_not_overwritten(finished, tmp_path, capsys):
    cohort, out = finished
    run = _copy(out, tmp_path)
    (run / "train_state.pt").unlink()  # killed between the first checkpoint and the first state
    before = (run / "last.safetensors").read_bytes()
    code, io = _train(capsys, cohort, run, "--epochs", "1", "--skip-if-done")
    assert code == 2 and "no train_state.pt" in io.err and "cannot be resumed" in io.err, io.err
    assert (run / "last.safetensors").read_bytes() == before


def test_resume_refuses_a_changed_table_or_start_checkpoint_and_not_one_moved_away(finished, tmp_path, capsys):
    cohort, out = finished
    data = write_toy_cohort(tmp_path / "toy", 12).parent
    start = tmp_path / "start.safetensors"
    shutil.copy(out / "best.safetensors", start)
    run = tmp_path / "run"
    code, io = _train(capsys, data, run, "--epochs", "1", "--init-from", start, "--init-parts", "image_encoder")
    assert code == 0, io.err
    shutil.copy(run / "last.safetensors", start)  # another checkpoint at the same path
    code, io = _train(capsys, data, run, "--epochs", "1", "--resume", "--init-from", start, "--init-parts",
                      "image_encoder")
    assert code == 2 and "--init-from" in io.err and "another checkpoint than the run began from" in io.err, io.err
    start.unlink()  # moved away: the resumed run does not read it, and the path is still the run's
    code, io = _train(capsys, data, run, "--epochs", "1", "--resume", "--init-from", start, "--init-parts",
                      "image_encoder")
    assert code == 0, io.err
    manifest = data / "manifest.csv"
    manifest.write_text(manifest.read_text() + "\n")  # the same path, another table
    code, io = _train(capsys, data, run, "--epochs", "1", "--resume", "--init-from", start, "--init-parts",
                      "image_encoder")
    assert code == 2 and "its table has changed since the run began" in io.err, io.err
