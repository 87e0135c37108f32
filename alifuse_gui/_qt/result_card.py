"""One prediction shown as a card: the verdict (a class, or "uncertain"), how sure it is, what it rests on (the MRI,
the record; an empty record said), a bar per class, the model and the device."""
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
        #: how far the prediction moves with the MRI or the record hidden; amber when the record was empty or one
        #: of the two hardly matters (alifuse_gui.rests_on)
        self.rests_on = QLabel()
        self.rests_on.setObjectName("result_rests_on")
        self.rests_on.setWordWrap(True)
        self.rests_on.setVisible(False)
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
        layout.addWidget(self.rests_on)
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
        for widget in (self.label, self.certainty, self.rests_on, *self.bars.values()):
            widget.setEnabled(not message)

    def clear(self) -> None:
        """Empty, as before the first prediction (a new case)."""
        self.set_stale("")
        self.label.setText("—")
        self.label.setStyleSheet("font-size: 13pt; font-weight: bold;")
        self.certainty.setText("")
        self.certainty.setVisible(False)
        self.show_rests_on(None)
        for bar in self.bars.values():
            bar.setValue(0)
            bar.setFormat("")
        for line in (self.model_line, self.device_line, self.notes):
            line.setText("")
            line.setToolTip("")
        self.probabilities = {}

    def show_rests_on(self, rests) -> None:
        """``rests``: an ``alifuse_gui.rests_on.RestsOn``, or None (nothing measured: the line is hidden)."""
        self.rests_on.setText(rests.text if rests is not None else "")
        self.rests_on.setVisible(rests is not None)
        self.rests_on.setStyleSheet("color: #b26a00; font-weight: bold;" if rests is not None and rests.warning
                                    else "")

    def show_prediction(self, pred, rests=None) -> None:
        """``pred``: an ``engine.predict.Prediction``; ``rests``: what it rests on (``alifuse_gui.rests_on``)."""
        self.set_stale("")
        self.show_rests_on(rests)
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
