"""The record form: one widget per EHR field, invalid entries marked in place, live text preview."""
from __future__ import annotations

from pathlib import Path

from qtpy.QtCore import QTimer, Signal
from qtpy.QtWidgets import (QComboBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QMessageBox,
                            QPlainTextEdit, QPushButton, QVBoxLayout, QWidget)

from engine.ehr import FIELD_SPECS, FieldSpec
from engine.errors import AlifuseInputError
from engine.score_agreement import RULES
from alifuse_gui.record_model import SUMMARY_WORD_LIMIT, RecordModel, entry_text, form_label

UNKNOWN = "unknown"
_INVALID_STYLE = "border: 2px solid #d32f2f;"


def _tooltip(spec: FieldSpec) -> str:
    rng = spec.range_text()
    unit = f" {spec.unit}" if spec.unit else ""
    parts = [spec.help, f"Allowed: {rng}{unit}." if rng else "", "Leave blank / 'unknown' if not known."]
    return " ".join(p for p in parts if p)


#: how long typing in a score must pause before two disagreeing scores are named: typing MMSE 25 beside CDR 0 passes
#: through "2", which disagrees with it, and a warning that flashes at every keystroke teaches the eye to skip it
WARNING_PAUSE_MS = 700
#: the fields whose typing holds the warning back: those its rules read (typing an age leaves it as it is)
_SCORE_FIELDS = frozenset(name for a, b, _d, _w in RULES for name in (a, b))


