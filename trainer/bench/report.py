"""The benchmark as text for people: machine, figures with their load, targets, skipped figures, notes."""
from __future__ import annotations

from typing import Any


def fmt_figure(name: str, v: float) -> str:
    """A value in the unit its name implies: *_per_s, *_s, *flops*, *mfu."""
    if name.endswith("_per_s"):
        return f"{v:,.1f} /s"
    if name.endswith("_s"):
        return f"{v * 1000:.1f} ms" if v < 1 else f"{v:.2f} s"
    if "flops" in name:
        return f"{v / 1e12:.3f} TFLOP" if v >= 1e11 else f"{v / 1e9:.2f} GFLOP"
    if name.endswith("mfu"):
        return f"{v:.1%}"
    return f"{v:g}"


def _load(detail: dict) -> str:
    la = detail.get("load_1m_before_after") or detail.get("load_average_before_after")
    if not la:
        return ""
    vals = [x[0] if isinstance(x, list) else x for x in la]
    return "load " + "->".join("?" if x is None else f"{x:.1f}" for x in vals)


def render(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = ["Alifuse benchmark", "",
             f"machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']} with {m['torch_threads']} threads, "
             f"GPU {m['gpu']}, load average {m['load_average']}", "", "figures (median of repeats):"]
    width = max([len(k) for k in report["figures"]] + [10])
    for k, v in report["figures"].items():
        d = report["details"].get(k, {})
        lines.append(f"  {k:<{width}}  {fmt_figure(k, v):>14}  {_load(d)}")
    lines += ["", "targets:"]
    for t in report["targets"]:
        val = "" if t["value"] is None else fmt_figure(t["figure"], t["value"])
        lines.append(f"  {t['figure']:<{width}}  {t['target']:>10} ({t['machine']}): {t['status']}"
                     f"{' ' + val if val else ''}{' - ' + t['by'] if t['by'] else ''}")
    if report["skipped"]:
        lines += ["", "skipped:"]
        lines += [f"  {k}: {why}" for k, why in report["skipped"].items()]
    if report["notes"]:
        lines += ["", "notes:"] + [f"  {n}" for n in report["notes"]]
    return "\n".join(lines)
