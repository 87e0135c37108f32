"""``alifuse-synth``: write a synthetic AD cohort (NIfTI scans, atrophy masks, EHRs and tables)."""
from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path
from typing import NoReturn, Sequence

from engine.errors import AlifuseInputError
from trainer.synth.acquisition import ACQUISITIONS, SIZES
from trainer.synth.cohort import DEFAULT_BALANCE, make_cohort

_PROG = "alifuse-synth"


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are the house's one line: ``alifuse: error: ...``, exit 2."""

    def error(self, message: str) -> NoReturn:
        _fail(message)


def _fail(message: str) -> NoReturn:
    print(f"alifuse: error: {message}", file=sys.stderr)
    raise SystemExit(2)


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
    p = _Parser(
        prog=_PROG,
        description="Write a synthetic Alzheimer's cohort: MNI152 anatomy with planted atrophy that grows with "
                    "a latent severity and age, scanner-like acquisitions, and EHRs that overlap between classes. "
                    "Layout: OUT_DIR/images, masks, ehr, manifest.csv, ADNIMERGE.csv, oasis2.csv, cohort.json "
                    "(see docs/SYNTHETIC_COHORT.md). The same seed gives byte-identical files.",
    )
    p.add_argument("out_dir", metavar="OUT_DIR", type=Path,
                   help="folder to write; created if missing; must be empty or hold an earlier synthetic cohort "
                        "(whose subject files are replaced)")
    p.add_argument("--subjects", metavar="N", type=int, required=True, help="number of subjects, >= 1")
    p.add_argument("--seed", metavar="S", type=int, default=0, help="random seed, >= 0 (default: 0)")
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
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        records = make_cohort(args.out_dir, args.subjects, seed=args.seed, acquisition=args.acquisition,
                              class_balance=args.class_balance, workers=args.workers, size=args.preset_size)
    except AlifuseInputError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"{args.out_dir}: cannot write the cohort ({exc.strerror or exc})")
    counts = Counter(r.label for r in records)
    mix = ", ".join(f"{c} {counts.get(c, 0)}" for c in ("NC", "MCI", "AD"))
    print(f"wrote {len(records)} subjects ({mix}) to {args.out_dir}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
