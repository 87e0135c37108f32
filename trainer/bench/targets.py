"""The project's performance targets and how a run compares with them."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trainer.bench.results import Results


@dataclass(frozen=True)
class Target:
    figure: str
    limit: float
    at_most: bool          # True: the figure must be <= limit; False: >= limit
    machine: str           # the machine the target was set for
    unit: str              # "s", "/s" or "" (a fraction)
    bound_by: str = ""     # a figure that bounds this one from above when it is not measured itself


TARGETS: tuple[Target, ...] = (
    Target("demo.cpu.predict_s", 0.5, True, "2 CPU cores", "s"),
    Target("demo.cpu.explain_s", 1.5, True, "2 CPU cores", "s"),
    Target("paper.cpu.predict_s", 2.0, True, "2 CPU cores", "s"),
    Target("viewer.first_image_s", 3.0, True, "2 CPU cores", "s", bound_by="viewer.screenshot_s"),
    Target("paper.cuda.mfu", 0.40, False, "one H100", ""),
    Target("paper.cuda.train_samples_per_s", 230.0, False, "one H100", "/s"),
    Target("paper.cuda.predict_s", 0.05, True, "one H100", "s"),
    Target("paper.cuda.predict_explain_s", 0.25, True, "one H100", "s"),
    # "the loader never the bottleneck": the cached loader with workers keeps up with the training target
    Target("loader.cpu.workers_samples_per_s", 230.0, False, "the H100's host CPUs", "/s"),
)


def _fmt(x: float, unit: str) -> str:
    if unit == "":
        return f"{x:.1%}"
    return f"{x:.3g} {unit}".replace(" /s", "/s")


def compare(t: Target, res: Results) -> dict[str, Any]:
    """{figure, target, machine, value, status, by}: status met | missed | met (upper bound) | not measured."""
    rule = f"{'<=' if t.at_most else '>='} {_fmt(t.limit, t.unit)}"
    row: dict[str, Any] = {"figure": t.figure, "target": rule, "machine": t.machine, "value": None, "by": ""}
    if t.figure in res.figures:
        v = res.figures[t.figure]
        ok = v <= t.limit if t.at_most else v >= t.limit
        row.update(value=v, status="met" if ok else "missed")
        if not ok:
            row["by"] = (f"{_fmt(abs(v - t.limit), t.unit)} {'over' if t.at_most else 'short'}"
                         f" ({v / t.limit:.2f}x the target)")
        return row
    if t.bound_by and t.bound_by in res.figures:
        v = res.figures[t.bound_by]
        row["value"] = v
        if v <= t.limit:
            row["status"] = f"met (upper bound {t.bound_by})"
        else:
            row["status"] = "not determined"
            row["by"] = f"only an upper bound is measured: {t.bound_by} = {_fmt(v, t.unit)}"
        return row
    row["status"] = "not measured"
    row["by"] = res.skipped.get(t.figure, "not selected")
    return row


def compare_all(res: Results) -> list[dict[str, Any]]:
    return [compare(t, res) for t in TARGETS]
