"""One Alifuse session in a napari window: the open case, the model and the jobs (docks and menus: window.py)."""
from __future__ import annotations

import dataclasses
import gc
import threading
import weakref
from pathlib import Path
from typing import Any, Callable

import numpy as np

from qtpy.QtCore import QObject, QTimer, Signal
from qtpy.QtWidgets import QMessageBox

from engine.errors import AlifuseInputError
from engine.imageio import Volume, load_volume
from alifuse_gui import case_state
from alifuse_gui._qt.linked_views import on_next_draw, set_overlay_text
from alifuse_gui._qt.status_position import ScannerStatus
from alifuse_gui.display import convention_text, original_to_canonical
from alifuse_gui.layers import MRI_LAYER, RELEVANCE_LAYER, show_relevance, show_volume
from alifuse_gui._qt.workarounds import qt_window

_SESSIONS: "weakref.WeakKeyDictionary[Any, AlifuseSession]" = weakref.WeakKeyDictionary()


def _load_in_background(session_ref: "weakref.ref[AlifuseSession]", load_lock: threading.Lock,
                        checkpoint: Path | None, device: str) -> None:
    """The warm-up thread: load the session's model unless it has one, or has changed model, by then.

    The session is held only weakly, and not while loading: a window closed meanwhile can go.
    """
    with load_lock:
        session = session_ref()
        if session is None or session.predictor is not None or session.checkpoint != checkpoint:
            return
        del session
        try:
            from engine.predict import Predictor

            predictor = Predictor(checkpoint, device)
        except Exception:  # noqa: BLE001 - the user's Predict loads it again and shows what is wrong
            return
        session = session_ref()
        if session is not None:
            session.adopt_model(predictor, checkpoint)


def session_for(viewer, **kwargs: Any) -> "AlifuseSession":
    """The session of ``viewer``, created (without docks) on first use; for the napari plugin widgets."""
    if viewer not in _SESSIONS:
        _SESSIONS[viewer] = AlifuseSession(viewer, dock=False, **kwargs)
    return _SESSIONS[viewer]


def _reliance_of(predictor, case):
    """What the prediction rests on: its probabilities with the MRI and with the record hidden, one batched forward
    of up to three cases (engine.explain.reliance); None when it cannot be measured."""
    try:
        from engine.explain.reliance import modality_reliance
    except ImportError:
        return None
    return modality_reliance(predictor.model, *predictor.tensors(case), class_names=predictor.class_names,
                             scores=predictor.scores(case))


