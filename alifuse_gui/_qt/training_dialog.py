"""The "Train a model" dialog: choose data and settings, run ``alifuse-train`` in its own process, watch it.

The trainer runs under ``QProcess`` (a crash or a day-long run never freezes the viewer); its
``--progress-json`` stdout lines feed a :class:`~alifuse_gui.training.RunMonitor`, which the dialog draws as
live loss / validation curves, a progress bar and the time left. Cancel sends SIGTERM: the trainer writes a
checkpoint and stops, and the dialog names the checkpoint it kept.
"""
from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QProcess, QProcessEnvironment, QTimer
from PySide6.QtWidgets import (QButtonGroup, QCheckBox, QComboBox, QDialog, QFileDialog, QFormLayout, QGroupBox,
                               QHBoxLayout, QLabel, QLineEdit, QPlainTextEdit, QProgressBar, QPushButton,
                               QRadioButton, QSpinBox, QVBoxLayout, QWidget)
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from matplotlib.ticker import AutoLocator, NullLocator

from alifuse_gui.training import PRESETS, RunFolder, RunMonitor, TrainLauncher, TrainSettings, open_run, parse_settings
from alifuse_gui.training.launcher import DEVICES, MAX_SYNTH_SUBJECTS, MIN_SYNTH_SUBJECTS, run_options
from alifuse_gui.training.progress import LOSS_TERMS
from engine import run_format as rf
from engine.errors import AlifuseInputError
from engine.safe_files import size_text

#: After Cancel, the trainer gets this long to write its checkpoint before it is killed.
KILL_AFTER_MS = 60_000
#: The plot redraws at most this often while steps stream in.
REDRAW_MS = 250
_LOSS_LABELS = {"total": "total", "itc": "ITC", "img_rec": "image rec.", "txt_rec": "text rec.", "cls": "class."}


def default_run_dir() -> Path:
    from datetime import datetime

    return Path.home() / "alifuse-runs" / datetime.now().strftime("run-%Y%m%d-%H%M%S")


class TrainingPlot(FigureCanvasQTAgg):
    """Two panels: training losses (per step, or per epoch for a reopened run) with the validation loss, and
    validation ACC/AUC per epoch. ``lines`` maps 'loss:<term>', 'val:loss', 'val:acc', 'val:auc' to Line2D."""

    def __init__(self, parent: QWidget | None = None) -> None:
        self.figure = Figure(figsize=(8, 3), layout="constrained")
        super().__init__(self.figure)
        self.setParent(parent)
        self.ax_loss, self.ax_val = self.figure.subplots(1, 2)
        self.lines = {}
        for term in LOSS_TERMS:
            (self.lines[f"loss:{term}"],) = self.ax_loss.plot([], [], lw=2.0 if term == "total" else 1.0,
                                                              label=_LOSS_LABELS[term])
        (self.lines["val:loss"],) = self.ax_loss.plot([], [], "k--o", ms=4, lw=1.2, label="val. loss")
        (self.lines["val:acc"],) = self.ax_val.plot([], [], "-o", ms=4, label="ACC")
        (self.lines["val:auc"],) = self.ax_val.plot([], [], "-s", ms=4, label="AUC")
        self.ax_loss.set(title="Training loss", xlabel="epoch")
        self.ax_val.set(title="Validation", xlabel="epoch", ylim=(0, 1.02))
        # before the first point, a line of text instead of matplotlib's axes around nothing (-0.04 ... 0.04)
        self.empty_notes = {ax: ax.text(0.5, 0.5, "no epochs yet", transform=ax.transAxes, ha="center",
                                        va="center", color="0.45") for ax in (self.ax_loss, self.ax_val)}
        for ax in (self.ax_loss, self.ax_val):
            ax.grid(alpha=0.3)
            self._show_empty(ax, True)

    def _show_empty(self, ax, empty: bool) -> None:  # noqa: ANN001
        """No ticks and the "no epochs yet" note on an axis without data; matplotlib's own ticks otherwise."""
        self.empty_notes[ax].set_visible(empty)
        ax.xaxis.set_major_locator(NullLocator() if empty else AutoLocator())
        if ax is self.ax_loss:
            ax.yaxis.set_major_locator(NullLocator() if empty else AutoLocator())

    def show_monitor(self, m: RunMonitor) -> None:
        """Copy the monitor's curves into the lines and redraw (idle)."""
        live = any(m.step_loss[t].x for t in LOSS_TERMS)
        for term in LOSS_TERMS:
            s = m.step_loss[term] if live else m.epoch_loss[term]
            line = self.lines[f"loss:{term}"]
            line.set_data(s.x, s.y)
            line.set_marker("" if live else "o")
        for key in ("loss", "acc", "auc"):
            self.lines[f"val:{key}"].set_data(m.val[key].x, m.val[key].y)
        for ax in (self.ax_loss, self.ax_val):
            ax.relim()
            ax.autoscale_view(scaley=ax is self.ax_loss)
            handles = [ln for ln in ax.get_lines() if len(ln.get_xdata())]
            self._show_empty(ax, not handles)
            if handles:
                ax.legend(handles=handles, fontsize=7, loc="best")
            elif ax.get_legend() is not None:  # a run reopened after one with curves
                ax.get_legend().remove()
        self.draw_idle()


