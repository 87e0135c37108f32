"""``alifuse-bench``: the performance figures of this machine, as text or JSON."""
from __future__ import annotations

import json
import sys

from engine.cli_common import ArgumentParser, prefer_sleeping_threads, run_cli

GROUP_HELP = ("flops: analytic FLOPs per sample (demo, paper); preprocess: a 256^3 NIfTI onto 128^3; "
              "demo: demo-model predict/explain on CPU; paper: paper-model predict on CPU (and predict/explain on "
              "CUDA); train: paper training samples/s and MFU on CUDA; loader: cached data loader samples/s; "
              "viewer: alifuse-gui under $DISPLAY")


def build_parser() -> ArgumentParser:
    from trainer.bench.runner import GROUPS

    p = ArgumentParser(prog="alifuse-bench",
                       description="Measure this machine: latency of prediction and explanation, preprocessing, "
                                   "data loading, the viewer, and (with a CUDA GPU) training throughput and MFU. "
                                   "Medians over repeats; the load average is recorded with every figure.")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.add_argument("--quick", action="store_true",
                   help="one repeat and no slow figures (paper, train, viewer): a smoke test")
    p.add_argument("--only", nargs="+", choices=list(GROUPS), metavar="NAME",
                   help=f"measure only these groups ({', '.join(GROUPS)}). {GROUP_HELP}")
    p.add_argument("--repeats", type=int, help="timed repeats per figure (default: 5; 1 with --quick)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice, one per core); on a "
                                                "loaded machine 1 can be much faster than 2")
    p.add_argument("--train-steps", type=int, default=10, help="optimizer steps per timed training repeat "
                                                                "(default: 10)")
    p.add_argument("--compile", action="store_true", help="torch.compile the model of the train group, as "
                   "alifuse-train --compile does (the untimed warm-up compiles; the JSON details say it was on)")
    p.add_argument("--train-batch", type=int, default=32, help="samples per training step on the GPU, halved "
                                                                "until it fits (default: 32)")
    return p


def main(argv: list[str] | None = None) -> int:
    prefer_sleeping_threads()  # time predictions as alifuse-predict and the viewer run them
    args = build_parser().parse_args(argv)
    return run_cli(lambda: _run(args))


def _run(args) -> int:  # noqa: ANN001
    from engine.errors import AlifuseInputError
    from trainer.bench.report import render
    from trainer.bench.runner import GROUPS, run_groups

    for name, v in (("--repeats", args.repeats), ("--threads", args.threads), ("--train-steps", args.train_steps),
                    ("--train-batch", args.train_batch)):
        if v is not None and v < 1:
            raise AlifuseInputError(f"{name} {v}: must be at least 1")
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    groups = list(dict.fromkeys(args.only)) if args.only else list(GROUPS)
    if args.compile and "train" not in groups:  # otherwise the report would say compile was on for nothing
        raise AlifuseInputError("--compile: only the train group compiles; add train to --only or drop --compile")
    report = run_groups(groups, quick=args.quick, repeats=args.repeats, train_steps=args.train_steps,
                        train_batch=args.train_batch, compile=args.compile)
    print(json.dumps(report, indent=2) if args.json else render(report))
    if report["failed_groups"]:
        print(f"alifuse: error: benchmark group(s) failed: {', '.join(report['failed_groups'])} "
              f"(reasons under 'skipped')", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
