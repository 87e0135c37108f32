"""Per-case rows -> per-method summaries (mean ± sd over cases) and the Markdown tables of results.md."""
from __future__ import annotations

import math
from typing import Any, Sequence

from trainer.explain_checks.metrics import mean_sd


def _vals(rows: Sequence[dict], method: str, *path: str) -> list[float]:
    out = []
    for r in rows:
        d: Any = r["methods"].get(method)
        for key in path:
            d = None if d is None else d.get(key)
        if d is not None:
            out.append(float(d))
    return out


def _beats(rows: Sequence[dict], method: str, modality: str) -> dict[str, float | int]:
    pairs = [(d[f"{modality}_top"], d[f"{modality}_random"]) for r in rows
             if (d := r["methods"].get(method, {}).get("deletion")) and d.get(f"{modality}_top") is not None]
    n = len(pairs)
    return {"fraction": sum(t > rnd for t, rnd in pairs) / n if n else math.nan, "n": n}


def summarise(rows: Sequence[dict], methods: Sequence[str]) -> dict[str, dict]:
    """{"sanity": {m: ...}, "deletion": {m: ...}, "localisation": {m: ...}} over the cases each method ran on."""
    out: dict[str, dict] = {"sanity": {}, "deletion": {}, "localisation": {}}
    # context for the deletion drops: what hiding a whole modality costs the predicted class
    out["modality_drop"] = {"image": mean_sd([r.get("image_all_drop") for r in rows]),
                            "text": mean_sd([r.get("text_all_drop") for r in rows])}
    for m in methods:
        out["sanity"][m] = {k: mean_sd(_vals(rows, m, "sanity", k)) for k in ("image_rho", "image_rho_brain", "text_rho")}
        out["deletion"][m] = {
            mod: {"top_drop": mean_sd(_vals(rows, m, "deletion", f"{mod}_top")),
                  "random_drop": mean_sd(_vals(rows, m, "deletion", f"{mod}_random")),
                  "top_beats_random": _beats(rows, m, mod)}
            for mod in ("image", "text")}
        loc = {}
        for which in ("trained", "random"):
            loc[which] = {k: mean_sd(_vals(rows, m, "localisation", which, k))
                          for k in ("share", "mask_share", "ratio", "hit", "hit_strict")}
        for key in ("pointing_chance", "pointing_chance_strict"):
            loc[key] = mean_sd([r[key] for r in rows if "localisation" in r["methods"].get(m, {})])
        out["localisation"][m] = loc
        levels = list(dict.fromkeys(k for r in rows for k in r["methods"].get(m, {}).get("cascade", {})))
        if levels:
            out.setdefault("cascade", {})[m] = {
                lv: {k: mean_sd(_vals(rows, m, "cascade", lv, k)) for k in ("image_rho", "text_rho")}
                for lv in levels}
    return out


def _f(s: dict, digits: int = 3, sd: bool = True) -> str:
    if not s or s.get("n", 0) == 0 or s["mean"] is None or not math.isfinite(s["mean"]):
        return "–"
    return f"{s['mean']:.{digits}f} ± {s['sd']:.{digits}f}" if sd else f"{s['mean']:.{digits}f}"


def _pct(x: float) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{100 * x:.0f} %"


def _rate(s: dict) -> str:
    return _pct(s["mean"]) if s.get("n") else "–"


def markdown(summary: dict[str, dict], methods: Sequence[str]) -> str:
    """The three tables of results.md (mean ± sd over cases; n = cases)."""
    lines = ["### Sanity: model randomisation (Spearman ρ, trained vs re-randomised weights; low = depends on "
             "learning)", "", "| method | n | image map ρ | image map ρ, brain voxels only | token relevance ρ |",
             "| --- | --- | --- | --- | --- |"]
    for m in methods:
        s = summary["sanity"][m]
        lines.append(f"| {m} | {s['image_rho']['n']} | {_f(s['image_rho'])} | {_f(s.get('image_rho_brain', {}))} | "
                     f"{_f(s['text_rho'])} |")
    if summary.get("cascade"):
        casc = summary["cascade"]
        levels = list(next(iter(casc.values())))
        for key, what in (("image_rho", "image map"), ("text_rho", "token relevance")):
            lines += ["", f"Cascading randomisation, {what} ρ (head = fusion MLP; +topK = and the top K blocks "
                      "of each encoder; all = every learned tensor):", "",
                      "| method | " + " | ".join(levels) + " |", "| --- |" + " --- |" * len(levels)]
            for m, by in casc.items():
                lines.append(f"| {m} | " + " | ".join(_f(by[lv][key], 2, sd=False) for lv in levels) + " |")
    lines += ["", "### Faithfulness: deletion (drop of the predicted class's probability)", "",
              "| method | n | image: top-10 % patches | image: random patches | top > random | "
              "text: top-10 % tokens | text: random tokens | top > random |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for m in methods:
        d = summary["deletion"][m]
        i, t = d["image"], d["text"]
        lines.append(f"| {m} | {i['top_drop']['n']} | {_f(i['top_drop'], 4)} | {_f(i['random_drop'], 4)} | "
                     f"{_pct(i['top_beats_random']['fraction'])} | {_f(t['top_drop'], 4)} | "
                     f"{_f(t['random_drop'], 4)} | {_pct(t['top_beats_random']['fraction'])} |")
    md = summary.get("modality_drop")
    if md:
        lines += ["", f"For scale, hiding the whole image drops it by {_f(md['image'], 4)} and masking every "
                  f"word-piece by {_f(md['text'], 4)} (mean ± sd over {md['image']['n']} cases)."]
    lines += ["", "### Localisation: planted atrophy (AD cases)", "",
              "| method | n | relevance share in mask | mask share of brain | ratio (trained) | ratio (random weights) "
              "| pointing hits, mask + 1 patch: trained | random weights | chance | pointing hits, mask itself: "
              "trained | random weights | chance |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for m in methods:
        loc = summary["localisation"][m]
        tr, rd = loc["trained"], loc["random"]
        lines.append(f"| {m} | {tr['ratio']['n']} | {_f(tr['share'])} | {_f(tr['mask_share'])} "
                     f"| {_f(tr['ratio'], 2)} "
                     f"| {_f(rd['ratio'], 2)} | {_rate(tr['hit'])} | {_rate(rd['hit'])} "
                     f"| {_rate(loc['pointing_chance'])} | {_rate(tr['hit_strict'])} | {_rate(rd['hit_strict'])} "
                     f"| {_rate(loc['pointing_chance_strict'])} |")
    return "\n".join(lines) + "\n"