class TrainingDialog(QDialog):
    """Launch, watch, cancel and reopen training runs; ``on_use_model(best_checkpoint)`` loads the result."""

    def __init__(self, parent: QWidget | None = None,
                 on_use_model: Callable[[Path], None] | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Train an Alifuse model")
        self.on_use_model = on_use_model
        self.launcher = TrainLauncher()
        self.monitor = RunMonitor()
        self.settings: TrainSettings | None = None
        self.run_dir: Path | None = None
        self.best_checkpoint: Path | None = None
        self.process: QProcess | None = None
        self._phase: str | None = None          # "synth" | "train" while a process runs
        self._cancelled = False
        self._stdout_buf = b""
        self._stderr_tail: deque[str] = deque(maxlen=200)
        self._dirty = False
        self._build()
        self._timer = QTimer(self)
        self._timer.setInterval(REDRAW_MS)
        self._timer.timeout.connect(self._refresh_if_dirty)
        self._timer.start()
        self._update_buttons()

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        data_box = QGroupBox("Data")
        self.existing_radio = QRadioButton("Cohort folder or manifest table:")
        self.synth_radio = QRadioButton("Make a synthetic cohort with")
        group = QButtonGroup(self)
        group.addButton(self.existing_radio)
        group.addButton(self.synth_radio)
        self.existing_radio.setChecked(True)
        self.data_edit = QLineEdit()
        self.data_edit.setPlaceholderText("folder holding manifest.csv, or a manifest .csv/.tsv")
        browse_dir = QPushButton("Folder…")
        browse_dir.clicked.connect(self._browse_data_folder)
        browse_table = QPushButton("Table…")
        browse_table.clicked.connect(self._browse_data_table)
        self.subjects_spin = QSpinBox()
        self.subjects_spin.setRange(MIN_SYNTH_SUBJECTS, MAX_SYNTH_SUBJECTS)
        self.subjects_spin.setValue(60)
        self.subjects_spin.setSuffix(" subjects")
        row1 = QHBoxLayout()
        for w in (self.existing_radio, self.data_edit, browse_dir, browse_table):
            row1.addWidget(w)
        row2 = QHBoxLayout()
        row2.addWidget(self.synth_radio)
        row2.addWidget(self.subjects_spin)
        row2.addWidget(QLabel("(written beside the run folder; planted, known atrophy)"))
        row2.addStretch(1)
        data_layout = QVBoxLayout(data_box)
        data_layout.addLayout(row1)
        data_layout.addLayout(row2)

        self.preset_combo = QComboBox()
        for name, text in PRESETS.items():
            self.preset_combo.addItem(text, name)
        self.epochs_edit = QLineEdit()
        self.epochs_edit.setPlaceholderText("trainer default")
        self.batch_edit = QLineEdit()
        self.batch_edit.setPlaceholderText("trainer default")
        self.device_combo = QComboBox()
        self.device_combo.addItems(list(DEVICES))
        self.seed_edit = QLineEdit()
        self.seed_edit.setPlaceholderText("trainer default")
        self.out_edit = QLineEdit(str(default_run_dir()))
        browse_out = QPushButton("Folder…")
        browse_out.clicked.connect(self._browse_out)
        out_row = QHBoxLayout()
        out_row.addWidget(self.out_edit)
        out_row.addWidget(browse_out)
        self.resume_check = QCheckBox("Resume the run in this folder")
        # a resumed run keeps its own settings: blank fields show them
        self.resume_check.toggled.connect(self._show_run_settings)
        self.out_edit.textChanged.connect(self._show_run_settings)
        form = QFormLayout()
        form.addRow("Preset", self.preset_combo)
        form.addRow("Epochs", self.epochs_edit)
        form.addRow("Batch size", self.batch_edit)
        form.addRow("Device", self.device_combo)
        form.addRow("Seed", self.seed_edit)
        form.addRow("Run folder", out_row)
        form.addRow("", self.resume_check)

        self.error_label = QLabel()
        self.error_label.setStyleSheet("color: #c0392b; font-weight: bold;")
        self.error_label.setWordWrap(True)
        self.status_label = QLabel("Choose the data and press Start. Training runs in its own process.")
        self.status_label.setWordWrap(True)
        self.message_label = QLabel()
        self.message_label.setWordWrap(True)
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setFormat("%p%")
        self.plot = TrainingPlot(self)
        self.plot.setMinimumHeight(240)
        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(500)
        self.log_view.setMaximumHeight(90)
        self.log_view.setPlaceholderText("trainer messages")

        self.start_button = QPushButton("Start")
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel training")
        self.cancel_button.clicked.connect(self.cancel)
        self.open_button = QPushButton("Open run…")
        self.open_button.clicked.connect(lambda: self.open_run())
        self.use_button = QPushButton("Use this model")
        self.use_button.clicked.connect(self.use_model)
        self.use_button.setVisible(self.on_use_model is not None)
        close_button = QPushButton("Close")
        close_button.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        for b in (self.start_button, self.cancel_button, self.open_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.use_button)
        buttons.addWidget(close_button)

        layout = QVBoxLayout(self)
        layout.addWidget(data_box)
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.status_label)
        layout.addWidget(self.message_label)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.log_view)
        layout.addLayout(buttons)
        self.resize(900, 820)

    def _browse_data_folder(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Cohort folder (with manifest.csv)")
        if d:
            self.data_edit.setText(d)
            self.existing_radio.setChecked(True)

    def _browse_data_table(self) -> None:
        f, _ = QFileDialog.getOpenFileName(self, "Manifest table", "", "Tables (*.csv *.tsv)")
        if f:
            self.data_edit.setText(f)
            self.existing_radio.setChecked(True)

    def _show_run_settings(self, *_args) -> None:  # noqa: ANN002
        """With Resume ticked, the blank Epochs, Batch size and Seed fields show the run's own values (what a
        blank field resumes with); otherwise the trainer's defaults."""
        text = self.out_edit.text().strip()
        own = run_options(Path(text).expanduser()) if text and self.resume_check.isChecked() else {}
        for edit, key in ((self.epochs_edit, "epochs"), (self.batch_edit, "batch_size"), (self.seed_edit, "seed")):
            edit.setPlaceholderText(f"the run's: {own[key]}" if own.get(key) is not None else "trainer default")

    def _browse_out(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Run folder")
        if d:
            self.out_edit.setText(d)

    # ------------------------------------------------------------------ state
    def is_running(self) -> bool:
        return self.process is not None and self.process.state() != QProcess.ProcessState.NotRunning

    def _update_buttons(self) -> None:
        running = self.is_running()
        self.start_button.setEnabled(not running)
        self.open_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.use_button.setEnabled(not running and self.best_checkpoint is not None)

    def _show_error(self, text: str) -> None:
        self.error_label.setText(text)

    def _refresh_if_dirty(self) -> None:
        if self._dirty:
            self._refresh()

    def _refresh(self) -> None:
        self._dirty = False
        self.progress_bar.setValue(round(self.monitor.fraction * self.progress_bar.maximum()))
        text = self.monitor.status_text()
        val = self.monitor.latest_val()
        if val and self.monitor.state == "running":
            text += " — last validation: " + ", ".join(f"{k.upper()} {v:.3f}" for k, v in val.items())
        if text:
            self.status_label.setText(text)
        self.plot.show_monitor(self.monitor)

    # ------------------------------------------------------------------ start
    def read_settings(self) -> TrainSettings:
        """The fields as a checked request; ``AlifuseInputError`` names the first bad field."""
        synth = str(self.subjects_spin.value()) if self.synth_radio.isChecked() else None
        return parse_settings(self.data_edit.text(), self.preset_combo.currentData(), self.out_edit.text(),
                              self.epochs_edit.text(), self.batch_edit.text(), self.device_combo.currentText(),
                              self.seed_edit.text(), self.resume_check.isChecked(), synth)

    def start(self) -> bool:
        """Check the fields and launch (synthesis first when asked). False, with the reason shown, on bad input."""
        if self.is_running():
            return False
        try:
            s = self.read_settings()
        except AlifuseInputError as exc:
            self._show_error(str(exc))
            return False
        self._show_error("")
        self.settings, self.run_dir, self.best_checkpoint = s, s.out, None
        self.monitor = RunMonitor()
        self._cancelled = False
        self.message_label.setText("")
        self.log_view.clear()
        self._refresh()
        if self.launcher.needs_synthesis(s):
            self.status_label.setText(f"Making a synthetic cohort of {s.synthetic_subjects} subjects in {s.data}…")
            self._launch(self.launcher.synth_command(s), "synth")
        else:
            self._start_training()
        return True

    def _start_training(self) -> None:
        assert self.settings is not None
        self.status_label.setText("Training: starting…")
        self._launch(self.launcher.train_command(self.settings), "train")

    def _launch(self, cmd: list[str], phase: str) -> None:
        proc = QProcess(self)
        proc.setProgram(cmd[0])
        proc.setArguments(cmd[1:])
        env = QProcessEnvironment()
        for k, v in self.launcher.environment().items():
            env.insert(k, v)
        proc.setProcessEnvironment(env)
        proc.readyReadStandardOutput.connect(self._on_stdout)
        proc.readyReadStandardError.connect(self._on_stderr)
        proc.finished.connect(self._on_finished)
        proc.errorOccurred.connect(self._on_process_error)
        self.process, self._phase = proc, phase
        self._stdout_buf = b""
        self._stderr_tail.clear()
        self.log_view.appendPlainText("$ " + " ".join(cmd))
        proc.start()
        self._update_buttons()

    # ------------------------------------------------------------------ process output
    def _on_stdout(self) -> None:
        if self.process is None:
            return
        self._stdout_buf += bytes(self.process.readAllStandardOutput())
        *lines, self._stdout_buf = self._stdout_buf.split(b"\n")
        for line in lines:
            self._take_line(line)

    def _take_line(self, line: bytes) -> None:
        if self._phase == "train" and self.monitor.feed_line(line) is not None:
            self._dirty = True
        elif line.strip():
            self.log_view.appendPlainText(line.decode("utf-8", errors="replace").rstrip())

    def _on_stderr(self) -> None:
        if self.process is None:
            return
        text = bytes(self.process.readAllStandardError()).decode("utf-8", errors="replace")
        for line in text.splitlines():
            if line.strip():
                self._stderr_tail.append(line.rstrip())
                self.log_view.appendPlainText(line.rstrip())

    def _failure_reason(self, code: int) -> str:
        """The trainer's own one-line error if it printed one, else the last stderr line, else the exit code."""
        for line in reversed(self._stderr_tail):
            if line.startswith("alifuse: error:"):
                return line.removeprefix("alifuse: error:").strip()
        if self.monitor.error:
            return self.monitor.error
        if self._stderr_tail:
            return self._stderr_tail[-1]
        return f"the process stopped with exit code {code}"

    def _on_process_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart and self.process is not None:
            self._show_error(f"could not start {self.process.program()}: {self.process.errorString()}")
            self._phase = None
            self._update_buttons()

    def _on_finished(self, code: int, _status: QProcess.ExitStatus) -> None:
        self._on_stdout()
        self._on_stderr()
        if self._stdout_buf.strip():
            self._take_line(self._stdout_buf)
        self._stdout_buf = b""
        phase, self._phase = self._phase, None
        if phase == "synth":
            if code == 0 and not self._cancelled:
                self._start_training()
                return
            if self._cancelled:
                self.message_label.setText("Cancelled while making the synthetic cohort; no training was run.")
            else:
                self._show_error(f"Making the synthetic cohort failed: {self._failure_reason(code)}")
        elif phase == "train":
            self._training_finished(code)
        self._refresh()
        self._update_buttons()

    def _training_finished(self, code: int) -> None:
        run = RunFolder(self.run_dir) if self.run_dir else None
        best = Path(self.monitor.best_checkpoint) if self.monitor.best_checkpoint else None
        if best is None or not best.is_file():
            best = run.best_checkpoint() if run else None
        if self._cancelled or self.monitor.state == "stopped":
            named = Path(self.monitor.last_checkpoint) if self.monitor.last_checkpoint else None
            last = named if named is not None and named.is_file() else (run.last_checkpoint() if run else None)
            what = "Training cancelled" if self._cancelled else "The trainer was stopped from outside"
            if last is not None:
                self.message_label.setText(f"{what}. The trainer kept its last checkpoint: {last} "
                                           f"(tick Resume and Start to continue the run).")
            else:
                self.message_label.setText(f"{what} before the first checkpoint was written; nothing was kept.")
            self.monitor.state = "stopped"
            self.best_checkpoint = best
            return
        if code == 0 and self.monitor.state != "error":
            self.monitor.state = "done"
            self.monitor.fraction = 1.0
            self.best_checkpoint = best
            where = f"Best checkpoint: {best}" if best else "The trainer wrote no best checkpoint."
            self.message_label.setText(where)
            return
        reason = self._failure_reason(code)
        self.monitor.state, self.monitor.error = "error", reason
        self._show_error(f"Training failed: {reason}")
        self.best_checkpoint = best

    # ------------------------------------------------------------------ user actions
    def cancel(self) -> None:
        """Ask the trainer to stop (SIGTERM: it writes a checkpoint first); kill it if it does not stop."""
        if not self.is_running():
            return
        self._cancelled = True
        self.status_label.setText("Stopping: the trainer is writing its last checkpoint…")
        proc = self.process
        proc.terminate()
        # The timer is parented to the process: if the process object is gone first, so is the timer.
        timer = QTimer(proc)
        timer.setSingleShot(True)
        timer.timeout.connect(lambda: proc.kill() if proc.state() != QProcess.ProcessState.NotRunning else None)
        timer.start(KILL_AFTER_MS)
        self.cancel_button.setEnabled(False)

    def open_run(self, path: str | Path | None = None) -> bool:
        """Plot an earlier run folder's ``metrics.jsonl``; False, with the reason shown, if it is not a run."""
        if self.is_running():
            self._show_error("a training run is in progress; cancel it or wait before opening another run")
            return False
        if path is None:
            path = QFileDialog.getExistingDirectory(self, "Open a training run folder")
            if not path:
                return False
        try:
            run = open_run(path)
        except AlifuseInputError as exc:
            self._show_error(str(exc))
            return False
        self._show_error("")
        self.monitor = RunMonitor()
        self.monitor.load_epochs(run.epochs())
        prog = run.progress() or {}
        if run.finished():
            self.monitor.feed(prog)
        elif isinstance(prog.get("fraction"), (int, float)):
            self.monitor.fraction = max(self.monitor.fraction, min(float(prog["fraction"]), 1.0))
        self.run_dir, self.best_checkpoint = run.path, run.best_checkpoint()
        self.out_edit.setText(str(run.path))
        n = self.monitor.epochs_done()
        state = "finished" if run.finished() else "not finished (tick Resume and Start to continue it)"
        best = f"Best checkpoint: {self.best_checkpoint}" if self.best_checkpoint else "No best checkpoint yet."
        self.message_label.setText(best)
        self._refresh()
        cut = run.metrics_cut()
        recorded = (f"the newest {n} epoch(s) shown (the first {size_text(cut)} of {rf.METRICS} were not read)"
                    if cut else f"{n} epoch(s) recorded")
        self.status_label.setText(f"Run {run.path}: {recorded}, {state}.")
        self._update_buttons()
        return True

    def use_model(self) -> None:
        if self.best_checkpoint is None or self.on_use_model is None:
            return
        self.on_use_model(self.best_checkpoint)
        self.accept()

    def reject(self) -> None:
        """Closing stops a running trainer (its last checkpoint is kept) rather than orphaning it."""
        if self.is_running():
            self.cancel()
            if self.process is not None and not self.process.waitForFinished(KILL_AFTER_MS):
                self.process.kill()
                self.process.waitForFinished(5000)
        self._timer.stop()
        super().reject()
