"""The Qt-free training pieces: run-folder reader, progress model, settings checks and command lines."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from alifuse_gui.training import RunFolder, RunMonitor, TrainLauncher, open_run, parse_event_line, parse_settings
from alifuse_gui.training.launcher import synthetic_cohort_dir
from alifuse_gui.training.progress import format_duration
from engine.errors import AlifuseInputError


def epoch_event(n: int, acc: float, best: bool = False, run: Path | None = None) -> dict:
    return {"event": "epoch", "epoch": n, "train": {"total": 3.0 / n, "itc": 1.0 / n, "cls": 0.5 / n},
            "val": {"acc": acc, "auc": acc + 0.1, "loss": 1.0 / n},
            "checkpoint": str((run or Path("/r")) / "last.safetensors"), "best": best}


def test_read_events_skips_partial_last_line_and_junk(tmp_path):
    f = tmp_path / "metrics.jsonl"
    f.write_text(json.dumps(epoch_event(1, 0.5)) + "\n\nnot json\n" + json.dumps(epoch_event(2, 0.6))
                 + "\n" + '{"event": "epoch", "epoch": 3, "tra')
    run = RunFolder(tmp_path)
    assert [e["epoch"] for e in run.epochs()] == [1, 2]
    assert RunFolder(tmp_path / "missing").epochs() == []


def test_progress_json_half_written_reads_as_none(tmp_path):
    (tmp_path / "progress.json").write_text('{"event": "step", "epo')
    assert RunFolder(tmp_path).progress() is None
    (tmp_path / "progress.json").write_text(json.dumps({"event": "done", "best_checkpoint": "x"}))
    assert RunFolder(tmp_path).progress()["event"] == "done"
    assert RunFolder(tmp_path).finished()


def test_parse_event_line_accepts_only_event_objects():
    assert parse_event_line(b'{"event": "start", "epochs": 2}\n') == {"event": "start", "epochs": 2}
    assert parse_event_line('{"epochs": 2}') is None
    assert parse_event_line("[1, 2]") is None
    assert parse_event_line("Epoch 1 ...") is None


def test_open_run_refuses_a_folder_that_is_not_a_run(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(AlifuseInputError, match=r"not a training run folder"):
        open_run(tmp_path)
    with pytest.raises(AlifuseInputError, match="no such folder"):
        open_run(tmp_path / "nope")
    (tmp_path / "best.safetensors").write_bytes(b"x")
    assert open_run(tmp_path).best_checkpoint() == tmp_path / "best.safetensors"


def test_monitor_builds_curves_progress_and_time_left():
    m = RunMonitor()
    m.feed_line('{"event": "start", "epochs": 2, "steps_per_epoch": 4, "run_dir": "/r"}')
    for step in (1, 2):
        m.feed({"event": "step", "epoch": 1, "step": step, "steps_per_epoch": 4, "fraction": step / 8,
                "eta_s": 150.0, "loss": {"total": 3.0 - step, "itc": 1.0, "img_rec": None}})
    assert m.step_loss["total"].x == [0.25, 0.5] and m.step_loss["total"].y == [2.0, 1.0]
    assert m.step_loss["img_rec"].y == []          # null terms are not plotted as zeros
    assert m.fraction == pytest.approx(0.25)
    assert m.status_text() == "Training: epoch 1/2, step 2/4, about 2 min left"
    m.feed(epoch_event(1, 0.6, best=True))
    assert m.fraction == pytest.approx(0.5) and m.best_epoch == 1
    assert m.latest_val() == {"acc": 0.6, "auc": pytest.approx(0.7), "loss": 1.0}
    m.feed({"event": "step", "epoch": 1, "step": 3, "steps_per_epoch": 4, "fraction": 0.1})
    assert m.fraction == pytest.approx(0.5)        # never backwards
    m.feed({"event": "done", "best_checkpoint": "/r/best.safetensors", "seconds": 75})
    assert m.fraction == 1.0 and m.state == "done"
    assert m.status_text() == "Training finished in 75 s."
    m.feed({"event": "error", "message": "CUDA out of memory"})
    assert m.status_text() == "Training failed: CUDA out of memory"


def test_format_duration():
    assert format_duration(None) == ""
    assert format_duration(12.4) == "12 s"
    assert format_duration(600) == "10 min"
    assert format_duration(4800) == "1 h 20 min"


def test_settings_errors_name_the_field(tmp_path):
    out = str(tmp_path / "run")
    cohort = tmp_path / "cohort"
    cohort.mkdir()
    with pytest.raises(AlifuseInputError, match=r"^data: choose a cohort folder"):
        parse_settings("", "tiny", out)
    with pytest.raises(AlifuseInputError, match=r"^data: .* has no manifest.csv"):
        parse_settings(str(cohort), "tiny", out)
    (cohort / "manifest.csv").write_text("subject_id,image,label\n")
    with pytest.raises(AlifuseInputError, match=r"^epochs: 'five' is not a whole number"):
        parse_settings(str(cohort), "tiny", out, epochs="five")
    with pytest.raises(AlifuseInputError, match=r"^batch size: 0 is out of range"):
        parse_settings(str(cohort), "tiny", out, batch_size="0")
    with pytest.raises(AlifuseInputError, match=r"^preset: 'huge'"):
        parse_settings(str(cohort), "huge", out)
    with pytest.raises(AlifuseInputError, match=r"^synthetic subjects: 2 is out of range"):
        parse_settings("", "tiny", out, synthetic_subjects="2")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "metrics.jsonl").write_text("")
    with pytest.raises(AlifuseInputError, match=r"^run folder: .* already holds files; tick Resume"):
        parse_settings(str(cohort), "tiny", out)
    s = parse_settings(str(cohort), "tiny", out, resume=True)
    assert s.resume and s.data == cohort


def test_command_lines(tmp_path):
    cohort = tmp_path / "c.csv"
    cohort.write_text("x\n")
    s = parse_settings(str(cohort), "demo", str(tmp_path / "run"), epochs=" 3 ", batch_size="2",
                       device="cpu", seed="7")
    cmd = TrainLauncher().train_command(s)
    assert cmd[:3] == [sys.executable, "-m", "trainer.cli_train"]
    assert cmd[3:] == ["--data", str(cohort), "--preset", "demo", "--out", str(tmp_path / "run"), "--device",
                       "cpu", "--epochs", "3", "--batch-size", "2", "--seed", "7", "--progress-json"]
    syn = parse_settings("", "tiny", str(tmp_path / "run2"), synthetic_subjects="6", seed="1")
    assert syn.data == synthetic_cohort_dir(tmp_path / "run2") == tmp_path / "run2-cohort"
    launcher = TrainLauncher(train_prefix=["fake"])
    assert launcher.needs_synthesis(syn)
    assert launcher.synth_command(syn)[3:] == [str(tmp_path / "run2-cohort"), "--subjects", "6", "--seed", "1"]
    assert launcher.train_command(syn)[:3] == ["fake", "--data", str(tmp_path / "run2-cohort")]
    env = launcher.environment({"PYTHONPATH": "/x"})
    assert env["PYTHONUNBUFFERED"] == "1" and env["PYTHONPATH"].endswith("/x")


def test_monitor_stopped_event_keeps_the_checkpoints():
    m = RunMonitor()
    m.load_epochs([epoch_event(1, 0.5, best=True), epoch_event(2, 0.4)])
    m.feed({"event": "stopped", "best_checkpoint": "/r/best.safetensors", "last_checkpoint": "/r/last.safetensors",
            "seconds": 3.0, "epochs_done": 2})
    assert m.state == "stopped" and m.last_checkpoint == "/r/last.safetensors" and m.best_epoch == 1
    assert m.status_text() == "Training stopped after 2 complete epoch(s)."


def test_resume_takes_the_runs_own_settings_and_names_a_field_that_differs(tmp_path):
    cohort = tmp_path / "cohort"
    cohort.mkdir()
    (cohort / "manifest.csv").write_text("subject_id,image,label\n")
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({
        "data_resolved": str(cohort.resolve()), "preset": "tiny", "seed": 3,
        "options": {"preset": "tiny", "epochs": 4, "batch_size": 2, "seed": 3, "lr": 0.001}}))
    s = parse_settings(str(cohort), "tiny", str(run), resume=True)  # blank fields: the run's own
    assert (s.epochs, s.batch_size, s.seed) == (4, 2, 3)
    assert TrainLauncher().train_command(s)[-8:] == ["--epochs", "4", "--batch-size", "2", "--seed", "3", "--resume",
                                                     "--progress-json"]
    assert parse_settings(str(cohort), "tiny", str(run), epochs="8", resume=True).epochs == 8  # trains longer
    with pytest.raises(AlifuseInputError, match=r"^batch size: 16, but the run in .* was trained with 2"):
        parse_settings(str(cohort), "tiny", str(run), batch_size="16", resume=True)
    with pytest.raises(AlifuseInputError, match=r"^seed: 1, but .* trained with 3"):
        parse_settings(str(cohort), "tiny", str(run), seed="1", resume=True)
    with pytest.raises(AlifuseInputError, match=r"^preset: demo, but .* trained with tiny"):
        parse_settings(str(cohort), "demo", str(run), resume=True)
    other = tmp_path / "other.csv"
    other.write_text("x\n")
    with pytest.raises(AlifuseInputError, match=r"^data: .*other.csv, but the run in .* was trained on"):
        parse_settings(str(other), "tiny", str(run), resume=True)
    assert parse_settings(str(cohort), "tiny", str(run), epochs="4", batch_size="2", seed="3", resume=True).resume


def test_a_fifo_or_oversized_run_file_reads_as_none_without_hanging(tmp_path):
    import os

    run = tmp_path / "run"
    run.mkdir()
    os.mkfifo(run / "run.json")  # reading a FIFO with no writer would block forever
    os.mkfifo(run / "metrics.jsonl")
    (run / "config.json").write_bytes(b"{" + b" " * (17 << 20) + b"}")  # over the 16 MiB a run's file may be
    folder = RunFolder(run)
    assert folder.run_info() is None and folder.epochs() == [] and folder.config() is None
