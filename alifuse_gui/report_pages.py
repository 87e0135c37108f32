"""The three pages of the case report, each drawn onto an A4 matplotlib ``Figure`` (Qt-free).

1. the record, the verdict (a class, or "uncertain") with how sure it is, probability bars, the model identity,
   the date, the disclaimer;
2. three orthogonal MRI slices with the relevance heatmap;
3. the clinical text with words shaded by relevance, and relevance per EHR field.
"""
from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from matplotlib.cm import ScalarMappable
from matplotlib.colors import ListedColormap, Normalize
from matplotlib.figure import Figure
from scipy import ndimage

from alifuse_gui.case_state import patient_text, subject_mismatch
from alifuse_gui.display import convention_text, percentile_limits
from alifuse_gui.overlay_style import OverlayStyle, default_style
from alifuse_gui.record_model import SUMMARY_WORD_LIMIT
from alifuse_gui.report_maps import (TEXT_BLUE, as_shown, heatmap_on_canonical, orthogonal_slices, slice_point,
                                     world_mm)
from engine.calibration import UNCERTAIN, Calibration
from engine.checkpoint import CheckpointInfo
from engine.ehr import FIELD_SPECS
from engine.imageio import Volume

A4 = (8.27, 11.69)
DISCLAIMER = "Research tool, not a medical device."
NO_EXPLANATION = "no explanation computed"
NOT_READ = "[not read by the model:]"
#: How page 1 names what a DICOM series says about itself (``Volume.metadata``)
SCAN_LABELS = {"series_description": "DICOM series", "series_uid": "DICOM series UID"}
RELIANCE_NOT_MEASURED = "not measured for this prediction (hiding the MRI, then the record, measures it)"
RED = "#c0392b"
AMBER = "#b26a00"
_MARGIN = 0.07
_FLOOR = 0.09   # page 1 writes nothing below this: the disclaimer is there


def new_page(title: str, page: int, pages: int, stamp: str) -> Figure:
    """An A4 page with a title, the disclaimer and a footer (date, page number)."""
    fig = Figure(figsize=A4)
    fig.text(_MARGIN, 0.955, title, fontsize=16, weight="bold", va="top")
    fig.text(1 - _MARGIN, 0.955, DISCLAIMER, fontsize=9, color=RED, ha="right", va="top", weight="bold")
    fig.text(_MARGIN, 0.025, f"Alifuse Viewer · {stamp} · {DISCLAIMER}", fontsize=7, color="0.35")
    fig.text(1 - _MARGIN, 0.025, f"page {page} of {pages}", fontsize=7, color="0.35", ha="right")
    return fig


def field_value_text(name: str, value: Any) -> str:
    """'74 years', 'female', '0.5'; integers without '.0'."""
    spec = FIELD_SPECS.get(name)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value)
    return f"{text} {spec.unit}" if spec is not None and spec.unit and spec.unit != "points" else text


class _Cursor:
    """Writes lines top-down in figure coordinates."""

    def __init__(self, fig: Figure, y: float) -> None:
        self.fig, self.y = fig, y

    def line(self, text: str, size: float = 10, dy: float | None = None, x: float = _MARGIN, **kw: Any) -> None:
        # Baseline alignment: 'top' would shift words with ascenders ("female") below their neighbours.
        self.fig.text(x, self.y - 0.8 * size / 72 / A4[1], text, fontsize=size, va="baseline", **kw)
        self.y -= dy if dy is not None else size * 1.55 / 72 / A4[1]

    def pair(self, key: str, value: str, size: float = 9.5, key_width: float = 0.30, **kw: Any) -> None:
        self.fig.text(_MARGIN, self.y - 0.8 * size / 72 / A4[1], key, fontsize=9.5, va="baseline", color="0.25")
        self.line(value, size, x=_MARGIN + key_width, **kw)

    def gap(self, h: float = 0.012) -> None:
        self.y -= h


