"""One run-folder format on both sides: a run alifuse-train wrote is read by the viewer's Qt-free training model
with only the names of engine.run_format, and the viewer's presets and devices are the ones the trainer takes."""
from __future__ import annotations

import subprocess
import sys

import pytest

from alifuse_gui.training import PRESETS, RunMonitor, TrainLauncher, open_run, parse_event_line, parse_settings
from alifuse_gui.training.launcher import DEVICES
from engine import run_format as rf
from engine.config import PRESETS as ENGINE_PRESETS
from tests.trainer.conftest import run_command
from trainer.cli_train import build_parser, main


@pytest.mark.slow
def test_a_run_the_trainer_wrote_is_read_by_the_viewer(toy_cohort, tmp_path, capsys):
    out = tmp_path / "run"
    code, io = run_command(main, ["--data", toy_cohort, "--out", out, "--epochs", "2", "--progress-json",
                                  "--preset", rf.PRESET_TINY, "--batch-size", "2", "--device", rf.DEVICE_CPU,
                                  "--cache", tmp_path / "cache"], capsys)
    assert code == 0, io.err
    for name in (rf.PROGRESS, rf.METRICS, rf.LAST_CHECKPOINT, rf.BEST_CHECKPOINT, rf.TRAIN_STATE, rf.CONFIG,
                 rf.SPLITS, rf.RUN_INFO):
        assert (out / name).is_file(), name
    assert not list(out.glob("*" + rf.PARTIAL_SUFFIX))
    events = [ev for ev in map(parse_event_line, io.out.splitlines()) if ev is not None]
    for ev in events:  # every event carries what the viewer reads of it
        assert set(rf.EVENT_FIELDS[ev[rf.EVENT]]) <= set(ev), ev[rf.EVENT]
    assert {ev[rf.EVENT] for ev in events} == {rf.START, rf.STEP, rf.EPOCH, rf.DONE}

    live = RunMonitor()
    for line in io.out.splitlines():
        live.feed_line(line)
    assert live.state == "done" and live.epochs_done() == 2 and live.fraction == 1.0
    assert all(live.epoch_loss[t].y for t in rf.LOSS_TERMS), "every plotted loss term reaches the plot"
    epochs = [ev for ev in events if ev[rf.EVENT] == rf.EPOCH]
    assert all({*rf.VAL_SCORES, rf.VAL_LOSS} <= set(ev["val"]) for ev in epochs)  # AUC is null on a one-class split
    assert len(live.val[rf.VAL_LOSS].y) == 2

    run = open_run(out)  # the dialog's "Open run folder…", long after
    assert run.finished() and run.best_checkpoint() == out / rf.BEST_CHECKPOINT
    assert run.last_checkpoint() == out / rf.LAST_CHECKPOINT and run.config()["preset"] == rf.PRESET_TINY
    later = RunMonitor()
    later.load_epochs(run.epochs())
    assert later.epoch_loss[rf.TOTAL_LOSS].y == live.epoch_loss[rf.TOTAL_LOSS].y
    assert later.latest_val() == live.latest_val()


def test_the_viewers_presets_and_devices_are_the_trainers(tmp_path):
    assert list(PRESETS) == list(rf.PRESET_NAMES) and set(ENGINE_PRESETS) == set(rf.PRESET_NAMES)
    (tmp_path / "cohort").mkdir()
    (tmp_path / "cohort" / "manifest.csv").write_text("subject_id,label,image\n")
    for preset in PRESETS:
        for device in DEVICES:
            s = parse_settings(str(tmp_path / "cohort"), preset, str(tmp_path / f"run-{preset}-{device}"),
                               device=device)
            cmd = TrainLauncher().train_command(s)
            args = build_parser().parse_args(cmd[3:])  # what alifuse-train makes of the dialog's command
            assert (args.preset, args.device) == (preset, device)


def test_the_run_format_and_the_viewers_reader_load_without_torch():
    code = ("import sys, engine.run_format, alifuse_gui.training; "
            "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