class RecordForm(QWidget):
    """Edits a :class:`RecordModel`. ``changed`` fires after every edit with the valid fields' EHR dict."""

    changed = Signal(dict)

    def __init__(self, model: RecordModel | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model or RecordModel()
        self.editors: dict[str, QWidget] = {}
        self._loading = False
        # while a value is being typed the scores' disagreement waits (WARNING_PAUSE_MS, Enter or leaving the field);
        # an invalid value is marked at once
        self._typing = False
        self._pause = QTimer(self)
        self._pause.setSingleShot(True)
        self._pause.setInterval(WARNING_PAUSE_MS)
        self._pause.timeout.connect(self._typing_paused)
        form = QFormLayout()
        # in a narrow dock (plain napari at 1366 x 768) a field too narrow for its value goes below its label
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        for name, spec in FIELD_SPECS.items():
            editor = self._make_editor(spec)
            editor.setObjectName(f"field_{name}")
            self.editors[name] = editor
            label = QLabel(form_label(name))  # the chart and the messages name the field with the same words
            label.setToolTip(_tooltip(spec))
            if name == "summary":
                self.word_count = QLabel()
                # the narrative gets the form's whole width: beside a long label it would be a column of words
                box = QVBoxLayout()
                box.addWidget(editor)
                box.addWidget(self.word_count)
                form.addRow(label)
                form.addRow(box)
            else:
                form.addRow(label, editor)
        self.preview = QPlainTextEdit(readOnly=True)
        self.preview.setObjectName("text_preview")
        self.preview.setMaximumHeight(70)
        self.status = QLabel()
        self.status.setWordWrap(True)
        buttons = QHBoxLayout()
        for text, slot in (("Load…", self.ask_load), ("Save…", self.ask_save), ("Clear", self.clear)):
            b = QPushButton(text)
            b.clicked.connect(slot)
            buttons.addWidget(b)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(QLabel("Text the model will read:"))
        layout.addWidget(self.preview)
        layout.addWidget(self.status)
        layout.addLayout(buttons)
        layout.addStretch(1)  # in a tall dock the rows stay together, the room goes below them
        self.refresh()

    # -- editors --
    def _make_editor(self, spec: FieldSpec) -> QWidget:
        name = spec.name
        if spec.choices:
            combo = QComboBox()
            combo.addItem(UNKNOWN, None)
            for c in spec.choices:
                combo.addItem(entry_text(c), c)
            combo.currentIndexChanged.connect(lambda _i, n=name, c=combo: self._edited(n, c.currentData()))
            combo.setToolTip(_tooltip(spec))
            # never narrower than "unknown", the value every field starts with: a squeezed box showed "unknc"
            combo.setMinimumContentsLength(len(UNKNOWN))
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            return combo
        if spec.kind == "text":
            edit = QPlainTextEdit()
            edit.setPlaceholderText(f"{UNKNOWN} — the doctor's narrative; the model reads the first "
                                    f"{SUMMARY_WORD_LIMIT} words")
            edit.setMaximumHeight(60)
            edit.textChanged.connect(lambda n=name, e=edit: self._edited(n, e.toPlainText()))
            edit.setToolTip(_tooltip(spec))
            return edit
        edit = QLineEdit()
        edit.setPlaceholderText(UNKNOWN)
        edit.setClearButtonEnabled(True)  # one click back to "unknown"
        edit.textChanged.connect(lambda text, n=name: self._edited(n, text))
        if name in _SCORE_FIELDS:
            edit.textEdited.connect(self._typed)  # keys only, never setText: a value put in whole is judged at once
            edit.editingFinished.connect(self._typing_paused)
        edit.setToolTip(_tooltip(spec))
        return edit

    def _typed(self, _text: str) -> None:
        self._typing = True
        self._pause.start()
        self._show_status()

    def _typing_paused(self) -> None:
        if self._typing:
            self._typing = False
            self._pause.stop()
            self._show_status()

    def _edited(self, name: str, entry) -> None:
        if self._loading:
            return
        self.model.set_entry(name, entry)
        self.refresh()

    def set_entry(self, name: str, entry) -> None:
        """Put ``entry`` into the field's editor as if typed (choices: the value, or None for unknown)."""
        self._typing = False  # a value put in whole is judged at once, whatever was being typed
        self._pause.stop()
        editor = self.editors[name]
        if isinstance(editor, QComboBox):
            index = editor.findData(entry) if entry is not None else 0
            if index < 0:
                raise ValueError(f"{entry!r} is not a choice of {name}")
            editor.setCurrentIndex(index)
        elif isinstance(editor, QPlainTextEdit):
            editor.setPlainText(entry_text(entry))
        else:
            editor.setText(entry_text(entry))

    def _fill_from_model(self) -> None:
        self._loading = True
        try:
            for name in FIELD_SPECS:
                self.set_entry(name, self.model.entry(name))
        finally:
            self._loading = False
        self.refresh()

    # -- state shown to the user --
    def refresh(self) -> None:
        errors = self.model.errors()
        for name, editor in self.editors.items():
            msg = errors.get(name)
            editor.setStyleSheet(_INVALID_STYLE if msg else "")
            editor.setToolTip(msg if msg else _tooltip(FIELD_SPECS[name]))
            editor.setProperty("invalid", bool(msg))
        n = self.model.summary_word_count()
        over = n > SUMMARY_WORD_LIMIT
        self.word_count.setText(f"{n} / {SUMMARY_WORD_LIMIT} words" +
                                (f" — the model reads only the first {SUMMARY_WORD_LIMIT}" if over else ""))
        self.word_count.setStyleSheet("color: #e65100;" if over else "")
        self._show_preview()
        self._show_status(errors)
        self.changed.emit(self.model.valid_dict())

    def _show_status(self, errors: dict[str, str] | None = None) -> None:
        """The status line: the invalid fields (``errors``, the model's when not given), else the scores' warning."""
        errors = self.model.errors() if errors is None else errors
        # an invalid field comes first; scores that cannot both be right are a warning, not an error, and wait
        # while a value is being typed
        warning, why = ("", "") if errors or self._typing else self.model.score_warning()
        self.status.setText("Fix the marked fields: " + "; ".join(errors.values()) if errors else warning)
        self.status.setToolTip(why)
        self.status.setStyleSheet("color: #d32f2f;" if errors else "color: #b26a00;" if warning else "")

    def set_text_format(self, text_format: int, scores_as_numbers: bool = False) -> None:
        """Preview the record as a model with this ``config.text_format`` (and ``score_knots`` > 0 when
        ``scores_as_numbers``) reads it."""
        if (text_format, scores_as_numbers) != (self.model.text_format, self.model.scores_as_numbers):
            self.model.text_format, self.model.scores_as_numbers = text_format, scores_as_numbers
            self._show_preview()

    def _show_preview(self) -> None:
        """The text the model will read, from the valid fields (and the scores it reads as numbers)."""
        text = " ".join(s for _, s in self.model.preview())
        self.preview.setPlainText("\n".join(filter(None, [text, self.model.numbers_line()])))

    def invalid_fields(self) -> list[str]:
        return [n for n, e in self.editors.items() if e.property("invalid")]

    # -- whole records --
    def set_record(self, ehr: dict, source: str = "record") -> None:
        """Show ``ehr``; an invalid one raises ``AlifuseInputError`` and leaves the form untouched."""
        self.model.set_dict(ehr, source)
        self._fill_from_model()

    def load(self, path: str | Path) -> bool:
        """Load a record file; on error show a message box and keep what is in the form."""
        try:
            self.model.load_json(path)
        except AlifuseInputError as exc:
            QMessageBox.warning(self, "Cannot load the record", str(exc))
            return False
        self._fill_from_model()
        return True

    def save(self, path: str | Path) -> bool:
        try:
            self.model.save_json(path)
        except AlifuseInputError as exc:
            QMessageBox.warning(self, "Cannot save the record", str(exc))
            return False
        return True

    def clear(self) -> None:
        self.model.clear()
        self._fill_from_model()

    def ask_load(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load record", "", "Record (*.json);;All files (*)")
        if path:
            self.load(path)

    def ask_save(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save record", "record.json", "Record (*.json)")
        if path:
            self.save(path)
