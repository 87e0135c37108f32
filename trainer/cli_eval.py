"""``alifuse-eval``: ACC/AUC (with CIs), sensitivity/specificity, confusion matrix, ROC curves per data set, and
calibration: ECE, a reliability diagram and, for a calibrated checkpoint, its "uncertain" fraction."""
from __future__ import annotations

import sys
from pathlib import Path

from engine import strict_json
from engine.cli_common import ArgumentParser, prepare_out_dir, resolve_device, run_cli
from engine.errors import AlifuseInputError


def build_parser() -> ArgumentParser:
    p = ArgumentParser(prog="alifuse-eval", description="Evaluate an Alifuse checkpoint. Refuses subjects the model "
                       "was trained on.")
    p.add_argument("--checkpoint", required=True, metavar="FILE", help="an Alifuse .safetensors checkpoint")
    p.add_argument("--data", required=True, action="append", metavar="[NAME=]PATH",
                   help="a cohort folder, a manifest CSV or KIND:TABLE[:IMAGE_ROOT]; repeat for several data sets "
                        "(zero-shot sets included)")
    p.add_argument("--split", choices=["test", "val", "all"], default="all",
                   help="score only this split of the checkpoint's own subject-wise split (same seed), or all cases "
                        "(default: all, for held-out and zero-shot data sets)")
    p.add_argument("--out", metavar="DIR", help="write results.json, results.md, ROC curves and reliability "
                   "diagrams here")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for 95%% CIs (0 = none)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_cli(lambda: _run(args))


def _run(args) -> int:  # noqa: ANN001
    from engine.checkpoint import load_checkpoint
    from trainer.data_source import load_records, stderr_warn
    from trainer.evaluate import evaluate, markdown_table
    from trainer.splits import run_splits

    if args.bootstrap < 0:
        raise AlifuseInputError(f"--bootstrap {args.bootstrap}: must be >= 0")
    device = resolve_device(args.device)
    out = prepare_out_dir(args.out) if args.out else None  # before the model loads: /dev/null/x is one line
    model, info = load_checkpoint(args.checkpoint, device)
    results = []
    for spec in args.data:
        name, _, path = spec.rpartition("=") if "=" in spec else ("", "", spec)
        records, _ = load_records(path, need_images=model.cfg.use_image, warn=stderr_warn)
        if args.split != "all":
            prov = info.provenance
            records = run_splits(records, int(prov.get("seed", 0)), prov.get("folds"), prov.get("fold"))[args.split]
        results.append(evaluate(model, info, records, name or Path(path).name, device, out, args.bootstrap,
                                data_spec=path))
    table = markdown_table(results)
    if out is not None:
        try:
            (out / "results.json").write_text(strict_json.dumps(results, indent=2), encoding="utf-8")
            (out / "results.md").write_text(table, encoding="utf-8")
        except OSError as exc:
            raise AlifuseInputError(f"--out {out}: cannot write the results ({exc.strerror or exc})") from None
    print(strict_json.dumps(results) if args.json else table, end="" if not args.json else "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