def page_record(fig: Figure, volume: Volume, ehr: dict[str, Any], prediction: Any, info: CheckpointInfo,
                method: str | None, stamp: str, reliance: Any | None = None) -> None:
    """Page 1: the case, the prediction, what it rests on (``reliance``, when explained) and the model."""
    c = _Cursor(fig, 0.915)
    c.pair("Scan", Path(str(volume.path)).name, size=10, weight="bold")
    c.pair("File", _short(str(volume.path), 90), size=8, color="0.25")
    if (who := patient_text(volume.metadata)):
        c.pair("Patient (from the scan)", who, size=9.5)
    for key, value in volume.metadata.items():
        if key not in ("patient_id", "patient_name"):
            label = SCAN_LABELS.get(key, key.replace("_", " ").capitalize())
            c.pair(label, _short(str(value), 80), size=8.5)
    if (clash := subject_mismatch(ehr.get("subject_id"), volume.metadata)):
        c.line(clash, 8.5, color=RED, weight="bold")
    c.gap()
    trained = bool(getattr(prediction, "trained", info.trained))
    if not trained:
        c.line("UNTRAINED MODEL: random weights, the prediction below means nothing.", 11, color=RED, weight="bold")
        c.gap(0.006)

    c.line("Record", 12, weight="bold")
    for name, spec in FIELD_SPECS.items():
        if name == "summary":
            continue
        v = ehr.get(name)
        missing = v is None or (isinstance(v, str) and not v.strip())
        c.pair(spec.label, "not given" if missing else field_value_text(name, v),
               color="0.55" if missing else "black", style="italic" if missing else "normal")
    summary = str(ehr.get("summary") or "").strip()
    read, unread = summary_read_words(summary)
    c.pair(FIELD_SPECS["summary"].label, "" if summary else "not given", color="0.55")
    if unread:
        c.line(f"The model read the first {SUMMARY_WORD_LIMIT} words (black); the {len(unread)} after them "
               f"(grey) were not read.", 8, x=_MARGIN + 0.02, color=AMBER, weight="bold")
    for ln in textwrap.wrap(" ".join(read), 95)[:6]:
        c.line(ln, 9, x=_MARGIN + 0.02)
    if unread:
        lines = textwrap.wrap(f"{NOT_READ} " + " ".join(unread), 100)
        for ln in lines[:3]:
            c.line(ln, 8.5, x=_MARGIN + 0.02, color="0.5", style="italic")
        if len(lines) > 3:
            c.line("… (more not-read words)", 8, x=_MARGIN + 0.02, color="0.5", style="italic")
    if getattr(prediction, "text_truncated", False):
        c.line("The text was cut to the model's token budget: its last words were not read either (page 3).",
               8, x=_MARGIN + 0.02, color=AMBER)
    c.gap()

    c.line("Prediction", 12, weight="bold")
    probs = dict(getattr(prediction, "probabilities", {}) or {})
    label = str(getattr(prediction, "label", "?"))
    p = probs.get(label)
    uncertain = str(getattr(prediction, "verdict", "") or label) == UNCERTAIN
    best = f"{label}" + (f"  ({p:.1%})" if p is not None else "")
    c.line(f"Uncertain  (most likely {best.replace('  ', ' ')})" if uncertain else best, 20, weight="bold",
           color=RED if not trained else AMBER if uncertain else "black")
    confidence = float(getattr(prediction, "confidence", 0.0) or (p or 0.0))
    calibrated = bool(getattr(prediction, "calibrated", False))
    c.pair("Confidence", f"{confidence:.1%} " + ("(calibrated)" if calibrated else "(not calibrated)")
           + ("; verdict: uncertain" if uncertain else ""), size=9.5,
           color=AMBER if uncertain or not calibrated else "black")
    certainty = str(getattr(prediction, "certainty", "") or "")
    for i, ln in enumerate(textwrap.wrap(certainty, 100)[:3]):
        c.line(ln, 8.5, color=AMBER if uncertain else "0.25", weight="bold" if uncertain else "normal")
    if certainty:
        c.gap(0.006)
    bar_h = 0.022 * max(len(probs), 1)
    ax = fig.add_axes((_MARGIN + 0.12, c.y - bar_h, 0.55, bar_h))
    names = list(probs)
    vals = [float(probs[n]) for n in names]
    ax.barh(range(len(names)), vals, color=["#1f4fd8" if n == label else "#9db3ea" for n in names])
    ax.set_yticks(range(len(names)), names, fontsize=9)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.tick_params(axis="x", labelsize=7)
    for i, v in enumerate(vals):
        ax.text(min(v, 0.86) + 0.01, i, f"{v:.1%}", va="center", fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    c.y -= bar_h + 0.03

    if reliance is not None:
        c.line("What the prediction rests on", 12, weight="bold")
        warnings = set(reliance.warnings())
        for sentence in reliance.lines():
            warn = sentence in warnings
            for i, ln in enumerate(textwrap.wrap(sentence, 100)):
                c.line(("• " if i == 0 else "  ") + ln, 8.5, color=RED if warn else "black",
                       weight="bold" if warn else "normal")
        c.gap()
    else:
        c.pair("Rests on", RELIANCE_NOT_MEASURED, size=8.5, color="0.4", style="italic")
        c.gap()

    c.line("Model", 12, weight="bold")
    c.pair("Checkpoint ID", str(getattr(prediction, "checkpoint_id", "") or info.checkpoint_id or "n/a"))
    c.pair("Checkpoint file", _short(str(info.path or getattr(prediction, "checkpoint", "") or "n/a"), 80), size=8)
    c.pair("Trained", "yes" if trained else "NO (random weights)", color="black" if trained else RED,
           weight="normal" if trained else "bold")
    c.pair("Preset; classes", f"{info.config.preset}; {', '.join(info.class_names)}")
    c.pair("Calibration", calibration_text(info.calibration), size=8.5)
    c.pair("Device; explanation", f"{getattr(prediction, 'device', 'n/a')}; {method or NO_EXPLANATION}")
    notes = [str(n) for n in getattr(prediction, "notes", []) or []]
    if notes:
        c.gap()
        c.line("Notes", 12, weight="bold")
        lines = [("• " if i == 0 else "  ") + ln for n in notes[:8] for i, ln in enumerate(textwrap.wrap(n, 100)[:3])]
        room = max(1, int((c.y - _FLOOR) / (8.5 * 1.55 / 72 / A4[1])))   # above the disclaimer, never over it
        for ln in lines[:room] if len(lines) <= room else lines[:room - 1]:
            c.line(ln, 8.5)
        if len(lines) > room:
            c.line(f"… {len(lines) - room + 1} more lines of notes not shown", 8.5,
                   color="0.4")
    fig.text(0.5, 0.06, DISCLAIMER, fontsize=12, weight="bold", color=RED, ha="center")


def summary_read_words(summary: str, limit: int = SUMMARY_WORD_LIMIT) -> tuple[list[str], list[str]]:
    """The summary's words the model reads (the first ``limit``) and those it never sees."""
    words = summary.split()
    return words[:limit], words[limit:]


def calibration_text(calibration: Calibration | None) -> str:
    """The model section's one line on the calibration."""
    if calibration is None:
        return "not calibrated (never says 'uncertain' from its confidence)"
    return (f"temperature {calibration.temperature:.3g}; 'uncertain' below {calibration.uncertain_below:.0%} "
            f"({calibration.n_val} validation cases)")


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else "…" + text[-(n - 1):]


def page_slices(fig: Figure, volume: Volume, explanation: Any | None, radiological: bool = False,
                style: OverlayStyle | None = None) -> list[str]:
    """Page 2: sagittal, coronal, axial slices as the viewer orients them in its convention (``radiological``),
    with the heatmap painted in the Explain panel's colours, threshold and opacity (``style``). Returns notes."""
    notes: list[str] = []
    heat = None
    if explanation is not None:
        heat, notes = heatmap_on_canonical(volume, explanation.image_original)
    style = style or default_style(heat, volume.data)   # no window: as the Explain panel starts with this map
    shown = as_shown(volume, heat)
    ijk, why = slice_point(shown.data, shown.heat)
    x, y, z = world_mm(shown.grid.affine, ijk)
    lo, hi = style.mri_limits or percentile_limits(volume.data)
    sub = (f"Relevance for {getattr(explanation, 'target_name', '?')} ({explanation.method}), {style.name} colour "
           f"map, threshold {style.low:.0%}, opacity {style.opacity:.0%} (as in the Explain panel)"
           if explanation is not None else f"MRI only: {NO_EXPLANATION}")
    fig.text(_MARGIN, 0.915, sub, fontsize=10, va="top")
    fig.text(_MARGIN, 0.895, f"Slices {why}: voxel ({ijk[0]}, {ijk[1]}, {ijk[2]}), "
                             f"world ({x:.1f}, {y:.1f}, {z:.1f}) mm (RAS)"
                             + ("; the oblique scan resampled onto the scanner's axes, as the viewer shows it"
                                if shown.grid.resampled else "")
                             + f".\nOriented as in the viewer: {convention_text(radiological)}; sagittal with "
                               f"anterior on the left.",
             fontsize=8, va="top", color="0.25", linespacing=1.5)
    boxes = [(0.06, 0.47, 0.42, 0.40), (0.53, 0.47, 0.42, 0.40), (0.06, 0.05, 0.42, 0.40)]
    for view, box in zip(orthogonal_slices(shown, ijk, radiological), boxes):
        ax = fig.add_axes(box, label=view.name.lower())
        w, h = view.size_mm
        extent = (0.0, w, h, 0.0)   # row 0 at the top, as on screen
        ax.imshow(view.image, cmap="gray", vmin=lo, vmax=hi, origin="upper", extent=extent,
                  interpolation="bilinear")
        if view.heat is not None:
            ax.imshow(style.rgba(_finer(view.heat)), origin="upper", extent=extent, interpolation="bilinear")
        ax.axhline(view.cursor[1], color="yellow", lw=0.5, alpha=0.5)
        ax.axvline(view.cursor[0], color="yellow", lw=0.5, alpha=0.5)
        ax.set_xlim(0, w)
        ax.set_ylim(h, 0)
        ax.set_title(view.name, fontsize=11)
        ax.set_xticks([])
        ax.set_yticks([])
        for side, (px, py, ha, va) in {"left": (0.01, 0.5, "left", "center"),
                                       "right": (0.99, 0.5, "right", "center"),
                                       "bottom": (0.5, 0.01, "center", "bottom"),
                                       "top": (0.5, 0.99, "center", "top")}.items():
            ax.text(px, py, view.sides[side], transform=ax.transAxes, ha=ha, va=va, color="white", fontsize=10,
                    weight="bold")
    legend = fig.add_axes((0.56, 0.05, 0.38, 0.38))
    legend.axis("off")
    if heat is not None:
        cax = fig.add_axes((0.60, 0.30, 0.30, 0.02), label="colour bar")
        cb = fig.colorbar(ScalarMappable(Normalize(style.low, style.high), ListedColormap(style.colors[:, :3])),
                          cax=cax, orientation="horizontal")
        cb.set_label("relevance (1 = most relevant voxel)", fontsize=8)
        cb.ax.tick_params(labelsize=7)
        legend.text(0.0, 0.45, f"Relevance below the threshold ({style.low:.0%}) is not shown;\n"
                               "low values fade out, so the anatomy stays visible.", fontsize=8, va="top")
    else:
        legend.text(0.0, 0.7, f"Heatmap: {NO_EXPLANATION}.", fontsize=11, va="top")
    for i, n in enumerate(notes):
        legend.text(0.0, 0.25 - 0.06 * i, n, fontsize=7, va="top", color=RED, wrap=True)
    return notes


def _finer(heat: np.ndarray, factor: int = 4) -> np.ndarray:
    """The map interpolated (linearly, as napari draws it) before colouring: coloured voxels would show blocks."""
    return np.clip(ndimage.zoom(heat, factor, order=1, grid_mode=True, mode="nearest"), 0.0, 1.0)


def page_text(fig: Figure, prediction: Any, explanation: Any | None) -> None:
    """Page 3: the text the model read, words shaded blue by relevance, and relevance per EHR field."""
    if explanation is not None:
        words = [str(w) for w in explanation.words]
        rel = np.clip(np.nan_to_num(np.asarray(explanation.word_relevance, dtype=float)), 0, 1)
        sub = f"Words shaded by relevance for {getattr(explanation, 'target_name', '?')} (darker blue = more relevant)"
    else:
        words = str(getattr(prediction, "text", "") or "").split()
        rel = np.zeros(len(words))
        sub = f"The text the model read: {NO_EXPLANATION}"
    fig.text(_MARGIN, 0.915, sub, fontsize=10, va="top")
    bottom = _draw_words(fig, words, rel, top=0.885, bottom=0.50)
    if getattr(prediction, "text_truncated", False):
        fig.text(_MARGIN, bottom - 0.01, "The record was cut to the model's token budget; words after the cut "
                                         "were not read.", fontsize=8, color=RED, va="top")
    # a model that reads the scores as numbers: its text holds none, these sentences say what each did
    scores = explanation.score_lines() if explanation is not None and hasattr(explanation, "score_lines") else []
    for i, line in enumerate(scores):
        fig.text(_MARGIN, bottom - 0.035 - 0.022 * i, line, fontsize=8, va="top")
    ax = fig.add_axes((0.30, 0.08, 0.60, min(0.34, bottom - 0.16 - 0.022 * len(scores))))
    fields = dict(getattr(explanation, "field_relevance", {}) or {}) if explanation is not None else {}
    ax.set_title("Relevance per record field", fontsize=11)
    if not fields:
        ax.axis("off")
        ax.text(0.5, 0.5, f"Field relevance: {NO_EXPLANATION}", ha="center", va="center", fontsize=11)
        return
    names = list(fields)
    vals = [float(fields[n]) for n in names]
    labels = [FIELD_SPECS[n].label if n in FIELD_SPECS else n for n in names]
    ax.barh(range(len(names)), vals, color=[TEXT_BLUE(0.25 + 0.75 * v / max(max(vals), 1e-9)) for v in vals])
    ax.set_yticks(range(len(names)), labels, fontsize=9)
    ax.invert_yaxis()
    ax.set_xlim(0, max(1e-9, max(vals)) * 1.15)
    ax.set_xlabel("share of the text's relevance", fontsize=8)
    ax.tick_params(axis="x", labelsize=7)
    for i, v in enumerate(vals):
        ax.text(v, i, f" {v:.0%}", va="center", fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)


def _draw_words(fig: Figure, words: Sequence[str], rel: np.ndarray, top: float, bottom: float,
                size: float = 10) -> float:
    """Lay words out in monospace (so widths are known without a renderer); returns the y below the last line."""
    char_w = 0.6 * size / 72 / A4[0]            # DejaVu Sans Mono advance is 0.6 em
    line_h = 2.0 * size / 72 / A4[1]
    x0, x1 = _MARGIN, 1 - _MARGIN
    x, y = x0, top
    for i, (w, r) in enumerate(zip(words, rel)):
        width = len(w) * char_w
        if x > x0 and x + width > x1:
            x, y = x0, y - line_h
        if y < bottom:
            fig.text(x0, y, f"… {len(words) - i} more words not shown", fontsize=8, color="0.4", va="top")
            return y - line_h
        # baseline, not 'top': a word's top is its tallest glyph, so 'top' set "female" lower than "The"
        fig.text(x, y - 0.8 * size / 72 / A4[1], w, fontsize=size, family="DejaVu Sans Mono", va="baseline",
                 color="white" if r > 0.6 else "black",
                 bbox=dict(boxstyle="square,pad=0.12", fc=TEXT_BLUE(float(r)), ec="none"))
        x += width + char_w
    return y - line_h
