"""Predict dock: runs the model in a worker thread; shows the current result beside the previous one."""
from __future__ import annotations

from pathlib import Path

from qtpy.QtWidgets import (QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget)

from alifuse_gui._qt.job_controls import JobControls
from alifuse_gui._qt.jobs import Job
from alifuse_gui._qt.result_card import ResultCard
from alifuse_gui.case_state import stale_message
from alifuse_gui.rests_on import rests_on
from alifuse_gui.whatif import Run, changes_text
from alifuse_gui._qt.session_api import CaseSession



class PredictPanel(JobControls, QWidget):
    """The case line (whose scan, whose record), Predict / Cancel, a progress bar, and previous vs current results
    with what changed; the current card is marked out of date while the session says so."""

    def __init__(self, session: CaseSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.job: Job | None = None
        self.runs: list[Run] = []
        self._last_pred = None
        self._last_rests = None
        #: the scan and the record of the open case; the subject check below it, red when they disagree
        self.case_line = QLabel()
        self.case_line.setObjectName("case_line")
        self.case_line.setWordWrap(True)
        self.case_line.setStyleSheet("font-weight: bold;")
        self.subject_warning = QLabel()
        self.subject_warning.setObjectName("subject_warning")
        self.subject_warning.setWordWrap(True)
        self.subject_warning.setStyleSheet("color: #d32f2f; font-weight: bold;")
        self.subject_warning.setVisible(False)
        self.predict_button = QPushButton("Predict")
        self.predict_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.status = QLabel("Open a case and press Predict.")
        self.status.setWordWrap(True)
        self.previous = ResultCard("Previous")
        self.current = ResultCard("Current")
        self.previous.setVisible(False)
        self.changes = QLabel()
        self.changes.setWordWrap(True)
        self.changes.setObjectName("changed_fields")
        buttons = QHBoxLayout()
        buttons.addWidget(self.predict_button)
        buttons.addWidget(self.cancel_button)
        cards = QHBoxLayout()
        cards.addWidget(self.previous)
        cards.addWidget(self.current)
        layout = QVBoxLayout(self)
        layout.addWidget(self.case_line)
        layout.addWidget(self.subject_warning)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addLayout(cards)
        layout.addWidget(self.changes)
        layout.addStretch(1)
        session.case_reset.connect(self.reset)
        session.case_opened.connect(self._image_opened)
        session.state_changed.connect(self.refresh_state)
        self.refresh_state()

    def reset(self) -> None:
        """A new case: nothing of the previous patient stays — no result, no previous result, no what-if line."""
        self.detach_job()  # a prediction still running for the previous case says nothing here, and is dropped
        self.runs.clear()
        self._last_pred = self._last_rests = None
        self.current.clear()
        self.previous.clear()
        self.previous.setVisible(False)
        self.changes.setText("")
        self.progress.setValue(0)
        self.status.setStyleSheet("")
        self.status.setText("A new case: fill in its record and press Predict.")

    def _image_opened(self, _path: str) -> None:
        """An image was opened (a new case, or another image of this patient): no status line or progress of a
        job on the previous image stays."""
        self.detach_job()
        self.status.setStyleSheet("")
        self.status.setText("Another image of this patient: press Predict for a result from it." if self.runs
                            else "A new case: fill in its record and press Predict.")

    def refresh_state(self) -> None:
        """The case line, the subject check, and whether the current card still describes the screen."""
        self.case_line.setText(self.session.case_text())
        mismatch = self.session.subject_mismatch()
        self.subject_warning.setText(f"⚠ {mismatch}" if mismatch else "")
        self.subject_warning.setVisible(bool(mismatch))
        if self._last_pred is not None:
            self.current.set_stale(stale_message(self.session.stale_reasons()))

    def start(self) -> Job | None:
        """Start a prediction of the open case with the form's record; None (and a status line) if it cannot."""
        if self.job is not None and self.job.running:
            return None
        try:
            fn = self.session.prediction_job()
        except ValueError as exc:  # no case open, invalid record fields
            self.status.setText(str(exc))
            return None
        mismatch = self.session.subject_mismatch()
        if mismatch and not self.session.confirm("Another patient?", f"{mismatch}\n\nPredict with this record and "
                                                                    "this scan anyway?"):
            self.status.setText(f"Not predicted: {mismatch}")
            return None
        self.job = Job(fn, self)
        job = self.job  # its signals reach this panel only while it is of the open case (detach_job)
        job.progress.connect(self._live(job, self._on_progress))
        job.succeeded.connect(self._live(job, self._on_result))
        job.failed.connect(self._live(job, self._on_failed))
        job.cancelled.connect(self._live(job, self._on_cancelled))
        self._busy(True)
        self.status.setStyleSheet("")
        self.status.setText("Predicting…")
        self.job.start()
        return self.job

    def run_now(self):
        """Predict in the GUI thread, as Predict would (for --screenshot and scripts); returns (prediction, case)."""
        self._on_result(self.session.prediction_job()(lambda f, m: None, lambda: False))
        return self.session.last_prediction, self.session.last_case

    def _busy(self, busy: bool) -> None:
        self.predict_button.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)
        if busy:
            self.progress.setValue(0)

    def _on_result(self, result) -> None:
        accepted = self.session.accept_prediction(result)
        self._busy(False)
        if accepted is None:
            self.progress.setValue(0)
            self.status.setText("Another case was opened while predicting: that result is dropped.")
            return
        pred, case = accepted
        self.progress.setValue(100)
        self.status.setText("Done.")
        self.show_result(pred, case.ehr, case.volume.path)

    def show_result(self, pred, ehr: dict, image_path: str) -> None:
        """Current becomes previous (what-if), the new prediction becomes current."""
        run = Run(dict(ehr), pred.label, dict(pred.probabilities), str(image_path), pred.checkpoint_id,
                  Path(pred.checkpoint).name if pred.checkpoint else "", self.session.case_serial)
        rests = rests_on(self.session.last_reliance if pred is self.session.last_prediction else None, ehr)
        if self.runs and self._last_pred is not None:
            self.previous.show_prediction(self._last_pred, self._last_rests)
            self.previous.setVisible(True)
            self.changes.setText(changes_text(self.runs[-1], run))
        self.current.show_prediction(pred, rests)
        self._last_pred, self._last_rests = pred, rests
        self.runs.append(run)
        self.refresh_state()

    def _on_failed(self, message: str) -> None:
        self._busy(False)
        self.status.setText(f"Prediction failed: {message}")
        self.status.setStyleSheet("color: #d32f2f;")

    def _on_cancelled(self) -> None:
        self._busy(False)
        self.progress.setValue(0)
        self.status.setText("Cancelled; the result shown is unchanged.")
