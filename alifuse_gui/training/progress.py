"""Follow a training run from its protocol events: curves, progress fraction, time left, outcome.

Fed either live (one ``--progress-json`` stdout line at a time) or from a finished run's ``metrics.jsonl``.
The dialog only draws what this model holds, so all the bookkeeping is testable without Qt.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from engine import run_format as rf
from alifuse_gui.training.run_folder import parse_event_line

#: Loss terms in the order the plot lists them (the trainer's "loss" / "train" dict keys).
LOSS_TERMS = rf.LOSS_TERMS
#: Validation scores drawn on the right-hand plot.
VAL_SCORES = rf.VAL_SCORES


def _num(x: Any) -> float | None:
    """A finite float, or None (the trainer may write null or NaN for a term it did not compute)."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def format_duration(seconds: float | None) -> str:
    """'about 2 min left'-style text: 45 s, 3 min, 1 h 20 min; '' when unknown."""
    s = _num(seconds)
    if s is None or s < 0:
        return ""
    if s < 90:
        return f"{max(1, round(s))} s"
    if s < 3600:
        return f"{round(s / 60)} min"
    h, m = divmod(round(s / 60), 60)
    return f"{h} h {m} min" if m else f"{h} h"


@dataclass
class Series:
    """x/y points of one curve; x is in epochs (step curves use fractional epochs)."""

    x: list[float] = field(default_factory=list)
    y: list[float] = field(default_factory=list)

    def add(self, x: float, y: float | None) -> None:
        if y is not None:
            self.x.append(x)
            self.y.append(y)


class RunMonitor:
    """The state of one run as its events arrive; ``state`` is idle, running, done, stopped or error."""

    def __init__(self) -> None:
        self.state = "idle"
        self.epochs_total: int | None = None
        self.steps_per_epoch: int | None = None
        self.run_dir: str | None = None
        self.epoch = 0
        self.step = 0
        self.fraction = 0.0
        self.eta_s: float | None = None
        self.step_loss: dict[str, Series] = {k: Series() for k in LOSS_TERMS}
        self.epoch_loss: dict[str, Series] = {k: Series() for k in LOSS_TERMS}
        self.val: dict[str, Series] = {k: Series() for k in (*VAL_SCORES, rf.VAL_LOSS)}
        self.best_epoch: int | None = None
        self.best_checkpoint: str | None = None
        self.last_checkpoint: str | None = None
        self.error: str | None = None
        self.seconds: float | None = None
        self.events_seen = 0

    # -- input --
    def feed_line(self, line: str | bytes) -> dict[str, Any] | None:
        """Parse one stdout line and apply it; returns the event, or None for a non-protocol line."""
        ev = parse_event_line(line)
        if ev is not None:
            self.feed(ev)
        return ev

    def feed(self, ev: dict[str, Any]) -> None:
        self.events_seen += 1
        kind = ev.get(rf.EVENT)
        if kind == rf.START:
            self.state = "running"
            self.epochs_total = _int(ev.get("epochs")) or self.epochs_total
            self.steps_per_epoch = _int(ev.get("steps_per_epoch")) or self.steps_per_epoch
            self.run_dir = ev.get("run_dir") or self.run_dir
        elif kind == rf.STEP:
            self._step(ev)
        elif kind == rf.EPOCH:
            self._epoch(ev)
        elif kind == rf.DONE:
            self.state = "done"
            self.fraction = 1.0
            self.eta_s = 0.0
            self.best_checkpoint = ev.get("best_checkpoint") or self.best_checkpoint
            self.seconds = _num(ev.get("seconds"))
        elif kind == rf.STOPPED:
            # SIGTERM (Cancel): the trainer stopped at a step boundary; its last epoch checkpoint stays.
            self.state = "stopped"
            self.best_checkpoint = ev.get("best_checkpoint") or self.best_checkpoint
            self.last_checkpoint = ev.get("last_checkpoint") or self.last_checkpoint
            self.seconds = _num(ev.get("seconds"))
        elif kind == rf.ERROR:
            self.state = "error"
            self.error = str(ev.get("message") or "the trainer reported an error")

    def load_epochs(self, events: list[dict[str, Any]]) -> None:
        """Plot a finished (or interrupted) run from its ``metrics.jsonl`` events."""
        for ev in events:
            self.feed(ev)
        if self.epochs_total is None and self.epoch:
            self.epochs_total = self.epoch

    def _step(self, ev: dict[str, Any]) -> None:
        self.state = "running"
        self.epoch = _int(ev.get("epoch")) or self.epoch
        self.step = _int(ev.get("step")) or self.step
        self.steps_per_epoch = _int(ev.get("steps_per_epoch")) or self.steps_per_epoch
        frac = _num(ev.get("fraction"))
        if frac is not None:
            self.fraction = min(max(frac, self.fraction), 1.0)   # a progress bar never runs backwards
        self.eta_s = _num(ev.get("eta_s"))
        spe = self.steps_per_epoch or 1
        x = (self.epoch - 1) + self.step / spe
        loss = ev.get("loss") if isinstance(ev.get("loss"), dict) else {}
        for k in LOSS_TERMS:
            self.step_loss[k].add(x, _num(loss.get(k)))

    def _epoch(self, ev: dict[str, Any]) -> None:
        self.epoch = _int(ev.get("epoch")) or self.epoch + 1
        train = ev.get("train") if isinstance(ev.get("train"), dict) else {}
        val = ev.get("val") if isinstance(ev.get("val"), dict) else {}
        for k in LOSS_TERMS:
            self.epoch_loss[k].add(float(self.epoch), _num(train.get(k)))
        for k in self.val:
            self.val[k].add(float(self.epoch), _num(val.get(k)))
        if isinstance(ev.get("checkpoint"), str):
            self.last_checkpoint = ev["checkpoint"]
        if ev.get("best"):
            self.best_epoch = self.epoch
        if self.epochs_total:
            self.fraction = max(self.fraction, min(self.epoch / self.epochs_total, 1.0))

    # -- output --
    def status_text(self) -> str:
        """One line for the dialog: where the run is and how long it still needs."""
        if self.state == "done":
            took = format_duration(self.seconds)
            return "Training finished" + (f" in {took}." if took else ".")
        if self.state == "stopped":
            return f"Training stopped after {self.epochs_done()} complete epoch(s)."
        if self.state == "error":
            return f"Training failed: {self.error}"
        if self.state == "idle":
            return ""
        parts = []
        if self.epoch:
            parts.append(f"epoch {self.epoch}/{self.epochs_total or '?'}")
        if self.step and self.steps_per_epoch:
            parts.append(f"step {self.step}/{self.steps_per_epoch}")
        left = format_duration(self.eta_s)
        if left:
            parts.append(f"about {left} left")
        return "Training: " + (", ".join(parts) if parts else "starting…")

    def epochs_done(self) -> int:
        """Epochs with a written checkpoint (the ``"epoch"`` events seen)."""
        return len(self.epoch_loss[rf.TOTAL_LOSS].x) or len(self.val["acc"].x) or len(self.val["auc"].x)

    def latest_val(self) -> dict[str, float]:
        """The last validation scores, e.g. {'acc': 0.6, 'auc': 0.7, 'loss': 1.0}."""
        return {k: s.y[-1] for k, s in self.val.items() if s.y}


def _int(x: Any) -> int | None:
    v = _num(x)
    return int(v) if v is not None else None
