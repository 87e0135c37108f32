"""Command line of the explanation checks: results.json, results.md and PNG figures into --out."""
from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Any

from engine import strict_json
from engine.cli_common import ArgumentParser, prepare_out_dir, resolve_device, run_cli, seed_type
from engine.errors import AlifuseInputError
from engine.explain import METHODS

PROG = "python -m trainer.explain_checks"


def build_parser() -> ArgumentParser:
    p = ArgumentParser(prog=PROG, description="Check a checkpoint's explanations: model-randomisation sanity "
                       "check, deletion faithfulness and localisation of the planted atrophy (synthetic cohort).")
    p.add_argument("--checkpoint", required=True, metavar="FILE", help="an Alifuse .safetensors checkpoint")
    p.add_argument("--data", required=True, metavar="COHORT_DIR", help="a cohort folder (manifest.csv) or a manifest "
                   "CSV; AD cases with a 'mask' column are used for localisation")
    p.add_argument("--split", choices=["test", "val", "train", "all"], default="test",
                   help="cases from this part of the checkpoint's own subject-wise split (its seed and folds), "
                        "or all cases (default: test)")
    p.add_argument("--label", default="AD", metavar="LABEL",
                   help="only cases with this label, or 'all' (default: AD, the cases with planted atrophy)")
    p.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS), metavar="METHOD",
                   help=f"explanation methods (default: all of {', '.join(METHODS)})")
    p.add_argument("--max-cases", type=int, default=15, metavar="N", help="cases for the fast methods (default 15)")
    p.add_argument("--max-cases-slow", type=int, default=4, metavar="N",
                   help="cases for occlusion, the slow method: the first N of the cases above (default 4)")
    p.add_argument("--fraction", type=float, default=0.1, help="share of patches / tokens deleted (default 0.1)")
    p.add_argument("--fill", choices=["zero", "mean"], default="zero",
                   help="value of deleted patches: zero (background after preprocessing, default) or the image mean")
    p.add_argument("--draws", type=int, default=5, help="random deletions averaged per case (default 5)")
    p.add_argument("--ig-steps", type=int, default=16,
                   help="integrated-gradients steps, for integrated_gradients and guided (default 16, as the viewer)")
    p.add_argument("--seed", type=seed_type, default=0,
                   help="seed of the random deletions (default 0); the re-randomised model uses seed + 1000")
    p.add_argument("--cascade", action="store_true",
                   help="also run cascading randomisation (fusion head, then one encoder block more at a time) for "
                        "the fast methods")
    p.add_argument("--out", metavar="DIR", help="write results.json, results.md and the PNG figures here "
                   "(without it the tables are printed only)")
    p.add_argument("--device", default="cpu", help="auto, cpu or cuda[:N] (default cpu)")
    return p


def _check_numbers(args) -> None:  # noqa: ANN001
    for name in ("max_cases", "max_cases_slow", "draws", "ig_steps"):
        v = getattr(args, name)
        floor = 0 if name == "max_cases_slow" else 1
        if v < floor:
            raise AlifuseInputError(f"--{name.replace('_', '-')} {v}: must be >= {floor}")
    if not (math.isfinite(args.fraction) and 0 < args.fraction < 1):
        raise AlifuseInputError(f"--fraction {args.fraction}: must be between 0 and 1 (exclusive)")


def select_records(records: list, info, split: str, label: str) -> list:
    """The checkpoint's own split (same seed, folds) and the wanted label, in table order."""
    from trainer.splits import run_splits

    if split != "all":
        prov = info.provenance
        records = run_splits(records, int(prov.get("seed", 0)), prov.get("folds"), prov.get("fold"))[split]
    if label != "all":
        records = [r for r in records if r.label == label]
    if not records:
        raise AlifuseInputError(f"--split {split} --label {label}: no cases")
    return records


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_cli(lambda: _run(args))


def _run(args) -> int:  # noqa: ANN001
    _check_numbers(args)
    out = prepare_out_dir(args.out) if args.out else None  # now: /proc/x is one line, not a traceback at the end
    from engine.checkpoint import load_checkpoint
    from trainer.data_source import load_records, stderr_warn
    from trainer.explain_checks.figures import bar_figures, case_figure
    from trainer.explain_checks.runner import CheckSettings, run_checks, settings_dict
    from trainer.explain_checks.summary import markdown, summarise

    t0 = time.perf_counter()
    device = resolve_device(args.device)
    model, info = load_checkpoint(args.checkpoint, device)
    records, _ = load_records(args.data, need_images=True, warn=stderr_warn)
    records = select_records(records, info, args.split, args.label)
    settings = CheckSettings(tuple(dict.fromkeys(args.methods)), args.max_cases, args.max_cases_slow, args.fraction,
                             args.fill, args.draws, args.ig_steps, seed=args.seed,
                             exclude_parts=tuple(info.provenance.get("without_ehr", []) or ()), cascade=args.cascade)
    rows, fig_case = run_checks(model, info.class_names, records, settings,
                                log=lambda m: print(m, file=sys.stderr, flush=True))
    summary = summarise(rows, settings.methods)
    head = (f"Checkpoint `{Path(args.checkpoint).name}` (id {info.checkpoint_id}), data `{args.data}`, split "
            f"{args.split}, label {args.label}: {len(rows)} of {len(records)} cases"
            + (f" (occlusion: {min(len(rows), settings.max_cases_slow)})" if "occlusion" in settings.methods else "")
            + f"; deleted {settings.fraction:.0%} filled with "
            f"{settings.fill}, {settings.draws} random draws, IG {settings.ig_steps} steps, seed {settings.seed}.\n\n")
    table = head + markdown(summary, settings.methods)
    results: dict[str, Any] = {
        "checkpoint": str(args.checkpoint), "checkpoint_id": info.checkpoint_id, "trained": info.trained,
        "data": str(args.data), "split": args.split, "split_seed": int(info.provenance.get("seed", 0)),
        "label": args.label, "n_cases_available": len(records), "settings": settings_dict(settings),
        **summary, "cases": rows, "figures": [], "seconds": 0.0,
    }
    if out is not None:
        figs = bar_figures(summary, settings.methods, out)
        if fig_case is not None:
            figs.insert(0, case_figure(fig_case, settings.methods, out / "case_maps.png"))
        results["figures"] = [p.name for p in figs]
        results["seconds"] = round(time.perf_counter() - t0, 1)
        (out / "results.json").write_text(strict_json.dumps(results, indent=2), encoding="utf-8")
        (out / "results.md").write_text(table, encoding="utf-8")
    print(table, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
