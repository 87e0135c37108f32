"""PNG figures of the checks (matplotlib, Agg): one case's maps with the mask contour, and bar charts."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np

from trainer.explain_checks.runner import FigureCase


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _slice_index(case: FigureCase) -> int:
    """Axial slice (last axis, superior) with the most mask voxels, or the middle one."""
    if case.mask is not None and case.mask.any():
        return int(np.argmax(case.mask.sum(axis=(0, 1))))
    return case.image.shape[2] // 2


def case_figure(case: FigureCase, methods: Sequence[str], path: Path) -> Path:
    """Rows: trained / re-randomised model; columns: methods. Jet map over the slice, mask contour in white."""
    plt = _plt()
    z = _slice_index(case)
    n = len(methods)
    fig, axes = plt.subplots(2, n, figsize=(2.2 * n, 4.6), dpi=80, squeeze=False)
    for row, (title, maps) in enumerate((("trained", case.trained), ("random weights", case.random))):
        for col, m in enumerate(methods):
            ax = axes[row, col]
            ax.imshow(case.image[:, :, z].T, cmap="gray", origin="lower", vmin=0, vmax=1)
            rel = np.ma.masked_less(maps[m][:, :, z].T, 0.15)  # low end transparent: the anatomy stays visible
            ax.imshow(rel, cmap="jet", origin="lower", vmin=0, vmax=1, alpha=0.55)
            if case.mask is not None and case.mask[:, :, z].any():
                ax.contour(case.mask[:, :, z].T.astype(float), levels=[0.5], colors="white", linewidths=0.8)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(m.replace("integrated_gradients", "int. gradients"), fontsize=9)
            if col == 0:
                ax.set_ylabel(title, fontsize=9)
    fig.suptitle(f"{case.subject_id}, predicted {case.predicted}: axial slice {z} (white: planted atrophy)",
                 fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


def _bars(ax, methods: Sequence[str], series: dict[str, list[tuple[float, float]]], ylabel: str,
          errors: bool = True) -> None:
    width = 0.8 / max(len(series), 1)
    x = np.arange(len(methods))
    for k, (label, vals) in enumerate(series.items()):
        means = [v[0] if math.isfinite(v[0]) else 0.0 for v in vals]
        sds = [v[1] if math.isfinite(v[1]) else 0.0 for v in vals]
        ax.bar(x + (k - (len(series) - 1) / 2) * width, means, width, yerr=sds if errors else None,
               capsize=2, label=label, hatch="//" if label.startswith("its chance") else None, alpha=0.9)
    ax.set_xticks(x, [m.replace("integrated_gradients", "IG") for m in methods], fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.axhline(0, color="k", lw=0.6)
    ax.legend(fontsize=7)


def _ms(s: dict) -> tuple[float, float]:
    return (s["mean"], s["sd"]) if s.get("n") else (math.nan, math.nan)


def bar_figures(summary: dict, methods: Sequence[str], out: Path) -> list[Path]:
    """sanity.png, deletion.png, localisation.png."""
    plt = _plt()
    paths = []
    fig, ax = plt.subplots(figsize=(4.8, 3.2), dpi=90)
    _bars(ax, methods, {"image map": [_ms(summary["sanity"][m]["image_rho"]) for m in methods],
                        "image map, brain only": [_ms(summary["sanity"][m].get("image_rho_brain", {}))
                                                  for m in methods],
                        "token relevance": [_ms(summary["sanity"][m]["text_rho"]) for m in methods]},
          "Spearman ρ (trained vs random)")
    ax.set_title("Sanity: lower = map depends on learning", fontsize=9)
    paths.append(_save(fig, out / "sanity.png"))
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2), dpi=90)
    for ax, mod in zip(axes, ("image", "text")):
        d = {m: summary["deletion"][m][mod] for m in methods}
        _bars(ax, methods, {"top 10 %": [_ms(d[m]["top_drop"]) for m in methods],
                            "random 10 %": [_ms(d[m]["random_drop"]) for m in methods]},
              "drop of p(predicted class)")
        ax.set_title(f"Deletion: {mod}", fontsize=9)
    paths.append(_save(fig, out / "deletion.png"))
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2), dpi=90)
    loc = {m: summary["localisation"][m] for m in methods}
    _bars(axes[0], methods, {"trained": [_ms(loc[m]["trained"]["ratio"]) for m in methods],
                             "random weights": [_ms(loc[m]["random"]["ratio"]) for m in methods]},
          "share in mask / mask share")
    axes[0].axhline(1, color="gray", ls="--", lw=0.8)
    axes[0].set_title("Localisation: ratio (1 = no better than uniform)", fontsize=9)
    _bars(axes[1], methods, {"mask + 1 patch": [(_ms(loc[m]["trained"]["hit"])[0], 0.0) for m in methods],
                             "its chance": [(_ms(loc[m]["pointing_chance"])[0], 0.0) for m in methods],
                             "mask itself": [(_ms(loc[m]["trained"]["hit_strict"])[0], 0.0) for m in methods],
                             "its chance ": [(_ms(loc[m]["pointing_chance_strict"])[0], 0.0) for m in methods]},
          "pointing-game hit rate", errors=False)
    axes[1].set_title("Pointing game, trained model", fontsize=9)
    paths.append(_save(fig, out / "localisation.png"))
    if summary.get("cascade"):
        paths.append(cascade_figure(summary["cascade"], out / "cascade.png"))
    return paths


def cascade_figure(cascade: dict, path: Path) -> Path:
    """Mean ρ per randomisation level, one line per method: solid image map, dashed token relevance."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.2, 3.2), dpi=90)
    for k, (m, by) in enumerate(cascade.items()):
        levels = list(by)
        colour = f"C{k}"
        ax.plot(levels, [by[lv]["image_rho"]["mean"] for lv in levels], "-o", color=colour, ms=3, label=f"{m}: image")
        ax.plot(levels, [by[lv]["text_rho"]["mean"] for lv in levels], "--", color=colour, label=f"{m}: text")
    ax.axhline(0, color="k", lw=0.6)
    ax.set_ylabel("Spearman ρ with the trained map", fontsize=8)
    ax.set_xlabel("re-initialised, from the output down", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=6, ncol=2)
    ax.set_title("Cascading randomisation", fontsize=9)
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    plt = _plt()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
