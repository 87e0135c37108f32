"""What the synthetic cohort itself says a record's scores mean: P(NC, MCI, AD | scores) by Monte Carlo.

The imaged cohort's generator (trainer.synth.ehr_gen) draws a label in the cohort's class balance, a latent
severity and a record. Drawing many records and keeping those whose scores equal a given set estimates the
posterior a perfect reader of the scores would give (no image, other fields ignored): the most any model trained
on this cohort can learn from them. tests/model asks for the sweeps of test_record_reading; this script gives the
generator's own expected stage along each, so a check the cohort cannot teach is told apart from a model's fault.

    python scripts/generator_posterior.py --records 1000000 --out docs/generator_posterior.json \
        [--checkpoint resources/alifuse-demo.safetensors]

With --checkpoint, the model's probabilities for each record of one score alone (the MRI hidden, nothing else in the
record) stand beside the cohort's, and their mean total-variation distance is reported. "criteria_corners": records
at the edges of ADNI's enrolment criteria, with the cohort's posterior and (with --checkpoint) the model's call: where
the synthetic cohort departs from those criteria, and whether the model follows it there.

Missing fields are left out at random independently of their values, so the records holding all four scores have
the same posterior as all records would; only they are kept. Cells with fewer than 30 matching records are None.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.ehr import SCORE_FIELDS  # noqa: E402
from tests.model.test_record_reading import CONTEXTS, SWEEPS  # noqa: E402
from trainer.synth.cohort import DEFAULT_BALANCE  # noqa: E402
from trainer.synth.ehr_gen import CDR_RULES, sample_ehr, sample_latents  # noqa: E402

CLASSES = ("NC", "MCI", "AD")
MIN_CELL = 30


def draw(n: int, seed: int, cdr_rule: str = "cohort") -> tuple[np.ndarray, np.ndarray]:
    """n records -> labels (M,) and scores (M, 4) in SCORE_FIELDS order, of the M records holding all four."""
    rng = np.random.default_rng(seed)
    p = np.asarray(DEFAULT_BALANCE) / sum(DEFAULT_BALANCE)
    labels, scores = [], []
    for k in rng.choice(len(CLASSES), size=n, p=p):
        ehr = sample_ehr(rng, sample_latents(rng, CLASSES[k]), "x", cdr_rule)
        if all(f in ehr for f in SCORE_FIELDS):
            labels.append(k)
            scores.append([float(ehr[f]) for f in SCORE_FIELDS])
    return np.asarray(labels), np.asarray(scores)


def posterior(labels: np.ndarray, scores: np.ndarray, known: dict[str, float]) -> dict | None:
    """P(class) and expected stage of the records whose scores equal ``known`` (others free); None if too few."""
    hit = np.ones(len(labels), bool)
    for f, v in known.items():
        hit &= scores[:, SCORE_FIELDS.index(f)] == float(v)
    n = int(hit.sum())
    if n < MIN_CELL:
        return None
    p = np.bincount(labels[hit], minlength=len(CLASSES)) / n
    return {"n": n, "p": [round(float(x), 3) for x in p], "stage": round(float(p[1] + 2 * p[2]), 3)}


def model_one_score_alone(checkpoint: Path, alone: dict[str, dict | None], records: dict[str, dict]) -> dict:
    """The checkpoint's calibrated probabilities, MRI hidden, for each record of one score only (``records``, by the
    keys of ``alone``, the cohort's cells)."""
    from engine.ehr import validate_ehr
    from engine.explain.reliance import hidden_mri
    from engine.predict import Predictor

    import torch

    pred = Predictor(checkpoint, "cpu")
    s = pred.cfg.image_size
    hidden = hidden_mri(torch.zeros(s, s, s)).numpy()
    keys = [k for k, v in alone.items() if v]
    probs = pred.record_probabilities([validate_ehr(records[k]) for k in keys], hidden)
    # total-variation distance between the model's three probabilities and the cohort's
    tv = [0.5 * float(np.abs(q - np.asarray(alone[k]["p"])).sum()) for k, q in zip(keys, probs)]
    return {"checkpoint_id": pred.info.checkpoint_id,
            "p": {k: [round(float(x), 3) for x in q] for k, q in zip(keys, probs)},
            "mean_total_variation": round(float(np.mean(tv)), 3), "max_total_variation": round(float(np.max(tv)), 3),
            "worst": keys[int(np.argmax(tv))]}


