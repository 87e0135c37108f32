"""Background jobs with progress and cancel: the window stays responsive while the model runs.

A job function runs in a worker thread (napari's ``create_worker``) and receives ``report(fraction,
message)`` and ``cancelled() -> bool``. Signals reach the GUI thread queued. A result that arrives
after the user pressed Cancel is discarded, so Cancel always means "nothing changes".
"""
from __future__ import annotations

import threading
from typing import Any, Callable

from napari.qt.threading import create_worker
from qtpy.QtCore import QObject, Signal

from engine.errors import AlifuseInputError

ReportFn = Callable[[float, str], None]
CancelledFn = Callable[[], bool]


class Cancelled(Exception):
    """Raised inside a job function when it notices the cancel request."""


class Job(QObject):
    """One run of ``fn(report, cancelled)``. ``done`` carries "ok", "cancelled" or "failed" last."""

    progress = Signal(float, str)
    succeeded = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    done = Signal(str)

    def __init__(self, fn: Callable[[ReportFn, CancelledFn], Any], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._fn = fn
        self._cancel = threading.Event()
        self.running = False
        self.worker = None

    def start(self) -> None:
        self.running = True
        self.worker = create_worker(self._run, _connect={"returned": self._on_returned,
                                                         "errored": self._on_errored})

    def cancel(self) -> None:
        self._cancel.set()

    def is_cancelled(self) -> bool:
        return self._cancel.is_set()

    def _run(self) -> Any:
        def report(fraction: float, message: str) -> None:
            if self._cancel.is_set():
                raise Cancelled()
            self.progress.emit(float(fraction), message)

        return self._fn(report, self._cancel.is_set)

    def _on_returned(self, result: Any) -> None:
        if self._cancel.is_set():
            self._finish("cancelled")
            return
        self.running = False
        self.succeeded.emit(result)
        self.done.emit("ok")

    def _on_errored(self, exc: BaseException) -> None:
        if self._cancel.is_set() or isinstance(exc, Cancelled) or type(exc).__name__ == "ExplanationCancelled":
            self._finish("cancelled")
            return
        self.running = False
        self.failed.emit(str(exc) if isinstance(exc, AlifuseInputError) else f"{type(exc).__name__}: {exc}")
        self.done.emit("failed")

    def _finish(self, state: str) -> None:
        self.running = False
        self.cancelled.emit()
        self.done.emit(state)
