"""Run the three checks (sanity, deletion, localisation) over a list of cohort records.

Every explanation targets the trained model's predicted class; the re-randomised model is asked about the same
class. Slow methods (occlusion) run on the first ``max_cases_slow`` cases only, the others on ``max_cases``.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import torch

from engine.case_inputs import case_scores, case_tensors
from engine.explain import explain
from engine.minilm import load_tokenizer
from engine.model import AlifuseModel
from trainer.explain_checks.cases import load_case, mask_on_model_grid
from trainer.explain_checks.deletion import image_deletion, text_deletion
from trainer.explain_checks.metrics import dilate, pointing_hit, rank_correlation, relevance_share
from trainer.explain_checks.randomise import cascade_levels, randomised_copy
from trainer.records import CaseRecord

SLOW_METHODS = ("occlusion",)
LOCALISATION_LABEL = "AD"


@dataclass
class CheckSettings:
    """What the checks do; stored verbatim in results.json."""

    methods: tuple[str, ...]
    max_cases: int = 15
    max_cases_slow: int = 4
    fraction: float = 0.1            # share of patches / tokens deleted
    fill: str = "zero"               # "zero" (background after preprocessing) or "mean" (the image's mean)
    draws: int = 5                   # random deletions averaged per case
    ig_steps: int = 16  # as the viewer explains (engine.explain.api.explain)
    brain_threshold: float = 0.05    # preprocessed intensity above which a voxel is brain
    seed: int = 0                    # random deletions; the re-randomised model uses seed + RANDOM_MODEL_OFFSET
    exclude_parts: tuple[str, ...] = field(default_factory=tuple)
    cascade: bool = False            # cascading randomisation (fast methods only)


#: The re-randomised model's seed is far from the training seed, so it is not the trained model's own start.
RANDOM_MODEL_OFFSET = 1000


@dataclass
class FigureCase:
    """What the per-case figure needs: the image, the mask and each method's trained/random maps (S, S, S)."""

    subject_id: str
    image: np.ndarray
    mask: np.ndarray | None
    trained: dict[str, np.ndarray]
    random: dict[str, np.ndarray]
    predicted: str


def _token_rho(a: Sequence[float], b: Sequence[float], special: np.ndarray) -> float:
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    keep = ~special[: x.size]
    return rank_correlation(x[keep], y[keep]) if x.size and y.size else math.nan


def _rhos(e, r, special: np.ndarray, model: AlifuseModel, brain: np.ndarray | None) -> dict[str, float]:
    """Spearman ρ of two explanations' image maps (the whole cube, and the brain's voxels only) and token
    relevances (real word-pieces only); NaN for a modality the model does not read.

    The brain-only ρ is there because a map that is 0 wherever the input is (integrated gradients from an empty
    MRI, and maps multiplied by it) ranks the head's outline alike under any weights: the whole-cube ρ then says
    more about the head than about what the model learned."""
    img = model.image_encoder is not None and brain is not None
    return {"image_rho": rank_correlation(e.image_model, r.image_model) if img else math.nan,
            "image_rho_brain": rank_correlation(e.image_model[brain], r.image_model[brain]) if img else math.nan,
            "text_rho": _token_rho(e.token_relevance, r.token_relevance, special) if model.text_encoder else math.nan}


