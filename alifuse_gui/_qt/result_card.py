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
        #: shown while the inputs on screen are no longer those of this prediction (see alifuse_gui.case_state)
        self.stale = QLabel()
        self.stale.setObjectName("result_stale")
        self.stale.setWordWrap(True)
        self.stale.setStyleSheet("color: #d32f2f; font-weight: bold;")
        self.stale.setVisible(False)
        layout = QVBoxLayout(self)
        layout.addWidget(self.stale)
        layout.addWidget(self.label)
        layout.addWidget(self.certainty)
        layout.addLayout(self._bar_form)
        layout.addWidget(self.model_line)
        layout.addWidget(self.device_line)
        layout.addWidget(self.notes)
        self.probabilities: dict[str, float] = {}

    @property
    def is_stale(self) -> bool:
        return not self.stale.isHidden()

    def set_stale(self, message: str) -> None:
        """Mark the card out of date with ``message`` (the result greyed), or current again with ''."""
        self.stale.setText(message)
        self.stale.setVisible(bool(message))
        for widget in (self.label, self.certainty, *self.bars.values()):
            widget.setEnabled(not message)

    def clear(self) -> None:
        """Empty, as before the first prediction (a new case)."""
        self.set_stale("")
        self.label.setText("—")
        self.label.setStyleSheet("font-size: 13pt; font-weight: bold;")
        self.certainty.setText("")
        self.certainty.setVisible(False)
        for bar in self.bars.values():
            bar.setValue(0)
            bar.setFormat("")
        for line in (self.model_line, self.device_line, self.notes):
            line.setText("")
            line.setToolTip("")
        self.probabilities = {}

    def show_prediction(self, pred) -> None:
        """``pred``: an ``engine.predict.Prediction``."""
        self.set_stale("")
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