#: Records at the edges of ADNI's enrolment criteria (ADNI procedures manual, ADNI-1/GO/2: cognitively normal MMSE
#: 24-30, CDR 0, Logical Memory II delayed recall >= 5 with 8-15 years of education; MCI MMSE 24-30, CDR 0.5 with a
#: memory box >= 0.5, delayed recall <= 4; mild AD MMSE 20-26, CDR 0.5 or 1, delayed recall <= 4), with CDR-SB in
#: the ranges O'Bryant et al. (Arch Neurol 2008) give for each stage (0; 0.5-4.0; 4.5-9.0). Twelve years of
#: education, so the delayed-recall cut-offs above apply. The synthetic cohort need not follow them: these show
#: where it does not, and where the model then follows it.
CRITERIA_CORNERS: tuple[tuple[str, dict[str, float]], ...] = (
    ("NC", {"mmse": 24, "cdr": 0, "cdr_sb": 0, "logical_memory_delayed": 5}),
    ("NC", {"mmse": 26, "cdr": 0, "cdr_sb": 0, "logical_memory_delayed": 5}),
    ("NC", {"mmse": 30, "cdr": 0, "cdr_sb": 0, "logical_memory_delayed": 5}),
    ("NC", {"mmse": 24, "cdr": 0, "cdr_sb": 0, "logical_memory_delayed": 12}),
    ("MCI", {"mmse": 30, "cdr": 0.5, "cdr_sb": 0.5, "logical_memory_delayed": 4}),
    ("MCI", {"mmse": 24, "cdr": 0.5, "cdr_sb": 2.5, "logical_memory_delayed": 4}),
    ("MCI", {"mmse": 28, "cdr": 0.5, "cdr_sb": 1.5, "logical_memory_delayed": 0}),
    ("MCI", {"mmse": 25, "cdr": 0.5, "cdr_sb": 4.0, "logical_memory_delayed": 2}),
    ("AD", {"mmse": 26, "cdr": 0.5, "cdr_sb": 4.5, "logical_memory_delayed": 4}),
    ("AD", {"mmse": 26, "cdr": 1, "cdr_sb": 5.0, "logical_memory_delayed": 2}),
    ("AD", {"mmse": 20, "cdr": 0.5, "cdr_sb": 4.5, "logical_memory_delayed": 3}),
    ("AD", {"mmse": 20, "cdr": 1, "cdr_sb": 6.0, "logical_memory_delayed": 0}),
)
CORNER_DEMOGRAPHICS = {"age": 73, "sex": "female", "education_years": 12}


def criteria_corners(labels: np.ndarray, scores: np.ndarray, checkpoint: Path | None) -> dict:
    """For each of :data:`CRITERIA_CORNERS`: ADNI's label, the cohort's posterior of its four scores and, with a
    checkpoint, the model's calibrated probabilities for the whole record (the MRI hidden); and how many of the
    corners the cohort's most likely class and the model's call as ADNI does."""
    rows = [{"adni": label, "scores": rec, "cohort": posterior(labels, scores, rec)} for label, rec in CRITERIA_CORNERS]
    if checkpoint is not None:
        from engine.ehr import validate_ehr
        from engine.explain.reliance import hidden_mri
        from engine.predict import Predictor

        import torch

        pred = Predictor(checkpoint, "cpu")
        s = pred.cfg.image_size
        probs = pred.record_probabilities([validate_ehr({**CORNER_DEMOGRAPHICS, **r["scores"]}) for r in rows],
                                          hidden_mri(torch.zeros(s, s, s)).numpy())
        for r, q in zip(rows, probs):
            r["model"] = [round(float(x), 3) for x in q]
    def agrees(key: str) -> int:
        return sum(1 for r in rows if r.get(key) is not None
                   and CLASSES[int(np.argmax(r[key]["p"] if key == "cohort" else r[key]))] == r["adni"])
    return {"demographics": CORNER_DEMOGRAPHICS, "records": rows, "cohort_agrees": agrees("cohort"),
            "cohort_cells": sum(1 for r in rows if r["cohort"] is not None),
            **({"model_agrees": agrees("model")} if checkpoint is not None else {})}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--checkpoint", type=Path, help="also the model's probabilities for each record of one score alone")
    ap.add_argument("--cdr-rule", choices=CDR_RULES, default="cohort",
                    help="how the drawn records' CDR is drawn: the imaged cohort's generator as it is (default), or "
                         "ADNI's enrolment criteria (NC always 0, MCI always 0.5): what such a cohort would teach")
    args = ap.parse_args(argv)
    if not 1_000 <= args.records <= 100_000_000:
        ap.error(f"--records {args.records}: must be from 1000 to 100000000 (too few leave every cell empty)")
    labels, scores = draw(args.records, args.seed, args.cdr_rule)
    sweeps: dict[str, dict] = {}
    for name, ctx in CONTEXTS.items():
        for field, values in SWEEPS.items():
            fixed = {f: v for f, v in ctx.items() if f in SCORE_FIELDS and f != field}
            cells = {str(v): posterior(labels, scores, {**fixed, field: v}) for v in values}
            stages = [c["stage"] for c in cells.values() if c]
            sweeps[f"{name} / {field}"] = {
                "fixed": fixed, "cells": cells,
                "stage_range": round(max(stages) - min(stages), 3) if len(stages) > 1 else None}
    one_score = {f"{f} {v}": {f: v} for f, vs in SWEEPS.items() for v in vs}
    alone = {k: posterior(labels, scores, record) for k, record in one_score.items()}
    out = {"command": "python scripts/generator_posterior.py " + " ".join(argv if argv is not None else sys.argv[1:]),
           "cdr_rule": args.cdr_rule, "records_drawn": args.records,
           "records_with_all_four_scores": int(len(labels)), "seed": args.seed,
           "classes": list(CLASSES), "min_cell": MIN_CELL, "sweeps": sweeps, "one_score_alone": alone}
    out["criteria_corners"] = criteria_corners(labels, scores, args.checkpoint)
    c = out["criteria_corners"]
    print(f"ADNI's criteria corners: the cohort's most likely class is ADNI's on {c['cohort_agrees']} of "
          f"{c['cohort_cells']}" + (f", the model's on {c['model_agrees']} of {len(CRITERIA_CORNERS)}"
                                    if args.checkpoint else ""))
    if args.checkpoint:
        out["model"] = model_one_score_alone(args.checkpoint, alone, one_score)
        m = out["model"]
        print(f"one score alone, model against cohort: mean total variation {m['mean_total_variation']}, "
              f"worst {m['max_total_variation']} ({m['worst']})")
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    for k, v in sweeps.items():
        print(f"{k:45s} stage range {v['stage_range']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