def _localise(rel: np.ndarray, mask: np.ndarray, brain: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """Share, mask share, their ratio; pointing hit in the dilated mask ("hit") and in the mask itself."""
    share, mask_share = relevance_share(rel, mask, brain)
    return {"share": share, "mask_share": mask_share,
            "ratio": share / mask_share if mask_share > 0 and math.isfinite(share) else math.nan,
            "hit": float(pointing_hit(rel, target)), "hit_strict": float(pointing_hit(rel, mask))}


def run_checks(model: AlifuseModel, class_names: Sequence[str], records: Sequence[CaseRecord],
               settings: CheckSettings, log: Callable[[str], None] = lambda m: None
               ) -> tuple[list[dict[str, Any]], FigureCase | None]:
    """Per-case results (one dict per case) and the first localisation case with every method, for figures."""
    dev = next(model.parameters()).device
    model.eval()
    rand_model = randomised_copy(model, settings.seed + RANDOM_MODEL_OFFSET)
    cascade = []
    if settings.cascade:  # the last level equals rand_model: every learned tensor re-initialised
        cascade = [(name, randomised_copy(model, settings.seed + RANDOM_MODEL_OFFSET, k))
                   for name, k in cascade_levels(model)[:-1]] + [("all", rand_model)]
    tok = load_tokenizer()
    rng = np.random.default_rng(settings.seed)
    fill_of = {"zero": lambda im: 0.0, "mean": lambda im: float(np.mean(im))}[settings.fill]
    p = model.cfg.patch_size
    rows: list[dict[str, Any]] = []
    fig: FigureCase | None = None
    fig_rank = -1
    for i, rec in enumerate(records[: settings.max_cases]):
        t0 = time.perf_counter()
        case = load_case(rec, model.cfg, tok, settings.exclude_parts)
        img_t, ids, mask = case_tensors(case, dev)
        scores = case_scores(case, dev)
        with torch.no_grad():
            probs = torch.softmax(model(img_t, ids, mask, scores=scores).double(), -1)[0].cpu().numpy()
        pred = int(probs.argmax())
        methods = [m for m in settings.methods if m not in SLOW_METHODS or i < settings.max_cases_slow]
        row: dict[str, Any] = {"subject_id": rec.subject_id, "label": rec.label, "predicted": class_names[pred],
                               "p_predicted": float(probs[pred]), "methods": {m: {} for m in methods}}
        special = np.array([w < 0 for w in case.text.token_word], dtype=bool)
        brain = None if case.image is None else case.image > settings.brain_threshold
        trained, random_, tokens = {}, {}, {}
        for m in methods:
            e = explain(model, case, m, target=pred, class_names=class_names, n_steps=settings.ig_steps)
            r = explain(rand_model, case, m, target=pred, class_names=class_names, n_steps=settings.ig_steps)
            trained[m], random_[m], tokens[m] = e.image_model, r.image_model, np.asarray(e.token_relevance)
            row["methods"][m]["sanity"] = _rhos(e, r, special, model, brain)
            row["methods"][m]["seconds"] = e.seconds
            if cascade and m not in SLOW_METHODS:
                row["methods"][m]["cascade"] = {
                    name: _rhos(e, r if name == "all" else explain(
                        rm, case, m, target=pred, class_names=class_names, n_steps=settings.ig_steps), special, model,
                        brain)
                    for name, rm in cascade}
        dele = tdel = None  # a modality the model does not read has nothing to delete
        if model.image_encoder is not None:
            dele = image_deletion(model, case.image, ids, mask, pred, trained, settings.fraction,
                                  fill_of(case.image), settings.draws, rng, settings.brain_threshold, scores)
        if model.text_encoder is not None:
            tdel = text_deletion(model, case.image, ids, mask, pred, tokens, settings.fraction, settings.draws, rng,
                                 scores)
        for m in methods:
            row["methods"][m]["deletion"] = {
                "image_top": None if dele is None else dele["top"][m],
                "image_random": None if dele is None else dele["random"],
                "text_top": None if tdel is None else tdel["top"][m],
                "text_random": None if tdel is None else tdel["random"]}
        row["deletion_patches"], row["deletion_tokens"] = (None if d is None else d["k"] for d in (dele, tdel))
        row["image_all_drop"], row["text_all_drop"] = (None if d is None else d["all"] for d in (dele, tdel))
        atrophy = None
        if rec.label == LOCALISATION_LABEL and rec.mask is not None and model.image_encoder is not None:
            atrophy = mask_on_model_grid(rec.mask, case.mapping)
            brain = case.image > settings.brain_threshold
            target = dilate(atrophy, p)
            # chance: a point drawn uniformly in the brain lands in the (dilated) mask
            row["pointing_chance"] = float((target & brain).sum() / max(int(brain.sum()), 1))
            row["pointing_chance_strict"] = float((atrophy & brain).sum() / max(int(brain.sum()), 1))
            for m in methods:
                row["methods"][m]["localisation"] = {"trained": _localise(trained[m], atrophy, brain, target),
                                                     "random": _localise(random_[m], atrophy, brain, target)}
        # the figure shows the first case with every method, preferably one with a mask that the model gets right
        rank = (atrophy is not None) + (atrophy is not None and class_names[pred] == rec.label)
        if len(methods) == len(settings.methods) and rank > fig_rank:
            fig, fig_rank = FigureCase(rec.subject_id, case.image, atrophy, trained, random_, class_names[pred]), rank
        row["seconds"] = time.perf_counter() - t0
        rows.append(row)
        log(f"case {i + 1}/{min(len(records), settings.max_cases)} {rec.subject_id} ({rec.label}, predicted "
            f"{class_names[pred]} p={probs[pred]:.2f}): {', '.join(methods)} in {row['seconds']:.1f} s")
    return rows, fig


def settings_dict(s: CheckSettings) -> dict[str, Any]:
    d = asdict(s)
    d["methods"], d["exclude_parts"] = list(s.methods), list(s.exclude_parts)
    d["random_model_seed"] = s.seed + RANDOM_MODEL_OFFSET
    return d
