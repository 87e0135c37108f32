"""Menu entries: case and record in napari's File menu, radiological view in View, Model and Training menus.

The colleague-owned dialogs (training, model card, report) are imported when used; while one is not
installed its entry says so instead of failing.
"""
from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from qtpy.QtGui import QAction
from qtpy.QtWidgets import QFileDialog, QMenu

from engine.errors import AlifuseInputError
from alifuse_gui._qt.session_api import CaseSession


IMAGE_FILTER = "MRI (*.nii *.nii.gz *.mgz *.mgh *.hdr *.img);;All files (*)"


def feature_available(module: str, name: str) -> bool:
    """Whether a colleague's dialog/function is installed, without importing it when it is not loaded yet.

    Importing the report module to check it pulls in matplotlib's PDF backend before the first image;
    finding its file is enough here, and the entry's handler still reports an ImportError when used.
    """
    loaded = sys.modules.get(module)
    if loaded is not None:
        return hasattr(loaded, name)
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:  # a parent package is missing
        return False


@dataclass
class AlifuseMenus:
    actions: dict[str, QAction] = field(default_factory=dict)
    menus: dict[str, QMenu] = field(default_factory=dict)


def _pin(menu: QMenu, actions: list[QAction]) -> None:
    """Keep our actions at the top of a napari (app-model) menu, which may rebuild itself."""
    def ensure() -> None:
        present = menu.actions()
        if actions and actions[0] in present:
            return
        first = present[0] if present else None
        for a in actions:
            menu.insertAction(first, a)
        sep = QAction(menu)
        sep.setSeparator(True)
        menu.insertAction(first, sep)

    ensure()
    menu.aboutToShow.connect(ensure)


def install_menus(session: CaseSession) -> AlifuseMenus:
    from alifuse_gui._qt.workarounds import qt_window

    win = session.viewer.window
    qwin = qt_window(session.viewer)
    out = AlifuseMenus()

    def act(key: str, text: str, slot: Callable[[], object], parent) -> QAction:
        a = QAction(text, parent)
        a.triggered.connect(lambda _checked=False: slot())
        out.actions[key] = a
        return a

    file_actions = [
        act("new_case", "New case", session.close_image, qwin),
        act("open_image", "Open MRI image (new case)…", lambda: _ask_image(session), qwin),
        act("open_dicom", "Open DICOM folder (new case)…", lambda: _ask_dicom(session), qwin),
        act("open_same_patient", "Open image for this patient…", lambda: _ask_image(session, same_patient=True),
            qwin),
        act("load_record", "Load record…", session.record_form.ask_load, qwin),
        act("save_record", "Save record…", session.record_form.ask_save, qwin),
        act("export_report", "Export report…", lambda: export_report(session), qwin),
    ]
    if not feature_available("alifuse_gui.report", "write_report"):
        out.actions["export_report"].setText("Export report… (not available)")
        out.actions["export_report"].setEnabled(False)
    out.actions["new_case"].setToolTip("Forget the open patient: image, record, results, maps and what-if history")
    out.actions["open_same_patient"].setToolTip("Another scan of the patient whose record is in the form: the "
                                                "record and the what-if history are kept")
    _pin(win.file_menu, file_actions)

    radio = act("radiological", "Radiological convention (left-right flipped)",
                lambda: session.set_radiological(out.actions["radiological"].isChecked()), qwin)
    radio.setCheckable(True)
    radio.setChecked(session.views.radiological)
    _pin(win.view_menu, [radio])

    model_menu = QMenu("&Model", qwin)
    model_menu.addAction(act("load_checkpoint", "Load checkpoint…", lambda: _ask_checkpoint(session), model_menu))
    card = act("model_card", "Model card…", lambda: show_model_card(session), model_menu)
    if not feature_available("alifuse_gui._qt.model_card", "ModelCardDialog"):
        card.setText("Model card… (not available)")
        card.setEnabled(False)
    model_menu.addAction(card)
    training_menu = QMenu("&Training", qwin)
    train = act("train", "Train a model…", lambda: open_training(session), training_menu)
    if not feature_available("alifuse_gui._qt.training_dialog", "TrainingDialog"):
        train.setText("Train a model… (not available)")
        train.setEnabled(False)
    training_menu.addAction(train)
    bar = win.main_menu
    before = win.window_menu.menuAction()
    bar.insertMenu(before, model_menu)
    bar.insertMenu(before, training_menu)
    out.menus.update(model=model_menu, training=training_menu)
    return out


