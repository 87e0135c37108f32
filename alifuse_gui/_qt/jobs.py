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
        fn, cancel, emit = self._fn, self._cancel, self.progress.emit

        def alifuse_job() -> tuple[str, Any]:
            # a plain function, not a bound method: napari's task list formats it after the Job may be gone
            return _execute(fn, cancel, emit)

        self.worker = create_worker(alifuse_job, _connect={"returned": self._on_returned})

    def cancel(self) -> None:
        self._cancel.set()

    def is_cancelled(self) -> bool:
        return self._cancel.is_set()

    def _on_returned(self, outcome: tuple[str, Any]) -> None:
        state, value = outcome
        if self._cancel.is_set():  # pressed after the work finished: the result is not wanted either
            state = "cancelled"
        self.running = False
        if state == "ok":
            self.succeeded.emit(value)
        elif state == "failed":
            self.failed.emit(value)
        else:
            self.cancelled.emit()
        self.done.emit(state)


def _execute(fn: Callable[[ReportFn, CancelledFn], Any], cancel: threading.Event,
             emit: Callable[[float, str], None]) -> tuple[str, Any]:
    """Run ``fn`` in the worker thread. Never raises: napari's worker-status hook for ``errored`` fails (0.9)."""
    def report(fraction: float, message: str) -> None:
        if cancel.is_set():
            raise Cancelled()
        emit(float(fraction), message)

    try:
        return "ok", fn(report, cancel.is_set)
    except Exception as exc:  # noqa: BLE001 - every failure becomes a line in the panel
        if cancel.is_set() or isinstance(exc, Cancelled) or type(exc).__name__ == "ExplanationCancelled":
            return "cancelled", None
        if isinstance(exc, AlifuseInputError):
            return "failed", str(exc)
        return "failed", f"{type(exc).__name__}: {exc}"
