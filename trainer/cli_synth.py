"""``alifuse-synth``: write a synthetic AD cohort (NIfTI scans, atrophy masks, EHRs and tables)."""
from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path
from typing import Sequence

from engine.cli_common import ArgumentParser, prepare_out_dir, run_cli, seed_type
from engine.errors import AlifuseInputError, quote_path
from trainer.synth.acquisition import ACQUISITIONS, SIZES
from trainer.synth.cohort import CLASSES, DEFAULT_BALANCE, FORMAT_VERSION, _check, finished_cohort, make_cohort

_PROG = "alifuse-synth"


#: the most subjects one call writes (each is a few MB and about a second): a typo of 1000000000 is one line
MAX_SUBJECTS = 100_000


def _balance(text: str) -> tuple[float, float, float]:
    try:
        parts = tuple(float(p) for p in text.split(","))
    except ValueError:
        parts = ()
    if len(parts) != 3:
        raise argparse.ArgumentTypeError(
            f"expected three comma-separated weights for NC,MCI,AD such as 0.35,0.4,0.25, got {text!r}")
    return parts  # type: ignore[return-value]


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(
        prog=_PROG,
        description="Write a synthetic Alzheimer's cohort: MNI152 anatomy with planted atrophy that grows with "
                    "a latent severity and age, scanner-like acquisitions, and EHRs that overlap between classes. "
                    "Layout: OUT_DIR/images, masks, ehr, manifest.csv, ADNIMERGE.csv, oasis2.csv, cohort.json "
                    "(see docs/SYNTHETIC_COHORT.md). The same seed gives byte-identical files.",
    )
    p.add_argument("out_dir", metavar="OUT_DIR", type=Path,
                   help="folder to write; created if missing; must be empty or hold an earlier synthetic cohort "
                        "(whose subject files are replaced)")
    p.add_argument("--subjects", metavar="N", type=int, required=True, help=f"number of subjects, 1 to {MAX_SUBJECTS}")
    p.add_argument("--seed", metavar="S", type=seed_type, default=0, help="random seed, 0 to 4294967295 (default: 0)")
    p.add_argument("--class-balance", metavar="NC,MCI,AD", type=_balance, default=DEFAULT_BALANCE,
                   help="relative class weights; counts are exact, e.g. 1,1,1 for equal thirds "
                        f"(default: {','.join(str(b) for b in DEFAULT_BALANCE)})")
    p.add_argument("--acquisition", choices=ACQUISITIONS, default="standard",
                   help="'standard': 1-1.5 mm voxels, RAS/LAS/LPS storage, mild bias and noise; 'shifted': other "
                        "scanners (coarser, thick-slice voxels, sagittal/coronal storage, stronger bias and noise, "
                        "other contrast) for a zero-shot test set (default: standard)")
    p.add_argument("--preset-size", choices=SIZES, default="standard",
                   help="'standard': matrices about 100-160 per side; 'small': voxels twice as large "
                        "(matrices about 50-80) for quick runs and tests (default: standard)")
    p.add_argument("--workers", metavar="W", type=int, default=1,
                   help="processes rendering subjects in parallel; output does not depend on it (default: 1)")
    p.add_argument("--skip-if-done", action="store_true",
                   help="for scripts: do nothing if OUT_DIR holds a finished cohort made with these options (its "
                        "cohort.json says so) by this version of the generator (the subjects' draws, and one "
                        "subject of each class rendered again, agree); one stopped midway, made with other options "
                        "or by other generator code is written again")
    return p


def _same_options(made: dict, args) -> bool:  # noqa: ANN001
    """True when a finished cohort's parameters (cohort.json) are the ones these options would write."""
    balance = made.get("class_balance")
    return (made.get("format_version") == FORMAT_VERSION and made.get("n_subjects") == args.subjects
            and made.get("seed") == args.seed and made.get("acquisition") == args.acquisition
            and made.get("preset_size") == args.preset_size and isinstance(balance, dict)
            and [balance.get(c) for c in CLASSES] == [float(b) for b in args.class_balance])


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_cli(lambda: _run(args))


def _run(args) -> int:  # noqa: ANN001
    if not 1 <= args.subjects <= MAX_SUBJECTS:
        raise AlifuseInputError(f"--subjects {args.subjects}: must be from 1 to {MAX_SUBJECTS:,} (one call writes "
                                f"at most {MAX_SUBJECTS:,} subjects)")
    if args.workers < 1:
        raise AlifuseInputError(f"--workers {args.workers}: must be a whole number >= 1")
    _check(args.subjects, args.seed, args.class_balance)  # every option checked before the folder is made
    out = prepare_out_dir(args.out_dir, "OUT_DIR")  # /dev/null/x or a read-only folder: one line, before any work
    if args.skip_if_done:
        made = finished_cohort(out)
        if made is not None and _same_options(made, args):
            from trainer.synth.same_code import generator_differs

            why = generator_differs(out, args.subjects, args.seed, args.acquisition, args.class_balance,
                                    args.preset_size)
            if why is None:
                print(f"{args.out_dir} holds this cohort already (cohort.json): nothing to do")
                return 0
            # other code, or another processor's arithmetic (numpy's paths differ: docs/RESULTS.md), made it
            print(f"{args.out_dir} holds this cohort as other generator code or another processor made it ({why}): "
                  f"writing it again")
    try:
        records = make_cohort(out, args.subjects, seed=args.seed, acquisition=args.acquisition,
                              class_balance=args.class_balance, workers=args.workers, size=args.preset_size)
    except OSError as exc:
        raise AlifuseInputError(f"OUT_DIR {quote_path(out)}: cannot write the cohort "
                                f"({exc.strerror or type(exc).__name__})") from None
    counts = Counter(r.label for r in records)
    mix = ", ".join(f"{c} {counts.get(c, 0)}" for c in ("NC", "MCI", "AD"))
    print(f"wrote {len(records)} subjects ({mix}) to {args.out_dir}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
