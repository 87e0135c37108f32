"""One prediction shown as a card: label, a bar per class, the model and the device."""
from __future__ import annotations

from qtpy.QtWidgets import QFormLayout, QGroupBox, QLabel, QProgressBar, QVBoxLayout, QWidget


class ResultCard(QGroupBox):
    """Empty until :meth:`show_prediction`; ``bars`` maps class name -> QProgressBar (0-1000 = 0-100%)."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(title, parent)
        self.label = QLabel("—")
        self.label.setObjectName("result_label")
        self.label.setStyleSheet("font-size: 13pt; font-weight: bold;")
        self.bars: dict[str, QProgressBar] = {}
        self._bar_form = QFormLayout()
        self.model_line = QLabel()
        self.model_line.setWordWrap(True)
        self.device_line = QLabel()
        self.notes = QLabel()
        self.notes.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.label)
        layout.addLayout(self._bar_form)
        layout.addWidget(self.model_line)
        layout.addWidget(self.device_line)
        layout.addWidget(self.notes)
        self.probabilities: dict[str, float] = {}

    def show_prediction(self, pred) -> None:
        """``pred``: an ``engine.predict.Prediction``."""
        self.label.setText(pred.label)
        self.probabilities = dict(pred.probabilities)
        for name, p in pred.probabilities.items():
            bar = self.bars.get(name)
            if bar is None:
                bar = QProgressBar()
                bar.setRange(0, 1000)
                bar.setTextVisible(True)
                self.bars[name] = bar
                self._bar_form.addRow(name, bar)
            bar.setValue(round(p * 1000))
            bar.setFormat(f"{p:.1%}")
        if pred.trained:
            self.model_line.setText(f"Model: {pred.checkpoint_id} (trained)")
            self.model_line.setStyleSheet("")
        else:
            self.model_line.setText(f"Model: {pred.checkpoint_id} — UNTRAINED: random weights, "
                                    "the prediction means nothing")
            self.model_line.setStyleSheet("color: #d32f2f; font-weight: bold;")
        self.model_line.setToolTip(pred.checkpoint)
        self.device_line.setText(f"Device: {pred.device}")
        notes = [n for n in pred.notes if not n.startswith("the model is UNTRAINED")]
        self.notes.setText("\n".join(f"• {n}" for n in notes))
