"""Training progress for people and for the viewer.

Every event goes to ``progress.json`` (the latest one, written atomically) and, with ``--progress-json``, as
one JSON line on stdout. Epoch events are appended to ``metrics.jsonl``. Without ``--progress-json`` a
one-line progress bar is drawn on stderr.
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

from engine import run_format as rf
from trainer.run_files import atomic_write_text


def _clean(v: Any) -> Any:
    """JSON has no NaN: write null."""
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return None
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    return v


class Reporter:
    def __init__(self, run_dir: Path, json_lines: bool, enabled: bool = True) -> None:
        self.run_dir, self.json_lines, self.enabled = Path(run_dir), json_lines, enabled
        self._bar = False

    def event(self, **ev: Any) -> None:
        if not self.enabled:
            return
        ev = _clean(ev)
        line = json.dumps(ev, sort_keys=True)
        atomic_write_text(self.run_dir / rf.PROGRESS, line + "\n")
        if self.json_lines:
            print(line, flush=True)
        else:
            self._draw(ev)

    def epoch(self, **ev: Any) -> None:
        ev = {rf.EVENT: rf.EPOCH, **ev}
        if self.enabled:
            with open(self.run_dir / rf.METRICS, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(_clean(ev), sort_keys=True) + "\n")
        self.event(**ev)

    def _draw(self, ev: dict) -> None:
        kind = ev.get(rf.EVENT)
        if kind == rf.STEP:
            frac = ev.get("fraction") or 0.0
            bar = "#" * int(frac * 30)
            loss = (ev.get("loss") or {}).get(rf.TOTAL_LOSS)
            sys.stderr.write(f"\repoch {ev['epoch']} step {ev['step']}/{ev['steps_per_epoch']} [{bar:<30}] "
                             f"{frac:5.1%} loss {loss if loss is not None else '-'} eta {ev.get('eta_s')}s   ")
            self._bar = True
        else:
            if self._bar:
                sys.stderr.write("\n")
                self._bar = False
            if kind == rf.EPOCH:
                v = ev.get("val") or {}
                loss = ev["train"].get(rf.TOTAL_LOSS)
                sys.stderr.write(f"epoch {ev['epoch']}: train loss {loss}, val acc {v.get('acc')} "
                                 f"auc {v.get('auc')}{' (best)' if ev.get('best') else ''}\n")
            elif kind in (rf.DONE, rf.STOPPED):
                sys.stderr.write(f"{kind}: best checkpoint {ev.get('best_checkpoint')}\n")
        sys.stderr.flush()

    def close(self) -> None:
        if self._bar and self.enabled and not self.json_lines:
            sys.stderr.write("\n")
            self._bar = False


#: the largest metrics.jsonl a resume reads (a line per epoch is a few hundred bytes)
MAX_METRICS_BYTES = 256 << 20


def truncate_metrics(path: Path, last_epoch: int) -> None:
    """Keep only the epoch lines up to ``last_epoch`` (and drop a half-written last line): what a resumed
    run redoes must not be counted twice. A complete line that is not a JSON object with a whole-number epoch
    is not one this program wrote: an :class:`AlifuseInputError` naming the line, never a guess."""
    if not path.is_file():
        return
    from engine.errors import AlifuseInputError, quote_path
    from engine.safe_files import read_regular

    raw = read_regular(path, MAX_METRICS_BYTES, rf.METRICS)
    segments = raw.split(b"\n")
    keep = []
    for number, seg in enumerate(segments, 1):
        if not seg.strip():
            continue
        partial = number == len(segments)  # no newline after it: a line a kill cut short
        try:
            ev = json.loads(seg.decode("utf-8"))
            epoch = ev.get("epoch", 0) if isinstance(ev, dict) else None
            if isinstance(epoch, bool) or not isinstance(epoch, int):
                raise ValueError("not a JSON object with a whole-number 'epoch'")
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            if partial:
                continue
            why = "not UTF-8" if isinstance(exc, UnicodeDecodeError) else (
                "not JSON" if isinstance(exc, json.JSONDecodeError) or isinstance(exc, RecursionError) else str(exc))
            raise AlifuseInputError(f"--resume: {quote_path(path)} line {number}: {why}; it is not a line "
                                    f"alifuse-train wrote (mend or delete it to resume)") from None
        if epoch <= last_epoch:
            keep.append(seg.decode("utf-8"))
    atomic_write_text(path, "".join(x + "\n" for x in keep))
