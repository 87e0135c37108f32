"""``python -m trainer.score_path_refit --checkpoint IN --data PATH --out OUT``: fit a trained model's score path
(engine.score_path) again, on its training cases with random subsets of their scores; nothing else changes.

A path fitted on records as recorded (three or four of the four scores nearly always known) never learns how sure
one score alone may make it: its prior weight is not asked for, and "MMSE 26" alone then reads as surely as four
scores that agree (MCI 86 % on step 10's model where the synthetic cohort's own posterior is MCI 66 %, AD 30 %;
scripts/generator_posterior.py). Here every training case also appears ``--copies`` times with each known score kept
with probability ``--keep``, and the path is fitted (trainer.score_path_fit) on top of the rest of the model's
logits, which do not change. Copies resting on the record read bare (``--bare-copies``: no summary, the MRI hidden)
teach what the scores say alone, not only what they add beside the scan and the summary; ``--smooth`` keeps each
score's reading from rising in steps (docs/RESULTS.md: with both, one score alone reads closer to the cohort's
posterior, at a lower validation loss than without the smoothing); ``--min-rise`` puts a floor under each score's own
term, so that a score the others decide in this cohort (delayed recall beside CDR 0.5) still moves the stage. The
training cases are the run's own: its split and its record-only cases, rebuilt from the checkpoint's provenance and
refused if they are not the subjects it trained on. The written checkpoint is uncalibrated (alifuse-calibrate follows);
its provenance says what was done, and OUT.json beside it records the command, start and seconds too
(scripts/demo_run_record.py).
"""
from __future__ import annotations

import dataclasses
import json
import math
import sys
import time
from pathlib import Path

from engine.cli_common import ArgumentParser, resolve_device, run_cli
from engine.errors import AlifuseInputError

DEFAULT_COPIES, DEFAULT_KEEP = 4, 0.5


def build_parser() -> ArgumentParser:
    p = ArgumentParser(prog="python -m trainer.score_path_refit",
                       description="Fit a trained checkpoint's score path again on its training cases, with random "
                                   "subsets of their scores, on top of the rest of the model (which is not changed).")
    p.add_argument("--checkpoint", required=True, metavar="FILE", help="a trained checkpoint that reads the scores "
                   "as numbers (config score_knots > 0)")
    p.add_argument("--data", required=True, metavar="PATH", help="the data it was trained on; its training split is "
                   "rebuilt from the seed in the checkpoint's provenance")
    p.add_argument("--out", required=True, metavar="FILE", help="where to write the refitted checkpoint")
    p.add_argument("--copies", type=int, default=DEFAULT_COPIES, metavar="K",
                   help=f"copies of each case with some scores hidden (default: {DEFAULT_COPIES})")
    p.add_argument("--keep", type=float, default=DEFAULT_KEEP, metavar="P",
                   help=f"probability that a copy keeps each known score (default: {DEFAULT_KEEP})")
    p.add_argument("--bare-copies", type=int, default=0, metavar="K",
                   help="how many of the copies rest on the record read bare, without its summary and with the MRI "
                        "hidden: the path then also learns what its scores say alone (default: 0)")
    p.add_argument("--smooth", type=float, default=0.0, metavar="L",
                   help="weight of a penalty on neighbouring pieces' rises that differ, beside the cross-entropy: "
                        "each score's reading then rises smoothly across its scale instead of in steps (default: 0)")
    p.add_argument("--min-rise", type=float, default=0.0, metavar="M",
                   help="with --own-terms: each score's own term rises by at least M log-odds (before calibration) "
                        "per threshold across its scale, so that every score moves the stage beside any others, "
                        "however firmly they decide the training cases (default: 0)")
    p.add_argument("--own-terms", action="store_true",
                   help="also give each score a term of its own beside the mean (config score_sum = 1); a checkpoint "
                        "without them gets them, starting flat")
    p.add_argument("--skip-if-done", action="store_true",
                   help="do nothing if OUT was written by this same command from this same checkpoint (its OUT.json "
                        "says so); a recipe run again after its options changed refits instead of keeping the old one")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda[:N] (default: auto)")
    p.add_argument("--cache", metavar="DIR", help="preprocessed-image cache (default: ~/.cache/alifuse/preprocessed)")
    return p


def with_own_terms(model, device):  # noqa: ANN001, ANN201
    """The same model with config.score_sum = 1: its score path grown by each score's own term, nearly flat; every
    other weight is the model's own (only the path is rebuilt)."""
    from engine.score_path import ScorePath

    cfg = dataclasses.replace(model.cfg, score_sum=1)
    cfg.validate()
    grown = ScorePath(cfg.num_classes, cfg.score_knots, own_terms=True)
    missing, unexpected = grown.load_state_dict(model.score_path.state_dict(), strict=False)
    assert not unexpected and set(missing) == {"raw_own_rise", "own_offset"}, (missing, unexpected)
    model.score_path, model.cfg = grown.to(device), cfg
    return model


def _command(argv: list[str]) -> str:
    """The command OUT.json records (and --skip-if-done compares): argv without --skip-if-done itself."""
    from trainer.run_files import recorded_command

    return recorded_command(["python", "-m", "trainer.score_path_refit"], argv)


def already_done(src: Path, out: Path, argv: list[str]) -> bool:
    """True when ``out`` exists and its sidecar OUT.json records this command (``--skip-if-done`` aside) run on the
    checkpoint ``src`` holds now (its id): the refit is deterministic, so it would write the same file again."""
    from engine.checkpoint_info import read_info
    from trainer.run_files import sidecar_records

    if not src.is_file():
        return False
    try:
        src_id = read_info(src).checkpoint_id
    except AlifuseInputError:
        return False
    return sidecar_records(out, command=_command(argv), **{"from": src_id})


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    return run_cli(lambda: _run(args, argv))


