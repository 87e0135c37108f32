"""TrainingDialog driven by a fake trainer that speaks the ``--progress-json`` protocol and writes a run folder."""
from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest

if not os.environ.get("DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

pytest.importorskip("pytestqt")

from alifuse_gui._qt.training_dialog import TrainingDialog  # noqa: E402

FAKE_TRAINER = r'''
import argparse, json, os, signal, sys, time
from pathlib import Path

p = argparse.ArgumentParser()
for opt in ("--data", "--preset", "--out", "--batch-size", "--device", "--seed"):
    p.add_argument(opt)
p.add_argument("--epochs", type=int, default=2)
p.add_argument("--resume", action="store_true")
p.add_argument("--progress-json", action="store_true")
a = p.parse_args()
if os.environ.get("FAKE_FAIL"):
    print("alifuse: error: " + os.environ["FAKE_FAIL"], file=sys.stderr)
    sys.exit(2)
out = Path(a.out)
out.mkdir(parents=True, exist_ok=True)
(out / "args.json").write_text(json.dumps(sys.argv[1:]))
stop = []
signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
pause = float(os.environ.get("FAKE_STEP_SLEEP", "0.01"))
spe = 4

def emit(ev):
    print(json.dumps(ev), flush=True)
    (out / "progress.json").write_text(json.dumps(ev))

emit({"event": "start", "epochs": a.epochs, "steps_per_epoch": spe, "run_dir": str(out)})
for e in range(1, a.epochs + 1):
    for s in range(1, spe + 1):
        if stop:   # like alifuse-train: stop at a step, keep the last epoch's checkpoint
            last = out / "last.safetensors"
            emit({"event": "stopped", "best_checkpoint": str(out / "best.safetensors"),
                  "last_checkpoint": str(last), "seconds": 0.5, "epochs_done": e - 1})
            sys.exit(0)
        time.sleep(pause)
        done = ((e - 1) * spe + s) / (a.epochs * spe)
        emit({"event": "step", "epoch": e, "step": s, "steps_per_epoch": spe, "fraction": done,
              "eta_s": 10 * (1 - done), "loss": {"total": 3.0 / (e + s), "itc": 1.0, "img_rec": 0.5,
                                                 "txt_rec": 0.7, "cls": 1.1}})
    (out / "last.safetensors").write_bytes(b"last epoch %d" % e)
    (out / "best.safetensors").write_bytes(b"best")
    ev = {"event": "epoch", "epoch": e, "train": {"total": 2.0 / e}, "val": {"acc": 0.5 + 0.1 * e,
          "auc": 0.6 + 0.1 * e, "loss": 1.0 / e}, "checkpoint": str(out / "last.safetensors"), "best": True}
    with open(out / "metrics.jsonl", "a") as fh:
        fh.write(json.dumps(ev) + "\n")
    emit(ev)
emit({"event": "done", "best_checkpoint": str(out / "best.safetensors"), "seconds": 1.5})
'''

FAKE_SYNTH = r'''
import sys
from pathlib import Path
out = Path(sys.argv[1])
out.mkdir(parents=True)
(out / "manifest.csv").write_text("subject_id,image,label\n")
(out / "made_with.txt").write_text(" ".join(sys.argv[1:]))
'''


@pytest.fixture
def fake(tmp_path):
    trainer = tmp_path / "fake_trainer.py"
    trainer.write_text(FAKE_TRAINER)
    synth = tmp_path / "fake_synth.py"
    synth.write_text(FAKE_SYNTH)
    cohort = tmp_path / "cohort"
    cohort.mkdir()
    (cohort / "manifest.csv").write_text("subject_id,image,label\n")
    return {"trainer": trainer, "synth": synth, "cohort": cohort}


def make_dialog(qtbot, fake, tmp_path, **kw) -> TrainingDialog:
    dlg = TrainingDialog(**kw)
    qtbot.addWidget(dlg)
    dlg.launcher.train_prefix = [sys.executable, str(fake["trainer"])]
    dlg.launcher.synth_prefix = [sys.executable, str(fake["synth"])]
    dlg.data_edit.setText(str(fake["cohort"]))
    dlg.out_edit.setText(str(tmp_path / "run"))
    return dlg


def test_run_to_the_end_plots_curves_and_offers_the_best_model(qtbot, fake, tmp_path):
    used: list[Path] = []
    dlg = make_dialog(qtbot, fake, tmp_path, on_use_model=used.append)
    dlg.epochs_edit.setText("3")
    dlg.device_combo.setCurrentText("cpu")
    assert not dlg.use_button.isEnabled()
    plot = dlg.plot  # before the first epoch: a note, not axes ticked around nothing
    assert all(n.get_visible() for n in plot.empty_notes.values())
    assert len(plot.ax_loss.get_xticks()) == 0 and len(plot.ax_loss.get_yticks()) == 0
    assert dlg.start()
    qtbot.waitUntil(lambda: not dlg.is_running() and dlg.monitor.state == "done", timeout=20_000)
    dlg._refresh()
    assert not any(n.get_visible() for n in plot.empty_notes.values()) and len(plot.ax_loss.get_xticks()) > 1
    args = json.loads((tmp_path / "run" / "args.json").read_text())
    assert args[args.index("--epochs") + 1] == "3" and args[args.index("--device") + 1] == "cpu"
    assert "--progress-json" in args
    total = dlg.plot.lines["loss:total"]
    assert len(total.get_xdata()) == 12                      # 3 epochs x 4 steps
    assert list(dlg.plot.lines["val:acc"].get_ydata()) == pytest.approx([0.6, 0.7, 0.8])
    assert dlg.progress_bar.value() == dlg.progress_bar.maximum()
    assert dlg.status_label.text().startswith("Training finished")
    best = tmp_path / "run" / "best.safetensors"
    assert str(best) in dlg.message_label.text()
    assert dlg.use_button.isEnabled()
    dlg.use_button.click()
    assert used == [best]


def test_progress_and_time_left_show_while_running(qtbot, fake, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_STEP_SLEEP", "0.4")
    dlg = make_dialog(qtbot, fake, tmp_path)
    dlg.epochs_edit.setText("2")
    dlg.start()
    qtbot.waitUntil(lambda: 0 < dlg.progress_bar.value() < dlg.progress_bar.maximum()
                    and "left" in dlg.status_label.text(), timeout=10_000)
    assert "epoch 1/2" in dlg.status_label.text()
    assert not dlg.start_button.isEnabled() and dlg.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: not dlg.is_running(), timeout=20_000)
    assert dlg.progress_bar.value() == dlg.progress_bar.maximum()


def test_cancel_terminates_and_names_the_kept_checkpoint(qtbot, fake, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_STEP_SLEEP", "0.1")
    dlg = make_dialog(qtbot, fake, tmp_path)
    dlg.epochs_edit.setText("50")
    dlg.start()
    qtbot.waitUntil(lambda: dlg.monitor.epochs_done() >= 1, timeout=10_000)
    pid = dlg.process.processId()
    assert pid > 0
    dlg.cancel_button.click()
    qtbot.waitUntil(lambda: not dlg.is_running(), timeout=15_000)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)                                      # the trainer process is gone
    last = tmp_path / "run" / "last.safetensors"
    assert last.read_bytes().startswith(b"last epoch")
    assert dlg.message_label.text().startswith(f"Training cancelled. The trainer kept its last checkpoint: {last} ")
    assert dlg.status_label.text().startswith("Training stopped after")
    assert dlg.progress_bar.value() < dlg.progress_bar.maximum()
    assert dlg.start_button.isEnabled()


def test_cancel_before_the_first_checkpoint_says_nothing_was_kept(qtbot, fake, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_STEP_SLEEP", "1.5")     # first checkpoint only after 6 s: no race with Cancel
    dlg = make_dialog(qtbot, fake, tmp_path)
    dlg.epochs_edit.setText("5")
    dlg.start()
    qtbot.waitUntil(lambda: dlg.monitor.state == "running", timeout=10_000)
    dlg.cancel()
    qtbot.waitUntil(lambda: not dlg.is_running(), timeout=15_000)
    assert not (tmp_path / "run" / "last.safetensors").exists()
    assert dlg.message_label.text() == "Training cancelled before the first checkpoint was written; nothing was kept."
    assert dlg.best_checkpoint is None and not dlg.use_button.isEnabled()


def test_trainer_error_is_shown_in_one_line(qtbot, fake, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_FAIL", "manifest.csv: column 'label' is missing")
    dlg = make_dialog(qtbot, fake, tmp_path)
    dlg.start()
    qtbot.waitUntil(lambda: not dlg.is_running() and dlg.monitor.state == "error", timeout=10_000)
    assert dlg.error_label.text() == "Training failed: manifest.csv: column 'label' is missing"
    assert not dlg.use_button.isEnabled()


def test_bad_input_is_shown_and_fields_are_kept(qtbot, fake, tmp_path):
    dlg = make_dialog(qtbot, fake, tmp_path)
    dlg.data_edit.setText("")
    assert not dlg.start()
    assert dlg.error_label.text().startswith("data: choose a cohort folder")
    dlg.data_edit.setText(str(fake["cohort"]))
    dlg.epochs_edit.setText("ten")
    dlg.batch_edit.setText("4")
    assert not dlg.start()
    assert dlg.error_label.text() == "epochs: 'ten' is not a whole number"
    assert (dlg.epochs_edit.text(), dlg.batch_edit.text(), dlg.data_edit.text()) == ("ten", "4", str(fake["cohort"]))
    assert dlg.process is None and not (tmp_path / "run").exists()


def test_synthetic_cohort_is_made_first(qtbot, fake, tmp_path):
    dlg = make_dialog(qtbot, fake, tmp_path)
    dlg.data_edit.setText("")
    dlg.synth_radio.setChecked(True)
    dlg.subjects_spin.setValue(6)
    dlg.epochs_edit.setText("1")
    dlg.seed_edit.setText("3")
    assert dlg.start()
    qtbot.waitUntil(lambda: not dlg.is_running() and dlg.monitor.state == "done", timeout=20_000)
    cohort = tmp_path / "run-cohort"
    assert (cohort / "made_with.txt").read_text() == f"{cohort} --subjects 6 --seed 3"
    args = json.loads((tmp_path / "run" / "args.json").read_text())
    assert args[args.index("--data") + 1] == str(cohort)


def test_reopen_plots_metrics_and_refuses_non_runs(qtbot, fake, tmp_path):
    used: list[Path] = []
    dlg = make_dialog(qtbot, fake, tmp_path, on_use_model=used.append)
    junk = tmp_path / "holiday-photos"
    junk.mkdir()
    assert not dlg.open_run(junk)
    assert "not a training run folder" in dlg.error_label.text()
    run = tmp_path / "old-run"
    run.mkdir()
    lines = [json.dumps({"event": "epoch", "epoch": e, "train": {"total": 3.0 - e, "cls": 1.0},
                         "val": {"acc": 0.4 + 0.1 * e, "auc": 0.5 + 0.1 * e, "loss": 2.0 / e}}) for e in (1, 2, 3)]
    (run / "metrics.jsonl").write_text("\n".join(lines) + "\n" + '{"event": "epo')   # half-written last line
    (run / "best.safetensors").write_bytes(b"x")
    assert dlg.open_run(run)
    assert dlg.error_label.text() == ""
    assert list(dlg.plot.lines["loss:total"].get_ydata()) == [2.0, 1.0, 0.0]
    assert list(dlg.plot.lines["val:auc"].get_xdata()) == [1.0, 2.0, 3.0]
    assert "3 epoch(s)" in dlg.status_label.text() and "not finished" in dlg.status_label.text()
    dlg.use_model()
    assert used == [run / "best.safetensors"]


def test_an_oversized_metrics_file_shows_its_newest_epochs_and_says_so(qtbot, fake, tmp_path, monkeypatch):
    from alifuse_gui.training import run_folder
    from engine.safe_files import size_text

    dlg = make_dialog(qtbot, fake, tmp_path)
    run = tmp_path / "long-run"
    run.mkdir()
    lines = [json.dumps({"event": "epoch", "epoch": e, "train": {"total": 1.0 / e}, "val": {"auc": 0.5}})
             for e in range(1, 41)]
    text = "\n".join(lines) + "\n"
    (run / "metrics.jsonl").write_bytes(text.encode())
    ten = len("\n".join(lines[-10:]) + "\n")
    # the last ten lines exactly, then with the end of the one before them: ten epochs either way
    for keep in (ten, ten + 5):
        monkeypatch.setattr(run_folder, "MAX_METRICS_BYTES", keep)
        assert dlg.open_run(run)
        assert list(dlg.plot.lines["loss:total"].get_xdata()) == [float(e) for e in range(31, 41)], keep
        status = dlg.status_label.text()
        unread = size_text(len(text) - keep)  # e.g. "2.62 KB"
        assert f"the newest 10 epoch(s) shown (the first {unread} of metrics.jsonl were not read)" in status, status
    monkeypatch.setattr(run_folder, "MAX_METRICS_BYTES", len(text))  # all of it
    assert dlg.open_run(run) and "40 epoch(s) recorded" in dlg.status_label.text()


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("trainer.cli_train") is None
                    or importlib.util.find_spec("trainer.cli_synth") is None,
                    reason="trainer.cli_train / trainer.cli_synth not written yet")
def test_real_trainer_end_to_end(qtbot, tmp_path):
    used: list[Path] = []
    dlg = TrainingDialog(on_use_model=used.append)
    qtbot.addWidget(dlg)
    dlg.synth_radio.setChecked(True)
    dlg.subjects_spin.setValue(6)
    dlg.preset_combo.setCurrentIndex(dlg.preset_combo.findData("tiny"))
    dlg.epochs_edit.setText("1")
    dlg.batch_edit.setText("2")
    dlg.device_combo.setCurrentText("cpu")
    dlg.seed_edit.setText("0")
    dlg.out_edit.setText(str(tmp_path / "run"))
    assert dlg.start(), dlg.error_label.text()
    qtbot.waitUntil(lambda: not dlg.is_running() and dlg._phase is None, timeout=300_000)
    assert dlg.monitor.state == "done", dlg.error_label.text() + "\n" + dlg.log_view.toPlainText()[-2000:]
    assert dlg.monitor.epochs_total == 1
    assert dlg.monitor.step_loss["total"].y, "no step events were read"
    assert dlg.progress_bar.value() == dlg.progress_bar.maximum()
    assert dlg.best_checkpoint is not None and dlg.best_checkpoint.is_file()
    dlg.use_model()
    assert used == [dlg.best_checkpoint]


def test_resume_shows_the_runs_own_settings_and_names_a_field_that_differs(qtbot, fake, tmp_path):
    import json

    dlg = make_dialog(qtbot, fake, tmp_path)
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"preset": "demo", "data_resolved": str(fake["cohort"].resolve()),
                                              "options": {"preset": "demo", "epochs": 4, "batch_size": 2, "seed": 3}}))
    (run / "metrics.jsonl").write_text("")
    assert dlg.epochs_edit.placeholderText() == "trainer default"
    dlg.resume_check.setChecked(True)
    assert [e.placeholderText() for e in (dlg.epochs_edit, dlg.batch_edit, dlg.seed_edit)] == [
        "the run's: 4", "the run's: 2", "the run's: 3"]
    dlg.preset_combo.setCurrentIndex(dlg.preset_combo.findData("demo"))
    dlg.seed_edit.setText("9")
    assert not dlg.start()
    assert dlg.error_label.text().startswith("seed: 9, but the run in") and dlg.seed_edit.text() == "9"
    dlg.resume_check.setChecked(False)
    assert dlg.seed_edit.placeholderText() == "trainer default"
