"""Explain one prediction: a relevance map over the MRI and relevance per word and per EHR field.

All maps are normalised for display: the positive part (evidence *for* the target class) divided by its
maximum, so 1 is the most relevant voxel / word. Field relevances are shares of the total (they sum to 1
unless nothing is relevant). Special tokens ([CLS], [SEP]) get 0: they are not text a person wrote.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import nibabel as nib
import numpy as np
import torch
from torch import nn

from engine import strict_json
from engine.case_inputs import model_inputs
from engine.cli_common import prepare_out_dir
from engine.config import CLASS_NAMES_3WAY
from engine.ehr_text import field_relevance, word_relevance
from engine.errors import AlifuseInputError
from engine.explain import DEFAULT_METHOD, METHODS
from engine.explain.attention import explain_attention
from engine.explain.base import (CancelFn, ExplanationCancelled, ProgressFn, RawAttribution, Reporter, image_map,
                                 unit_max)
from engine.explain.gradients import explain_integrated_gradients
from engine.explain.guided import explain_guided
from engine.explain.occlusion import explain_occlusion
from engine.explain.relevance import explain_relevance
from engine.explain.reliance import ModalityReliance, modality_reliance
from engine.explain.score_effects import ScoreEffect, score_effects
from engine.preprocess import to_original_grid
from engine.preprocess_torch import to_original_grid_on

__all__ = ["METHODS", "Explanation", "ExplanationCancelled", "explain", "save_explanation"]


@dataclass
class Explanation:
    """One explanation of one case for one class; every map in [0, 1]."""

    method: str
    target_class: int
    target_name: str
    image_model: np.ndarray        # (S, S, S) float32 on the model grid
    image_original: np.ndarray     # float32 on the original file's voxel grid (original_shape)
    token_relevance: list[float]   # (n,) per real token, [CLS]/[SEP] = 0
    word_relevance: list[float]    # per word of case.text.words
    field_relevance: dict[str, float]  # per EHR field in the text, shares summing to 1 (or all 0)
    words: list[str]
    word_field: list[str]
    seconds: float
    #: how much the prediction moves with the MRI or the record hidden (``explain(..., reliance=True)``)
    reliance: ModalityReliance | None = None
    #: a model that reads the scores as numbers: each score's effect on the target (its text holds none)
    score_effects: list[ScoreEffect] = field(default_factory=list)

    def score_lines(self) -> list[str]:
        """One sentence per score read as a number (:class:`ScoreEffect`); [] for a model that reads them as text."""
        return [e.sentence(self.target_name) for e in self.score_effects]

    def summary(self, top: int = 5) -> dict[str, Any]:
        """Plain-JSON digest: method, class, the ``top`` words, the fields, time."""
        order = np.argsort(-np.asarray(self.word_relevance, dtype=float), kind="stable")[:top]
        return {
            "method": self.method, "target_class": self.target_class, "target_name": self.target_name,
            "top_words": [{"word": self.words[i], "relevance": round(float(self.word_relevance[i]), 4),
                           "field": self.word_field[i]} for i in order],
            "fields": {k: round(float(v), 4) for k, v in self.field_relevance.items()},
            "seconds": round(self.seconds, 3),
            **({"reliance": self.reliance.to_dict()} if self.reliance is not None else {}),
            **({"scores_as_numbers": [{"field": e.field, "value": e.value, "with_score": round(e.with_score, 6),
                                       "unknown": round(e.unknown, 6)} for e in self.score_effects],
                "score_lines": self.score_lines()} if self.score_effects else {}),
        }


def on_original_grid(image_model: np.ndarray, mapping, device: torch.device) -> np.ndarray:
    """(S, S, S) map -> float32 in [0, 1] on the scan's own grid; on the model's GPU when it has one (scipy takes
    ~0.2 s of CPU for it, most of the GPU's 250 ms predict + explain budget)."""
    if device.type == "cuda":
        on = to_original_grid_on(torch.from_numpy(image_model).to(device), mapping)
        return on.clamp_(0.0, 1.0).cpu().numpy()
    return np.clip(to_original_grid(image_model, mapping), 0.0, 1.0).astype(np.float32)


def _text_scores(raw: RawAttribution, enc) -> tuple[list[float], list[float], dict[str, float]]:
    """(token, word, field) relevances for display from a method's signed scores."""
    if raw.tokens is None or enc is None:
        return [], [], {}
    tokens = np.asarray(raw.tokens, dtype=np.float64).copy()
    special = np.array([w < 0 for w in enc.token_word], dtype=bool)
    tokens[special] = 0.0
    # words and fields sum their signed pieces first: a word's total effect, not the sum of its good parts
    words = raw.words if raw.words is not None else word_relevance(tokens, enc)
    fields = raw.fields if raw.fields is not None else field_relevance(tokens, enc)
    f = np.clip(np.nan_to_num(np.array(list(fields.values()), dtype=np.float64)), 0.0, None)
    shares = f / f.sum() if f.sum() > 0 else np.zeros_like(f)
    return (unit_max(tokens).tolist(), unit_max(np.asarray(words, dtype=np.float64)).tolist(),
            {k: float(v) for k, v in zip(fields, shares)})


def _class_names(model: nn.Module, class_names: Sequence[str] | None) -> list[str]:
    if class_names is not None:
        return list(class_names)
    c = model.cfg.num_classes
    return list(CLASS_NAMES_3WAY) if c == 3 else [f"class {k}" for k in range(c)]


def _clear_attention(model: nn.Module) -> None:
    """Drop stored attention maps and gradients: they hold the autograd graph of the last explanation."""
    for m in model.modules():
        if hasattr(m, "attn_map"):
            m.attn_map = m.attn_grad = None


def explain(model: nn.Module, case, method: str = DEFAULT_METHOD, target: int | None = None,
            progress: ProgressFn | None = None, cancel: CancelFn | None = None, *,
            class_names: Sequence[str] | None = None, n_steps: int = 16, batch_size: int = 8,
            reliance: bool = False) -> Explanation:
    """Explain ``model``'s output for ``case`` (a :class:`engine.case_inputs.CaseInputs`) and class ``target``.

    ``target`` None explains the predicted class. ``progress(fraction, message)`` is called with a
    non-decreasing fraction that ends at 1.0; ``cancel()`` returning True stops the work with
    :class:`ExplanationCancelled`. ``n_steps``: IG steps; ``batch_size``: inputs per model call (IG, occlusion).
    ``reliance``: also measure how much the prediction moves with each modality hidden (one more batched forward
    of up to three cases; :mod:`engine.explain.reliance`) - what a user needs to read the maps honestly.
    """
    if method not in METHODS:
        raise AlifuseInputError(f"method: unknown explanation method {method!r}; choose one of {', '.join(METHODS)}")
    names = _class_names(model, class_names)
    n_cls = model.cfg.num_classes
    if target is not None and (isinstance(target, bool) or not 0 <= int(target) < n_cls):
        raise AlifuseInputError(f"target: class {target!r} is out of range 0-{n_cls - 1} ({', '.join(names)})")
    if isinstance(n_steps, bool) or int(n_steps) < 1:
        raise AlifuseInputError(f"n_steps: {n_steps!r} must be a positive number of steps")
    if isinstance(batch_size, bool) or int(batch_size) < 1:
        raise AlifuseInputError(f"batch_size: {batch_size!r} must be a positive number")
    t0 = time.perf_counter()
    rep = Reporter(progress, cancel, scale=0.9)
    was_training = model.training
    model.eval()  # dropout off: an explanation must describe the prediction the user saw
    try:
        x = model_inputs(model, case)
        if method == "relevance":
            raw = explain_relevance(model, x, target, rep)
        elif method == "attention":
            raw = explain_attention(model, x, target, rep)
        elif method == "guided":
            raw = explain_guided(model, x, target, rep, int(n_steps), int(batch_size))
        elif method == "integrated_gradients":
            raw = explain_integrated_gradients(model, x, target, rep, int(n_steps), int(batch_size))
        else:
            raw = explain_occlusion(model, x, target, rep, int(batch_size))
        rep.scale = 1.0
        rep(0.95, "mapping onto the original image")
        image_model = image_map(raw.image, model.cfg.image_size)
        image_original = on_original_grid(image_model, case.mapping, next(model.parameters()).device)
        tokens, words, fields = _text_scores(raw, x.text)
        rel = (modality_reliance(model, x.img, x.ids, x.mask, raw.target, names, scores=x.scores)
               if reliance else None)
        effects = score_effects(model, x, raw.target)
    finally:
        _clear_attention(model)
        model.train(was_training)
    rep.done(f"{method}: done")
    enc = x.text
    return Explanation(
        method=method, target_class=raw.target, target_name=names[raw.target],
        image_model=image_model, image_original=image_original,
        token_relevance=tokens, word_relevance=words, field_relevance=fields,
        words=list(enc.words) if enc is not None else [], word_field=list(enc.word_field) if enc is not None else [],
        seconds=time.perf_counter() - t0, reliance=rel, score_effects=effects,
    )


def save_explanation(expl: Explanation, case, out_dir: str | Path) -> list[Path]:
    """Write relevance.nii.gz (the input file's grid and affine), words.json and fields.json, and reliance.json
    when the explanation measured it; returns the paths."""
    out = Path(out_dir)
    affine = np.asarray(case.volume.original_affine, dtype=np.float64)
    shape = tuple(int(n) for n in case.volume.original_shape)
    data = np.asarray(expl.image_original, dtype=np.float32)
    if data.shape != shape:
        raise ValueError(f"relevance map of shape {data.shape} does not match the input's grid {shape}")
    prepare_out_dir(out)  # the commands' own check: a file, /proc/x or a read-only folder is one line naming it
    img = nib.Nifti1Image(data, affine)
    img.set_qform(affine, code=1)  # scanner coordinates, as the input: viewers then overlay it directly
    img.set_sform(affine, code=1)
    img.header["descrip"] = f"alifuse {expl.method} {expl.target_name}"[:79].encode("ascii", "replace")
    paths = [out / "relevance.nii.gz", out / "words.json", out / "fields.json"]
    nib.save(img, paths[0])
    head = {"method": expl.method, "target_class": expl.target_class, "target_name": expl.target_name}
    words = [{"word": w, "relevance": float(r), "field": f}
             for w, r, f in zip(expl.words, expl.word_relevance, expl.word_field)]
    paths[1].write_text(strict_json.dumps({**head, "words": words}, indent=2), encoding="utf-8")
    paths[2].write_text(strict_json.dumps({**head, "fields": expl.field_relevance}, indent=2), encoding="utf-8")
    if expl.reliance is not None:
        paths.append(out / "reliance.json")
        paths[3].write_text(strict_json.dumps(expl.reliance.to_dict(), indent=2), encoding="utf-8")
    return paths
