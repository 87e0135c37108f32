"""What the predict and explain docks share: cancelling their background job and showing its progress."""
from __future__ import annotations


class JobControls:
    """Mixin for a dock with ``self.job`` (a :class:`~alifuse_gui._qt.jobs.Job` or None), ``self.progress``
    (a QProgressBar), ``self.status`` (a QLabel) and ``self._busy(bool)`` (its buttons while a job runs)."""

    def cancel(self) -> None:
        if self.job is not None and self.job.running:
            self.job.cancel()
            self.status.setText("Cancelling…")

    def _on_progress(self, fraction: float, message: str) -> None:
        self.progress.setValue(round(fraction * 100))
        self.status.setText(message)

    def _live(self, job, slot):
        """``slot`` for a signal of ``job``, called only while the job belongs to the open case (not detached): a
        signal the worker sent just before the case changed may still be on its way."""
        def call(*args) -> None:
            if not getattr(job, "detached", False):
                slot(*args)
        return call

    def detach_job(self) -> bool:
        """Another case came: a running job (of the previous one) is cancelled and says nothing more here — no
        progress, no status line, no result; the buttons come back when it has stopped. True if one was running."""
        job = self.job
        self.progress.setValue(0)
        if job is None or not job.running:
            return False
        job.detached = True
        job.cancel()
        job.done.connect(lambda _state: self._busy(False))  # no other job starts while this one runs
        return True
