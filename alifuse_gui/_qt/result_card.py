"""One prediction shown as a card: the verdict (a class, or "uncertain"), how sure it is, a bar per class, the model
and the device."""
from __future__ import annotations

from qtpy.QtWidgets import QFormLayout, QGroupBox, QLabel, QProgressBar, QVBoxLayout, QWidget


class ResultCard(QGroupBox):
    """Empty until :meth:`show_prediction`; ``bars`` maps class name -> QProgressBar (0-1000 = 0-100%)."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(title, parent)
        self.label = QLabel("—")
        self.label.setObjectName("result_label")
        self.label.setStyleSheet("font-size: 13pt; font-weight: bold;")
        #: how sure the model is, and on what that rests (the checkpoint's calibration, or "not calibrated")
        self.certainty = QLabel()
        self.certainty.setObjectName("result_certainty")
        self.certainty.setWordWrap(True)
        self.bars: dict[str, QProgressBar] = {}
        self._bar_form = QFormLayout()
        self.model_line = QLabel()
        self.model_line.setWordWrap(True)
        self.device_line = QLabel()
        self.notes = QLabel()
        self.notes.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.label)
        layout.addWidget(self.certainty)
        layout.addLayout(self._bar_form)
        layout.addWidget(self.model_line)
        layout.addWidget(self.device_line)
        layout.addWidget(self.notes)
        self.probabilities: dict[str, float] = {}

    def show_prediction(self, pred) -> None:
        """``pred``: an ``engine.predict.Prediction``."""
        uncertain = getattr(pred, "verdict", pred.label) == "uncertain"
        self.label.setText(f"Uncertain (most likely {pred.label})" if uncertain else pred.label)
        self.label.setStyleSheet("font-size: 13pt; font-weight: bold;" + (" color: #b26a00;" if uncertain else ""))
        certainty = getattr(pred, "certainty", "")
        self.certainty.setText(certainty)
        self.certainty.setVisible(bool(certainty))
        self.certainty.setStyleSheet("color: #b26a00; font-weight: bold;" if uncertain
                                     else "" if getattr(pred, "calibrated", False) else "color: #666;")
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
