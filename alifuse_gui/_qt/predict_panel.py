"""Predict dock: runs the model in a worker thread; shows the current result beside the previous one."""
from __future__ import annotations

from typing import TYPE_CHECKING

from qtpy.QtWidgets import (QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget)

from alifuse_gui._qt.job_controls import JobControls
from alifuse_gui._qt.jobs import Job
from alifuse_gui._qt.result_card import ResultCard
from alifuse_gui.whatif import Run, changed_fields

if TYPE_CHECKING:
    from alifuse_gui._qt.session import AlifuseSession


class PredictPanel(JobControls, QWidget):
    """Predict / Cancel, a progress bar, and previous vs current results with the changed fields."""

    def __init__(self, session: "AlifuseSession", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.job: Job | None = None
        self.runs: list[Run] = []
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
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addLayout(cards)
        layout.addWidget(self.changes)
        layout.addStretch(1)

    def start(self) -> Job | None:
        """Start a prediction of the open case with the form's record; None (and a status line) if it cannot."""
        if self.job is not None and self.job.running:
            return None
        try:
            fn = self.session.prediction_job()
        except ValueError as exc:  # no case open, invalid record fields
            self.status.setText(str(exc))
            return None
        self.job = Job(fn, self)
        self.job.progress.connect(self._on_progress)
        self.job.succeeded.connect(self._on_result)
        self.job.failed.connect(self._on_failed)
        self.job.cancelled.connect(self._on_cancelled)
        self._busy(True)
        self.status.setStyleSheet("")
        self.status.setText("Predicting…")
        self.job.start()
        return self.job

    def _busy(self, busy: bool) -> None:
        self.predict_button.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)
        if busy:
            self.progress.setValue(0)

    def _on_result(self, result) -> None:
        pred, case = self.session.accept_prediction(result)
        self._busy(False)
        self.progress.setValue(100)
        self.status.setText("Done.")
        self.show_result(pred, case.ehr, case.volume.path)

    def show_result(self, pred, ehr: dict, image_path: str) -> None:
        """Current becomes previous (what-if), the new prediction becomes current."""
        run = Run(dict(ehr), pred.label, dict(pred.probabilities), image_path)
        if self.runs:
            last_pred = self._last_pred
            self.previous.show_prediction(last_pred)
            self.previous.setVisible(True)
            before = self.runs[-1]
            lines = changed_fields(before.ehr, run.ehr)
            if before.image_path != run.image_path:
                lines.insert(0, "Image: another file")
            self.changes.setText("Changed since the previous prediction: " + ("; ".join(lines) if lines else "nothing"))
        self.current.show_prediction(pred)
        self._last_pred = pred
        self.runs.append(run)

    def _on_failed(self, message: str) -> None:
        self._busy(False)
        self.status.setText(f"Prediction failed: {message}")
        self.status.setStyleSheet("color: #d32f2f;")

    def _on_cancelled(self) -> None:
        self._busy(False)
        self.progress.setValue(0)
        self.status.setText("Cancelled; the result shown is unchanged.")
