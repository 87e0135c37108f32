"""Read a training run folder (``alifuse-train --out RUN_DIR``) while it is being written, or long after.

The folder's files and events are named in :mod:`engine.run_format`, which the trainer writes with. The trainer
appends to these files while we read them, so a missing file, an empty file or a half-written last line are
normal states, never errors.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine import run_format as rf
from engine.errors import AlifuseInputError
from engine.safe_files import read_regular, read_regular_tail

#: the largest config.json / run.json / progress.json read (a run writes a few kB)
MAX_RUN_JSON_BYTES = 16 << 20
#: the largest metrics.jsonl read (a few hundred bytes an epoch: some 200,000 epochs)
MAX_METRICS_BYTES = 64 << 20


def parse_event_line(line: str | bytes) -> dict[str, Any] | None:
    """One protocol line -> its event object, or None for anything else (blank, log text, broken JSON)."""
    if isinstance(line, bytes):
        line = line.decode("utf-8", errors="replace")
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        obj = json.loads(line)
    except json.JSONDecodeError:
        return None
    if not isinstance(obj, dict) or not isinstance(obj.get(rf.EVENT), str):
        return None
    return obj


def read_events(path: str | Path) -> list[dict[str, Any]]:
    """Every complete event object of a JSON-lines file; [] when the file does not exist (yet).

    Unparseable lines are skipped: the last line may be half-written while the trainer appends to it. A file
    larger than MAX_METRICS_BYTES is read from its last MAX_METRICS_BYTES (its newest events; the cut first line
    dropped); anything but a regular file reads as none (a FIFO of that name would hang the read).
    """
    try:
        if not Path(path).is_file():
            return []
        # one byte more than kept: the byte before the kept part says whether that part starts a line
        data, _ = read_regular_tail(path, MAX_METRICS_BYTES + 1, Path(path).name)
    except (OSError, AlifuseInputError):
        return []
    if len(data) > MAX_METRICS_BYTES:  # cut: keep the lines wholly inside the last MAX_METRICS_BYTES
        data = data[data.find(b"\n") + 1:]  # through the first line break: a cut line, or only that byte
    lines = data.decode("utf-8", errors="replace").splitlines()
    return [ev for ev in map(parse_event_line, lines) if ev is not None]


def _read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object file, or None when missing, half-written, not an object, not a regular file (a FIFO would
    hang the read) or larger than a run's own files ever are."""
    try:
        if not path.is_file():  # (is_file raises where a parent folder cannot be searched)
            return None
        obj = json.loads(read_regular(path, MAX_RUN_JSON_BYTES, path.name).decode("utf-8"))
    except (AlifuseInputError, OSError, json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        return None
    return obj if isinstance(obj, dict) else None


@dataclass(frozen=True)
class RunFolder:
    """A view on one run folder; every read goes to disk, so it always shows the current state."""

    path: Path

    def is_run(self) -> bool:
        return self.path.is_dir() and any((self.path / m).exists() for m in rf.RUN_MARKERS)

    def epochs(self) -> list[dict[str, Any]]:
        """The ``"epoch"`` events of ``metrics.jsonl`` in file order (of its newest MAX_METRICS_BYTES)."""
        return [ev for ev in read_events(self.path / rf.METRICS) if ev.get(rf.EVENT) == rf.EPOCH]

    def metrics_cut(self) -> int:
        """Bytes at the start of ``metrics.jsonl`` that :meth:`epochs` leaves unread (0 for any file a run writes)."""
        try:
            return max(0, (self.path / rf.METRICS).stat().st_size - MAX_METRICS_BYTES)
        except OSError:
            return 0

    def progress(self) -> dict[str, Any] | None:
        """The latest event the trainer wrote to ``progress.json``, or None."""
        ev = _read_json(self.path / rf.PROGRESS)
        return ev if ev is not None and isinstance(ev.get(rf.EVENT), str) else None

    def config(self) -> dict[str, Any] | None:
        return _read_json(self.path / rf.CONFIG)

    def run_info(self) -> dict[str, Any] | None:
        return _read_json(self.path / rf.RUN_INFO)

    def last_checkpoint(self) -> Path | None:
        p = self.path / rf.LAST_CHECKPOINT
        return p if p.is_file() else None

    def best_checkpoint(self) -> Path | None:
        """``best.safetensors``, else the checkpoint a ``done`` event names, else None."""
        p = self.path / rf.BEST_CHECKPOINT
        if p.is_file():
            return p
        prog = self.progress() or {}
        named = prog.get("best_checkpoint")
        if isinstance(named, str) and Path(named).is_file():
            return Path(named)
        return None

    def finished(self) -> bool:
        return (self.progress() or {}).get(rf.EVENT) == rf.DONE


def open_run(path: str | Path) -> RunFolder:
    """The run folder at ``path``; an ``AlifuseInputError`` naming the folder if it is not one."""
    p = Path(path).expanduser()
    if not p.exists():
        raise AlifuseInputError(f"{p}: no such folder")
    if not p.is_dir():
        raise AlifuseInputError(f"{p}: not a folder; choose a training run folder")
    run = RunFolder(p)
    if not run.is_run():
        raise AlifuseInputError(f"{p}: not a training run folder (it has no {rf.METRICS}, {rf.PROGRESS}, "
                                f"{rf.RUN_INFO} or checkpoint)")
    return run
