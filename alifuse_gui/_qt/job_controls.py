"""What the predict and explain docks share: cancelling their background job and showing its progress."""
from __future__ import annotations


class JobControls:
    """Mixin for a dock with ``self.job`` (a :class:`~alifuse_gui._qt.jobs.Job` or None), ``self.progress``
    (a QProgressBar) and ``self.status`` (a QLabel)."""

    def cancel(self) -> None:
        if self.job is not None and self.job.running:
            self.job.cancel()
            self.status.setText("Cancelling…")

    def _on_progress(self, fraction: float, message: str) -> None:
        self.progress.setValue(round(fraction * 100))
        self.status.setText(message)
