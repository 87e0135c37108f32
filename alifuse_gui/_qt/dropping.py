"""Drag and drop of MRI files and record files onto napari's window."""
from __future__ import annotations

from pathlib import Path

from qtpy.QtCore import QEvent, QObject

from alifuse_gui._qt.session_api import CaseSession

IMAGE_SUFFIXES = (".nii", ".nii.gz", ".mgz", ".mgh", ".hdr", ".img", ".dcm")


def is_image_path(path: Path) -> bool:
    """An MRI file by name, or a folder (a DICOM series)."""
    name = path.name.lower()
    return path.is_dir() or any(name.endswith(s) for s in IMAGE_SUFFIXES)


class DropHandler(QObject):
    """Event filter: MRI files/folders open as a new case, .json files load as its record; others go to napari."""

    def __init__(self, session: CaseSession, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session

    @staticmethod
    def _paths(event) -> list[Path]:
        mime = event.mimeData()
        if mime is None or not mime.hasUrls():
            return []
        return [Path(u.toLocalFile()) for u in mime.urls() if u.isLocalFile()]

    def _ours(self, paths: list[Path]) -> bool:
        return bool(paths) and all(is_image_path(p) or p.suffix.lower() == ".json" for p in paths)

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt override
        kind = event.type()
        if kind in (QEvent.Type.DragEnter, QEvent.Type.DragMove) and self._ours(self._paths(event)):
            event.acceptProposedAction()
            return True
        if kind == QEvent.Type.Drop:
            paths = self._paths(event)
            if self._ours(paths):
                event.acceptProposedAction()
                self.open_paths(paths)
                return True
        return False

    def open_paths(self, paths: list[Path]) -> None:
        """An image dropped starts a new case (the previous patient's record goes); records dropped with it, or
        on their own, fill the form after it. Several images dropped at once are one patient's."""
        images = [p for p in paths if p.suffix.lower() != ".json"]
        for i, p in enumerate(images):
            self.session.open_image(p, same_patient=i > 0)
        for p in paths:
            if p.suffix.lower() == ".json":
                self.session.open_record(p)


def install_drop_handler(session: CaseSession) -> DropHandler:
    from alifuse_gui._qt.workarounds import qt_viewer, qt_window

    target = qt_viewer(session.viewer)
    handler = DropHandler(session, parent=target)
    target.installEventFilter(handler)
    qt_window(session.viewer).installEventFilter(handler)
    return handler
