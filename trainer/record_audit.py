"""Does the model read each score the right way beside records no test wrote? A monotonicity audit on random records.

    python -m trainer.record_audit [--checkpoint CKPT] [--data MANIFEST] [--contexts 100] [--seed 0] [--out F.json]

tests/model/ checks the shipped model beside four hand-written records. Here each score is swept beside
``--contexts`` records no test wrote: with ``--data``, records of that cohort (a held-out one: records as a clinic
has them, with their missing fields), drawn at random; without it, records drawn at random (age 55-90, sex;
education and every score present with probability 0.6, each value uniform over its scale, consistent or not: a
worse score must never make any record look healthier). Each score is
swept over its whole scale beside it (MMSE 30 -> 0, CDR 0 -> 3, CDR-SB 0 -> 18 in steps of 0.5, delayed recall
25 -> 0), with the bundled demo scan and with the MRI hidden. For each score and scan it reports:
- ``violating``: the share of records beside which one step of the sweep lowers the expected stage
  E = P(MCI) + 2 P(AD) by more than ``--tolerance`` (tests/model's 0.05), with a Wilson 95 % interval, and the
  worst such step;
- ``movement``: how far the stage moves across the whole scale (median and 10th percentile); beside a record
  whose other scores are already demented it cannot move far, so this is a distribution, not a pass mark.
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from engine.ehr import FIELD_SPECS, validate_ehr
from engine.errors import AlifuseInputError
from engine.predict import Predictor
from engine.resources import DEMO_IMAGE
from trainer.monotone import SCORES, STAGE_WEIGHTS as _WEIGHTS, scale_values
from trainer.records import read_manifest

#: score -> its values from healthiest to most impaired (MMSE 30 -> 0, CDR 0 -> 3, CDR-SB 0 -> 18, recall 25 -> 0)
SCALES: dict[str, list[float]] = {f: scale_values(f)[::1 if worse_up else -1]
                                  for f, (_, _, _, worse_up) in SCORES.items()}
#: expected stage E = P(MCI) + 2 P(AD) as weights for a (N, 3) probability array (trainer.monotone states them)
STAGE_WEIGHTS = np.array(_WEIGHTS)


def random_context(rng: np.random.Generator, present: float = 0.6) -> dict[str, Any]:
    """One record: age and sex always; education and each score with probability ``present``, uniform values."""
    ctx: dict[str, Any] = {"age": int(rng.integers(55, 91)), "sex": str(rng.choice(["female", "male"]))}
    if rng.random() < present:
        ctx["education_years"] = int(rng.integers(8, 21))
    for field, scale in SCALES.items():
        if rng.random() < present:
            ctx[field] = scale[int(rng.integers(len(scale)))]
    return ctx


def cohort_contexts(manifest: Path, n: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    """``n`` records of the cohort ``manifest`` drawn without replacement (all if it has fewer), as validated EHRs."""
    records = read_manifest(manifest, check_images=False).records
    pick = rng.permutation(len(records))[:n]
    return [validate_ehr({k: v for k, v in records[i].ehr.items() if k in FIELD_SPECS}) for i in pick]


def sweep(context: dict[str, Any], field: str) -> list[dict[str, Any]]:
    """The context with ``field`` at each value of its scale, healthiest first (validated records)."""
    return [validate_ehr({**context, field: v}) for v in SCALES[field]]


def wilson(k: int, n: int, z: float = 1.96) -> list[float]:
    """95 % Wilson score interval of a proportion k / n."""
    if n == 0:
        return [0.0, 1.0]
    p, d = k / n, 1 + z * z / n
    centre, half = (p + z * z / (2 * n)) / d, z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return [max(0.0, centre - half), min(1.0, centre + half)]


def audit(predictor: Predictor, scan: np.ndarray, contexts: list[dict[str, Any]],
          tolerance: float = 0.05) -> dict[str, dict[str, Any]]:
    """field -> the audit of that score beside every context, with one scan (S, S, S); zeros = hidden."""
    out = {}
    for field, scale in SCALES.items():
        records = [r for c in contexts for r in sweep(c, field)]
        stages = (predictor.record_probabilities(records, scan) @ STAGE_WEIGHTS).reshape(len(contexts), len(scale))
        drops = stages[:, :-1] - stages[:, 1:]            # (contexts, steps): > 0 where a worse value looks healthier
        bad = drops.max(1) > tolerance
        worst_c, worst_s = np.unravel_index(int(np.argmax(drops)), drops.shape)
        move = stages[:, -1] - stages[:, 0]
        out[field] = {
            "violating": {"share": float(bad.mean()), "ci95": wilson(int(bad.sum()), len(contexts)),
                          "n": int(bad.sum())},
            "worst_step": {"drop": round(float(drops[worst_c, worst_s]), 4),
                           "from": scale[worst_s], "to": scale[worst_s + 1], "context": contexts[worst_c]},
            "movement": {"median": round(float(np.median(move)), 4),
                         "p10": round(float(np.percentile(move, 10)), 4)},
        }
        whole = [i for i, v in enumerate(scale) if float(v).is_integer()]
        if len(whole) < len(scale):  # CDR-SB (and CDR): the same records stepped by whole points only
            w_drops = stages[:, whole[:-1]] - stages[:, whole[1:]]
            w_bad = w_drops.max(1) > tolerance
            out[field]["whole_points"] = {
                "violating": {"share": float(w_bad.mean()), "ci95": wilson(int(w_bad.sum()), len(contexts)),
                              "n": int(w_bad.sum())},
                "worst_drop": round(float(w_drops.max()), 4)}
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--checkpoint", type=Path, help="model to audit (default: the shipped demo checkpoint)")
    p.add_argument("--data", type=Path, help="manifest of a (held-out) cohort whose records the scores are swept beside")
    p.add_argument("--contexts", type=int, default=100, help="records to sweep each score beside")
    p.add_argument("--seed", type=int, default=0, help="draws the random records")
    p.add_argument("--tolerance", type=float, default=0.05, help="largest fall of the stage one step may make")
    p.add_argument("--out", type=Path, help="write the audit here as JSON (default: print it)")
    a = p.parse_args(argv)
    if a.contexts < 1:
        p.error(f"--contexts {a.contexts}: must be at least 1")
    if not 0 <= a.tolerance < 2:
        p.error(f"--tolerance {a.tolerance}: must be in [0, 2)")
    if a.checkpoint is not None and not a.checkpoint.is_file():
        p.error(f"--checkpoint {a.checkpoint}: no such file")
    if a.out is not None and not a.out.parent.is_dir():
        p.error(f"--out {a.out}: its folder does not exist")
    rng = np.random.default_rng(a.seed)
    try:
        contexts = (cohort_contexts(a.data, a.contexts, rng) if a.data
                    else [random_context(rng) for _ in range(a.contexts)])
    except (AlifuseInputError, OSError) as exc:
        p.error(f"--data {a.data}: {exc}")
    try:
        predictor = Predictor(a.checkpoint, "cpu")
        scan = predictor.prepare(DEMO_IMAGE, {}).image
    except AlifuseInputError as exc:
        p.error(f"--checkpoint {a.checkpoint}: {exc}")
    result = {"checkpoint_id": predictor.info.checkpoint_id, "contexts_from": str(a.data or "random"),
              "contexts": len(contexts), "seed": a.seed,
              "tolerance": a.tolerance, "fields": {f: FIELD_SPECS[f].label for f in SCALES},
              "demo_scan": audit(predictor, scan, contexts, a.tolerance),
              "mri_hidden": audit(predictor, np.zeros_like(scan), contexts, a.tolerance)}
    text = json.dumps(result, indent=2) + "\n"
    if a.out is None:
        print(text, end="")
    else:
        a.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