def _ask_image(session: CaseSession, same_patient: bool = False) -> None:
    title = "Open another image of this patient" if same_patient else "Open MRI image (a new case)"
    path, _ = QFileDialog.getOpenFileName(session.dialog_parent(), title, "", IMAGE_FILTER)
    if path:
        session.open_image(path, same_patient=same_patient)


def _ask_dicom(session: CaseSession) -> None:
    path = QFileDialog.getExistingDirectory(session.dialog_parent(), "Open DICOM series folder")
    if path:
        session.open_image(path)


def _ask_checkpoint(session: CaseSession) -> None:
    path, _ = QFileDialog.getOpenFileName(session.dialog_parent(), "Load Alifuse checkpoint", "",
                                          "Alifuse checkpoint (*.safetensors)")
    if path:
        session.load_checkpoint(path)


def current_info(session: CaseSession):
    """The CheckpointInfo of the model in use: read from the file's metadata while the model is not loaded (the
    window does not wait for the background load); only the untrained stand-in for a missing demo model is built."""
    from engine.checkpoint_info import read_info
    from engine.resources import DEMO_CHECKPOINT

    if session.predictor is not None:
        return session.predictor.info
    if session.checkpoint is not None:
        return read_info(session.checkpoint)
    if DEMO_CHECKPOINT.is_file():
        return read_info(DEMO_CHECKPOINT)
    return session.ensure_model().info


def show_model_card(session: CaseSession) -> None:
    try:
        from alifuse_gui._qt.model_card import ModelCardDialog
    except ImportError:
        session.warn("Model card", "The model card is not available in this installation.")
        return
    try:
        info = current_info(session)
    except AlifuseInputError as exc:
        session.warn("Model card", str(exc))
        return
    ModelCardDialog(info, parent=session.dialog_parent()).exec()


def open_training(session: CaseSession) -> None:
    try:
        from alifuse_gui._qt.training_dialog import TrainingDialog
    except ImportError:
        session.warn("Training", "Training from the viewer is not available in this installation.")
        return
    dialog = TrainingDialog(parent=session.dialog_parent(), on_use_model=session.load_checkpoint)
    dialog.show()
    session.keep_dialog(dialog)  # alive while it runs


def screen_settings(session: CaseSession) -> dict:
    """What the window shows that the report must show the same way: the convention, the overlay's colours, and
    what the result card says the prediction rests on."""
    from alifuse_gui.layers import MRI_LAYER, RELEVANCE_LAYER
    from alifuse_gui.overlay_style import style_of_layers

    layers = session.viewer.layers
    shown = session.explanation is not None and RELEVANCE_LAYER in layers
    style = style_of_layers(layers[RELEVANCE_LAYER] if shown else None,
                            layers[MRI_LAYER] if MRI_LAYER in layers else None)
    return {"radiological": session.views.radiological, "style": style, "reliance": session.last_reliance}


def export_report(session: CaseSession, path: str | Path | None = None) -> Path | None:
    """Write the report of the last prediction (and explanation) to ``path`` (asked for when None)."""
    reasons = session.stale_reasons()
    if reasons:  # the report is the screen on paper: never the old values and the old map
        from alifuse_gui.case_state import report_refusal

        session.warn("Export report", report_refusal(reasons))
        return None
    if session.last_prediction is None or session.last_case is None:
        session.warn("Export report", "Predict first: the report describes the last prediction.")
        return None
    try:
        from alifuse_gui.report import write_report
    except ImportError:
        session.warn("Export report", "Report export is not available in this installation.")
        return None
    if path is None:
        name = Path(session.last_case.volume.path).name.split(".")[0] + "_alifuse_report.pdf"
        path, _ = QFileDialog.getSaveFileName(session.dialog_parent(), "Export report", name, "PDF (*.pdf)")
        if not path:
            return None
    case = session.last_case
    try:
        return write_report(Path(path), case.volume, dict(case.ehr), session.last_prediction,
                            session.explanation, session.predictor.info, **screen_settings(session))
    except (AlifuseInputError, OSError) as exc:
        session.warn("Export report", str(exc))
        return None