def _run(args, argv: list[str]) -> int:  # noqa: ANN001
    import torch
    import torch.nn.functional as F

    from engine.checkpoint import load_checkpoint, save_checkpoint
    from trainer.cache import PreprocessCache
    from trainer.data_source import load_records, stderr_warn
    from trainer.dataset import CaseDataset
    from trainer.missing_scores import read_bare
    from trainer.run_files import is_training_split, trained_cases
    from trainer.score_path_fit import base_logits, fit_score_path, with_score_subsets
    from trainer.splits import run_splits

    if not 0 <= args.copies <= 32:
        raise AlifuseInputError(f"--copies {args.copies}: must be from 0 to 32")
    if not 0 < args.keep < 1:
        raise AlifuseInputError(f"--keep {args.keep}: must be above 0 and below 1")
    if not 0 <= args.bare_copies <= args.copies:
        raise AlifuseInputError(f"--bare-copies {args.bare_copies}: must be from 0 to --copies ({args.copies})")
    if not (math.isfinite(args.smooth) and 0 <= args.smooth <= 1):
        raise AlifuseInputError(f"--smooth {args.smooth}: must be from 0 to 1")
    if not (math.isfinite(args.min_rise) and 0 <= args.min_rise <= 20):
        raise AlifuseInputError(f"--min-rise {args.min_rise}: must be from 0 to 20")
    src, out = Path(args.checkpoint), Path(args.out)
    if out.suffix != ".safetensors" or out.is_dir():
        raise AlifuseInputError(f"--out {out}: must be a file ending in .safetensors")
    if out.resolve() == src.resolve():
        raise AlifuseInputError(f"--out {out}: is the --checkpoint itself; write the refitted model beside it")
    if args.skip_if_done and already_done(src, out, argv):
        print(f"{out} was written by this command from this checkpoint already: nothing to do")
        return 0
    started, t0 = time.strftime("%Y-%m-%dT%H:%M:%S%z"), time.time()
    device = resolve_device(args.device)
    model, info = load_checkpoint(src, device, calibrated=False)
    if model.score_path is None:
        raise AlifuseInputError(f"--checkpoint {src}: reads the scores as text (score_knots 0): it has no score path")
    if args.own_terms and not model.cfg.score_sum:
        model = with_own_terms(model, device)
    if args.min_rise and not model.cfg.score_sum:
        raise AlifuseInputError(f"--min-rise {args.min_rise}: needs each score's own term; add --own-terms")
    prov = info.provenance
    records, _ = load_records(args.data, need_images=model.cfg.use_image, warn=stderr_warn)
    seed = int(prov.get("seed", 0))
    train = trained_cases(run_splits(records, seed, prov.get("folds"), prov.get("fold"))["train"], prov,
                          info.class_names)
    if not is_training_split(train, prov):
        raise AlifuseInputError(f"--data {args.data}: its training split is not the subjects the checkpoint trained "
                                f"on: not the data (or seed) it was trained with")
    ds = CaseDataset(train, model.cfg, info.class_names, PreprocessCache(Path(args.cache) if args.cache else None),
                     tuple(prov.get("without_ehr") or ()))
    base = base_logits(model, ds, device)
    scores, labels = torch.stack([t.scores for t in ds.texts]), torch.tensor(ds.labels)
    s, y, b = with_score_subsets(scores, labels, base, args.copies - args.bare_copies, args.keep, seed)
    if args.bare_copies:
        # the copies hide scores only: beside the scan and the summary the path learns what a score adds to them,
        # never what it says alone; these rest on the record without its summary and the MRI hidden
        ds_bare = CaseDataset([read_bare(r) for r in train], model.cfg, info.class_names, ds.cache, ds.exclude_parts)
        extra = with_score_subsets(scores, labels, base_logits(model, ds_bare, device), args.bare_copies,
                                   args.keep, seed + 1)
        n = len(labels)  # the cases as recorded are in s already
        s, y, b = (torch.cat([a, e[n:]]) for a, e in zip((s, y, b), extra))
    with torch.no_grad():
        before = float(F.cross_entropy(b.to(device) + model.score_path(s.to(device)), y.to(device)))
    after = fit_score_path(model.score_path, s, y, b, smooth=args.smooth, min_rise=args.min_rise)
    refit = {"from": info.checkpoint_id, "cases": len(ds), "copies": args.copies, "keep": args.keep,
             "bare_copies": args.bare_copies, "smooth": args.smooth, "min_rise": args.min_rise,
             "own_terms": bool(model.cfg.score_sum),
             "cross_entropy_before": round(before, 4), "cross_entropy": round(after, 4),
             "on_top_of": "the image and the text"}
    try:
        save_checkpoint(model, out, info.class_names, {**prov, "score_path_refit": refit})
        out.with_name(out.name + ".json").write_text(json.dumps(
            {"command": _command(argv), "started": started,
             "seconds": round(time.time() - t0, 2), **refit}, indent=1) + "\n")
    except OSError as exc:
        raise AlifuseInputError(f"--out {out}: cannot write ({exc.strerror or exc})") from None
    print(f"Score path refitted on {len(ds)} training cases and {args.copies} copies of each with scores hidden "
          f"(kept with p = {args.keep}): cross-entropy {before:.4f} -> {after:.4f}\nWrote {out} (uncalibrated: "
          f"alifuse-calibrate --checkpoint {out} --data {args.data} calibrates it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