class AlifuseSession(QObject):
    """Owns the case (``volume``), the model (``predictor``), the last prediction and explanation; the panels and
    menus use its public API (``session_api.CaseSession``) and follow its signals. The docks, menus and drops are
    the window's (``window.SessionWindow``).

    One patient at a time: opening an image starts a new case (record, results, maps and what-if history
    cleared) unless the caller says it is the same patient; the last prediction is marked out of date as soon as
    the image, the record or the model on screen is no longer the one it was made from (``stale_reasons``).
    """

    case_opened = Signal(str)
    model_changed = Signal(object)
    #: a new case began: everything shown of the previous patient is to be cleared
    case_reset = Signal()
    #: the case line, the subject check or the freshness of the last prediction may have changed
    state_changed = Signal()
    #: the shown explanation no longer explains the screen: its words, fields and reliance go; the argument is the
    #: line to show (None: nothing to say)
    explanation_forgotten = Signal(object)

    def __init__(self, viewer, checkpoint: str | Path | None = None, device: str = "cpu",
                 radiological: bool = False, dock: bool = True, deferred_startup: bool = False) -> None:
        """``deferred_startup``: the linked views and the field chart wait for ``finish_startup()`` (the app's
        fast start); otherwise the session is complete when this returns."""
        super().__init__()
        from alifuse_gui._qt.explain_panel import ExplainPanel
        from alifuse_gui._qt.linked_views import LinkedViews
        from alifuse_gui._qt.predict_panel import PredictPanel
        from alifuse_gui._qt.record_form import RecordForm

        _SESSIONS[viewer] = self
        self.viewer = viewer
        self.checkpoint = Path(checkpoint) if checkpoint else None
        self.device = device
        self.predictor = None
        # loading (seconds) is one at a time, in the warm-up or a job's thread; swapping the model in (microseconds)
        # has its own lock, so the GUI thread never waits for a load to put in the model the user chose
        self._model_lock = threading.Lock()
        self._swap_lock = threading.Lock()
        self._warm_up_thread: threading.Thread | None = None
        self.volume: Volume | None = None
        self.last_prediction = None
        self.last_case = None
        #: what the last prediction was made from (case_state.Inputs)
        self.last_inputs: case_state.Inputs | None = None
        self.explanation = None
        #: how far the last prediction moves with the MRI or the record hidden (measured with it; None: not known)
        self.last_reliance = None
        self.case_serial = 0    # one more per opened image: the same file opened again is another case
        self.model_serial = 0   # one more per model loaded by the user
        self.record_form = RecordForm()
        self.record_form.changed.connect(self._inputs_changed)
        self._preview_text_format(self.checkpoint)
        self.predict_panel = PredictPanel(self)
        self.explain_panel = ExplainPanel(self)
        self.views = LinkedViews(viewer, radiological, dock=dock, build=False)
        self._overlay_extra = ""
        viewer.dims.events.ndisplay.connect(self._on_ndisplay)  # the label says 3-D when napari's 3-D is on
        #: the status bar's cursor position in scanner mm and the file's voxel
        self.scanner_status = ScannerStatus(viewer, lambda: self.volume)
        self.window = None
        if dock:
            from alifuse_gui._qt.window import SessionWindow

            self.window = SessionWindow(self)  # docks, menus, drag and drop: the window's, not the case's
        #: a dialog the session keeps alive while it runs (the training dialog), see keep_dialog
        self.open_dialog = None
        if not deferred_startup:
            self.finish_startup()

    @property
    def docks(self) -> dict[str, Any]:
        """The window's docks by name (record, predict, explain); empty for the plugin's session."""
        return self.window.docks if self.window is not None else {}

    @property
    def menus(self):
        return self.window.menus if self.window is not None else None

    @property
    def drop_handler(self):
        return self.window.drop_handler if self.window is not None else None

    def finish_startup(self) -> None:
        """What the window can do without until its first image is drawn: the linked views, the field chart."""
        if self.views.closed:  # the window went before its first image was drawn
            return
        self.views.build()
        for model in self.views.models.values():  # the cursor over the coronal and sagittal views, too
            self.scanner_status.follow(model)
        self.explain_panel.chart  # noqa: B018 - imports matplotlib now, not when the Explain tab is opened

    def finish_startup_after_first_draw(self, warm_up: bool = True) -> None:
        """``finish_startup()`` once the main canvas has drawn (the user sees the image first); then, with
        ``warm_up``, load the model in the background."""

        def later() -> None:
            self.finish_startup()
            if warm_up and not self.views.closed:
                # collect here, in the GUI thread: a collection that the loading thread's allocations set off
                # would finalise Qt objects (the stand-ins just replaced) outside it
                gc.collect()
                self.warm_up_model()

        on_next_draw(self.viewer, lambda: QTimer.singleShot(0, later))

    def warm_up_model(self) -> threading.Thread | None:
        """Load the model in a background thread while the user looks at the image (issue 6).

        The first Predict then finds torch and the checkpoint loaded, or waits for them. A failure is left
        for that Predict to report. Returns the loading thread (None if the model is already loaded).
        """
        if self.predictor is not None:
            return None
        if self._warm_up_thread is None or not self._warm_up_thread.is_alive():
            self._warm_up_thread = threading.Thread(
                target=_load_in_background, args=(weakref.ref(self), self._model_lock, self.checkpoint, self.device),
                name="alifuse-model-warm-up", daemon=True)
            self._warm_up_thread.start()
        return self._warm_up_thread

    # -- messages --
    def warn(self, title: str, message: str) -> None:
        """A message box over the window (tests monkeypatch ``QMessageBox.warning``)."""
        QMessageBox.warning(self.dialog_parent(), title, message)

    def dialog_parent(self):
        """The window dialogs and message boxes open over (None for a viewer without a Qt window)."""
        try:
            return qt_window(self.viewer)
        except (AttributeError, RuntimeError):
            return None

    def keep_dialog(self, dialog) -> None:
        """Keep a modeless dialog (the training dialog) alive while it is open: Qt does not own it."""
        self.open_dialog = dialog

    def confirm(self, title: str, question: str) -> bool:
        """A Yes/No question over the window (tests monkeypatch ``QMessageBox.question``)."""
        answer = QMessageBox.question(self.dialog_parent(), title, question,
                                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                      QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def status(self, text: str) -> None:
        self.viewer.status = text

    # -- case --
    def open_image(self, path: str | Path, same_patient: bool = False) -> bool:
        """Load and show an MRI as a new case (the previous patient's record, results, maps and what-if history
        cleared), or, with ``same_patient``, as another image of the open case. On a bad file say why and keep the
        case that is open."""
        try:
            volume = load_volume(path)
        except AlifuseInputError as exc:
            self.warn("Cannot open the image", str(exc))
            return False
        self.show_case(volume, same_patient=same_patient)
        return True

    def new_case(self, message: str = "A new case: open its MRI, fill in its record, then predict.") -> None:
        """Forget the open patient: record, prediction, explanation, what-if history; the image stays until the
        next one is opened unless this is File → New case (``close_image``)."""
        self.last_prediction = self.last_case = self.last_inputs = self.last_reliance = None
        self.forget_explanation(message, always=True)
        self.record_form.clear()
        self.case_reset.emit()
        self.state_changed.emit()

    def close_image(self) -> None:
        """File → New case: no image, no record, no result — an empty case."""
        self.new_case()
        self.volume = None
        self.case_serial += 1
        for name in (RELEVANCE_LAYER, MRI_LAYER):
            if name in self.viewer.layers:
                self.viewer.layers.remove(name)
        self.viewer.title = "Alifuse Viewer"
        set_overlay_text(self.viewer, "")
        self.state_changed.emit()

    def show_case(self, volume: Volume, same_patient: bool = False) -> None:
        """Show ``volume``: a new case, or (``same_patient``) another image of the open one (record and what-if
        history kept; the last result is then out of date: it was made from the other image)."""
        if not same_patient:
            self.new_case("A new case: fill in its record, predict, then explain.")
        self.volume = volume
        self.case_serial += 1
        self.last_case = None
        if same_patient:
            self.forget_explanation("Another image of this patient: predict, then explain.")
        layer = show_volume(self.viewer, volume)
        self.views.show_new_image()
        obl, grid = layer.metadata["obliquity_deg"], layer.metadata["display_grid"]
        extra = f"\n{obl:.{0 if obl >= 1 else 1}f}° oblique scan, resampled" if grid.resampled else ""
        self._main_overlay(extra)
        self.viewer.title = f"Alifuse Viewer — {Path(volume.path).name}"
        for note in volume.notes:
            self.status(f"{Path(volume.path).name}: {note}")
        self.case_opened.emit(volume.path)
        self.state_changed.emit()

    # -- what is on screen, and whether the last result still describes it --
    def current_inputs(self) -> case_state.Inputs | None:
        """The image, record and model on screen now (None with no image open)."""
        if self.volume is None:
            return None
        model = self.record_form.model
        return case_state.Inputs(self.case_serial, str(self.volume.path), model.valid_dict(),
                                 not model.errors(), self.model_serial)

    def stale_reasons(self) -> list[str]:
        """Why the last prediction (and its map, words and report) no longer describe the screen; [] if current."""
        if self.last_prediction is None:
            return []
        return case_state.stale_reasons(self.last_inputs, self.current_inputs())

    def is_current(self) -> bool:
        return self.last_prediction is not None and not self.stale_reasons()

    def record_subject(self) -> str | None:
        subject = self.record_form.model.valid_dict().get("subject_id")
        return str(subject) if subject is not None else None

    def subject_mismatch(self) -> str | None:
        """A warning when the record's subject is not the DICOM patient of the scan (None when they agree or
        either is unknown)."""
        if self.volume is None:
            return None
        return case_state.subject_mismatch(self.record_subject(), self.volume.metadata)

    def case_text(self) -> str:
        vol = self.volume
        return case_state.case_text(vol.path if vol is not None else None, vol.metadata if vol is not None else {},
                                    self.record_subject())

    def _inputs_changed(self, _ehr: dict | None = None) -> None:
        """The record (or image, or model) changed: a shown explanation of the old inputs goes; the card is marked."""
        if self.explanation is not None and self.stale_reasons():
            self.forget_explanation("The inputs changed since the prediction: the map and the words explained the "
                                    "old ones. Predict, then explain again.")
        self.state_changed.emit()

    def open_record(self, path: str | Path) -> bool:
        return self.record_form.load(path)

    def set_radiological(self, radiological: bool) -> None:
        self.views.set_radiological(radiological)
        if self.volume is not None:
            self._main_overlay()

    def _main_overlay(self, extra: str | None = None) -> None:
        """The main canvas's label: the slice direction and the convention, or 3-D while napari shows the volume in
        3-D; then ``extra``, a note on the image (None: the note already shown)."""
        if extra is not None:
            self._overlay_extra = extra
        if self.viewer.dims.ndisplay == 3:  # no slice, no fixed left/right: the camera turns
            text = "3-D view (drag to rotate)"
        else:
            # the convention on a line of its own: on one line the label was cut off in the axial canvas of a
            # 1366-pixel-wide screen (the coronal and sagittal labels are as long as this first line)
            text = f"{self.views.spec('axial').screen}\n{convention_text(self.views.radiological, short=True)}"
        set_overlay_text(self.viewer, text + self._overlay_extra)

    def _on_ndisplay(self, _event=None) -> None:
        if self.volume is not None:
            self._main_overlay()

    # -- model --
    def load_checkpoint(self, path: str | Path) -> bool:
        """Load a ``.safetensors`` checkpoint; on error say why and keep the model in use."""
        from engine.predict import Predictor

        p = Path(path)
        try:
            if p.suffix != ".safetensors":
                raise AlifuseInputError(f"{p}: not a .safetensors checkpoint (Alifuse never loads pickled files)")
            predictor = Predictor(p, self.device)
        except AlifuseInputError as exc:
            self.warn("Cannot load the model", str(exc))
            return False
        with self._swap_lock:  # a warm-up still loading the old model will not put it in (see adopt_model)
            self.predictor, self.checkpoint = predictor, p
            self.model_serial += 1
        self.last_case = None
        self.forget_explanation("Another model: predict, then explain its prediction.")
        self.record_form.set_text_format(predictor.cfg.text_format, predictor.cfg.score_knots > 0)
        self.model_changed.emit(predictor.info)
        self.status(f"Model {predictor.info.checkpoint_id} loaded from {p.name}")
        self.state_changed.emit()
        return True

    def _preview_text_format(self, checkpoint: Path | None) -> None:
        """The record form previews the text as the model about to load reads it (metadata only, no weights)."""
        from engine.checkpoint_info import read_info
        from engine.resources import DEMO_CHECKPOINT

        try:
            cfg = read_info(checkpoint or DEMO_CHECKPOINT).config
            self.record_form.set_text_format(cfg.text_format, cfg.score_knots > 0)
        except AlifuseInputError:  # unreadable: predicting says what is wrong with it; keep the default
            pass

    def ensure_model(self):
        """The model (an ``engine.predict.Predictor``), loaded on first use (waits for ``warm_up_model`` if it is loading it)."""
        with self._model_lock:
            predictor, checkpoint = self.predictor, self.checkpoint
            if predictor is None:
                from engine.predict import Predictor

                predictor = Predictor(checkpoint, self.device)
                self.adopt_model(predictor, checkpoint)
            return self.predictor or predictor

    def adopt_model(self, predictor, checkpoint: Path | None) -> None:
        """Make a model loaded for ``checkpoint`` the session's, unless the session has one or changed model."""
        with self._swap_lock:
            if self.predictor is None and self.checkpoint == checkpoint:
                self.predictor = predictor

    # -- jobs (the functions run in a worker thread; accept_* run in the GUI thread) --
    def prediction_job(self) -> Callable:
        """The work of one prediction; ValueError (a line for the user) if there is nothing to predict."""
        if self.volume is None:
            raise ValueError("Open an MRI first (File → Open MRI image…).")
        errors = self.record_form.model.errors()
        if errors:
            raise ValueError("Fix the marked record fields first: " + "; ".join(errors.values()))
        volume, ehr = self.volume, self.record_form.model.to_dict()
        inputs = self.current_inputs()

        def work(report, cancelled):
            report(0.05, "Loading the model…")
            predictor = self.ensure_model()
            report(0.4, "Preprocessing the image and the record…")
            pred, case = predictor.predict(volume, ehr)
            report(0.8, "Measuring what the prediction rests on (the MRI, the record)…")
            reliance = _reliance_of(predictor, case)
            report(1.0, "Done.")
            return pred, case, inputs, reliance

        return work

    def accept_prediction(self, result):
        """Make a finished prediction the last one; None (nothing kept) if it is of a case no longer open."""
        pred, case, *made_from = result  # (pred, case[, inputs[, reliance]])
        inputs = made_from[0] if made_from else self.current_inputs()
        if inputs is None or inputs.case_serial != self.case_serial:
            return None  # another image (another patient) was opened while it ran
        self.last_prediction, self.last_case, self.last_inputs = pred, case, inputs
        self.last_reliance = made_from[1] if len(made_from) > 1 else None
        self.forget_explanation("A new prediction: explain it to see its map.")
        self.state_changed.emit()
        return pred, case

    def forget_explanation(self, message: str, always: bool = False) -> None:
        """The shown explanation no longer explains what is on screen: hide its map, clear its words, fields and
        reliance, and say so (``message``; ``always``: even when no explanation was shown)."""
        had = self.explanation is not None or always
        self.explanation = None
        if RELEVANCE_LAYER in self.viewer.layers:  # emptied too: ticking the layer back on must not show it
            layer = self.viewer.layers[RELEVANCE_LAYER]
            layer.visible = False
            layer.data = np.zeros_like(layer.data)
        self.explanation_forgotten.emit(message if had else None)

    def explanation_job(self, method: str) -> Callable:
        if self.last_case is None or self.predictor is None:
            raise ValueError("Predict first: an explanation explains the last prediction.")
        if (reasons := self.stale_reasons()):
            raise ValueError(f"Predict again first: {case_state.join_reasons(reasons)} since the prediction.")
        from engine.explain import explain

        model, case = self.predictor.model, self.last_case
        known = self.last_reliance  # measured with the prediction, for the same case, model and class

        def work(report, cancelled):
            # reliance: the maps of a modality the prediction hardly uses must be read with that in mind; the
            # probe runs again only when Predict could not measure it
            expl = explain(model, case, method=method, target=None, progress=report, cancel=cancelled,
                           class_names=self.predictor.class_names, reliance=known is None)
            return expl if known is None else dataclasses.replace(expl, reliance=known)

        return work

    def accept_explanation(self, explanation, opacity: float = 0.6, threshold: float = 0.3) -> None:
        """Show the relevance volume on the MRI's grid and placement."""
        vol = self.last_case.volume
        relevance = original_to_canonical(explanation.image_original, vol.original_affine, vol.data.shape)
        self.explanation = explanation
        if MRI_LAYER not in self.viewer.layers:
            return
        layer = show_relevance(self.viewer, relevance, self.viewer.layers[MRI_LAYER], opacity, threshold)
        layer.metadata["affine"] = vol.affine
