"""Explain dock: method, run in a worker (progress, cancel), overlay opacity/threshold, words and fields."""
from __future__ import annotations

from typing import TYPE_CHECKING

from qtpy.QtCore import Qt
from qtpy.QtWidgets import (QComboBox, QFormLayout, QHBoxLayout, QLabel, QProgressBar, QPushButton, QSlider,
                            QVBoxLayout, QWidget)

from alifuse_gui._qt.color_bar import ColorBar
from alifuse_gui._qt.job_controls import JobControls
from alifuse_gui._qt.jobs import Job
from alifuse_gui._qt.word_view import WordView
from alifuse_gui.display import original_to_canonical
from alifuse_gui.layers import RELEVANCE_LAYER
from alifuse_gui.map_threshold import SHOWN_SHARE, default_threshold
from alifuse_gui.overlay_style import style_of_layers
from alifuse_gui._qt.session_api import CaseSession

if TYPE_CHECKING:
    from alifuse_gui._qt.field_chart import FieldChart


def available_methods() -> list[str]:
    """``engine.explain.METHODS``, or [] while the explanation engine is not installed."""
    try:
        from engine.explain import METHODS
    except ImportError:
        return []
    return list(METHODS)


class ExplainPanel(JobControls, QWidget):
    def __init__(self, session: CaseSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.job: Job | None = None
        self._job_case = None
        self.method = QComboBox()
        methods = available_methods()
        self.method.addItems(methods)
        self.explain_button = QPushButton("Explain")
        self.explain_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.status = QLabel("Predict first, then explain the prediction." if methods
                             else "Explanations are not available (engine.explain is not installed).")
        self.status.setWordWrap(True)
        if not methods:
            self.explain_button.setEnabled(False)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(60)
        self.opacity.valueChanged.connect(self._style_overlay)
        self.threshold = QSlider(Qt.Orientation.Horizontal)
        self.threshold.setRange(0, 95)
        # until a map comes: each map then starts at its own top 1 % (map_threshold), whatever the method
        self.threshold.setValue(50)
        self.threshold.valueChanged.connect(self._style_overlay)
        #: the colours of the map, from the threshold to its maximum (its colour table comes with matplotlib)
        self.color_bar = ColorBar()
        #: how far the prediction moves with the MRI or the record hidden; amber when one is hardly used
        self.reliance = QLabel("")
        self.reliance.setWordWrap(True)
        self.reliance.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        #: a model that reads the scores as numbers: what each did (no word of the text shows them); empty otherwise
        self.scores = QLabel("")
        self.scores.setObjectName("score_effects")
        self.scores.setWordWrap(True)
        self.scores.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.words = WordView()  # as tall as its words (up to a limit): the last line is never cut
        # The field chart is matplotlib (~0.5 s to import): made on first use (the session's start-up does it).
        self._chart: FieldChart | None = None
        self._colors = None
        self._followed: int | None = None  # id() of the relevance layer the colour bar follows
        self._chart_box = QVBoxLayout()
        self._chart_box.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        top.addWidget(self.method, 1)
        top.addWidget(self.explain_button)
        top.addWidget(self.cancel_button)
        sliders = QFormLayout()
        sliders.addRow("Overlay opacity", self.opacity)
        sliders.addRow("Threshold", self.threshold)
        sliders.addRow("Colours", self.color_bar)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.reliance)
        layout.addWidget(self.scores)
        layout.addLayout(sliders)
        layout.addWidget(QLabel("Words (blue = relevant; hover for the value):"))
        layout.addWidget(self.words)
        layout.addLayout(self._chart_box)
        layout.addStretch(1)  # in a tall dock the rows stay together, the room goes below them
        session.case_reset.connect(self._new_case)
        session.case_opened.connect(self._new_case)
        session.explanation_forgotten.connect(self.clear)

    @property
    def chart(self) -> "FieldChart":
        """The per-field bar chart, built on first use."""
        if self._chart is None:
            from alifuse_gui._qt.field_chart import FieldChart

            from alifuse_gui.layers import relevance_colormap

            self._chart = FieldChart()
            self._chart_box.addWidget(self._chart)
            # the colour table needs matplotlib too: made now, with the chart, not at the window's start
            self._colors = relevance_colormap().colors
            self._style_overlay()
        return self._chart

    def start(self) -> Job | None:
        if self.job is not None and self.job.running:
            return None
        try:
            fn = self.session.explanation_job(self.method.currentText())
        except ValueError as exc:
            self.status.setText(str(exc))
            return None
        self._job_case = self.session.last_case  # what this job explains: a result for another case is dropped
        self.job = Job(fn, self)
        job = self.job  # its signals reach this panel only while it is of the open case (detach_job)
        job.progress.connect(self._live(job, self._on_progress))
        job.succeeded.connect(self._live(job, self._on_result))
        job.failed.connect(self._live(job, lambda msg: self._finish(f"Explanation failed: {msg}")))
        job.cancelled.connect(self._live(job, lambda: self._finish("Cancelled; the map shown (if any) is unchanged.")))
        self._busy(True)
        self.progress.setValue(0)
        self.status.setText("Explaining…")
        self.job.start()
        return self.job

    def run_now(self, method: str):
        """Explain the last prediction with ``method`` in the GUI thread, as Explain would; returns the explanation."""
        self._job_case = self.session.last_case
        explanation = self.session.explanation_job(method)(lambda f, m: None, lambda: False)
        self._on_result(explanation)
        return explanation

    def _finish(self, message: str) -> None:
        self._busy(False)
        self.status.setText(message)

    def _busy(self, busy: bool) -> None:
        self.explain_button.setEnabled(not busy and bool(self.method.count()))
        self.cancel_button.setEnabled(busy)

    def _new_case(self, _path: str | None = None) -> None:
        """Another case or image: an explanation still running for the previous one says nothing here."""
        self.detach_job()

    def _on_result(self, explanation) -> None:
        if self._job_case is not self.session.last_case:  # a new prediction, case or model came in meanwhile
            self.progress.setValue(0)
            self._finish("The prediction changed while this explanation ran: explain the new one.")
            return
        if self.session.stale_reasons():  # the record changed meanwhile: the map would explain other inputs
            self.progress.setValue(0)
            self._finish("The inputs changed while this explanation ran: predict, then explain again.")
            return
        self.start_threshold(explanation)
        self.session.accept_explanation(explanation, self.opacity.value() / 100, self.threshold.value() / 100)
        self.show_explanation(explanation)
        self.progress.setValue(100)
        self._finish(self.explained_text(explanation.method))

    def start_threshold(self, explanation) -> float:
        """Set the threshold slider where this map's top voxels begin (map_threshold); returns the threshold."""
        vol = self.session.last_case.volume
        relevance = original_to_canonical(explanation.image_original, vol.original_affine, vol.data.shape)
        threshold = default_threshold(relevance, vol.data)
        self.threshold.setValue(round(threshold * 100))
        return threshold

    @staticmethod
    def explained_text(method: str) -> str:
        # no threshold value here: the slider moves it and this line would go stale; the colour bar's tooltip
        # states the current one
        return (f"Explained the prediction with {method}. The threshold starts where the top {SHOWN_SHARE:.0%} of "
                "the head's voxels begin (move the slider to show more or less).")

    def show_explanation(self, explanation) -> None:
        self._follow_layer()
        self.show_reliance(getattr(explanation, "reliance", None))
        self.scores.setText("\n".join(explanation.score_lines() if hasattr(explanation, "score_lines") else []))
        self.words.set_words(list(explanation.words), list(explanation.word_relevance),
                             list(getattr(explanation, "word_field", []) or []))
        self.chart.set_values(dict(explanation.field_relevance))

    def clear(self, message: str | None = None) -> None:
        """No explanation shown: empty words, fields and reliance; ``message`` (if any) in the status line."""
        self.words.set_words([], [], [])
        if self._chart is not None:  # not built yet: nothing drawn to clear
            self._chart.set_values({})
        self.show_reliance(None)
        self.scores.setText("")
        if message:
            self.status.setText(message)

    def show_reliance(self, reliance) -> None:
        """The hide-one-modality sentences; amber and bold when the prediction hardly uses a modality."""
        if reliance is None:
            self.reliance.setText("")
            self.reliance.setStyleSheet("")
            return
        self.reliance.setText("\n".join(reliance.lines()))
        self.reliance.setStyleSheet("color: #e0a000; font-weight: bold;" if reliance.warnings() else "")

    def _style_overlay(self) -> None:
        viewer = self.session.viewer
        if RELEVANCE_LAYER in viewer.layers:
            layer = viewer.layers[RELEVANCE_LAYER]
            layer.opacity = self.opacity.value() / 100
            layer.contrast_limits = (self.threshold.value() / 100, 1.0)
        self._refresh_bar()

    def _follow_layer(self) -> None:
        """The colour bar follows the relevance layer, also when its colour map, contrast limits or opacity are
        changed in napari's layer controls."""
        layers = self.session.viewer.layers
        layer = layers[RELEVANCE_LAYER] if RELEVANCE_LAYER in layers else None
        if layer is None or id(layer) == self._followed:
            return
        self._followed = id(layer)
        for emitter in (layer.events.colormap, layer.events.contrast_limits, layer.events.opacity):
            emitter.connect(self._refresh_bar)
        self._refresh_bar()

    def _refresh_bar(self, _event=None) -> None:
        layers = self.session.viewer.layers
        if RELEVANCE_LAYER in layers and id(layers[RELEVANCE_LAYER]) == self._followed:
            # read as the report reads it (style_of_layers): uneven control points come out as painted
            style = style_of_layers(layers[RELEVANCE_LAYER])
            self.color_bar.set_style(style.colors, style.low, style.opacity, style.high)
        elif self._colors is not None:
            self.color_bar.set_style(self._colors, self.threshold.value() / 100, self.opacity.value() / 100)
