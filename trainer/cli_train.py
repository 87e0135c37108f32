"""``alifuse-train``: full Alifuse training on a cohort; runs under ``torchrun`` for several GPUs."""
from __future__ import annotations

import json
import shlex
import sys
import time
from pathlib import Path

from engine import run_format as rf
from engine.cli_common import ArgumentParser, prepare_out_dir, resolve_device, run_cli, seed_type
from engine.config import PRESETS, AlifuseConfig, parse_field, preset
from engine.errors import AlifuseInputError, quote, quote_path
from engine.training_ranges import PROVENANCE_KEY, record_ranges

LOSS_SETS = {"cls": (0.0, 0.0, 1.0), "cls+cl": (1.0, 0.0, 1.0), "cls+cl+res": (1.0, 1.0, 1.0)}
MODALITIES = {"both": ("image", "text"), "image": ("image",), "text": ("text",)}


def build_parser() -> ArgumentParser:
    p = ArgumentParser(prog="alifuse-train", description="Train Alifuse (ITC + cross-modal masked reconstruction "
                       f"+ classification). Writes checkpoints every epoch, the best by validation AUC, {rf.METRICS}.")
    p.add_argument("--data", required=True, metavar="PATH",
                   help="a cohort folder with manifest.csv, a manifest CSV, or KIND:TABLE[:IMAGE_ROOT] with KIND one "
                        "of adni, nacc, oasis2, aibl, miriad")
    p.add_argument("--preset", choices=sorted(PRESETS), default=rf.PRESET_DEMO,
                   help=f"model size (default: {rf.PRESET_DEMO})")
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="run folder for checkpoints and metrics")
    p.add_argument("--resume", action="store_true", help="continue the run in RUN_DIR from its last checkpoint; "
                   "every option that decides what it learns must be the run's own")
    p.add_argument("--skip-if-done", action="store_true",
                   help="for scripts: a run in RUN_DIR that finished with these options is kept (nothing is done), "
                        "one that did not finish is resumed, one with other options is refused; an empty RUN_DIR "
                        "starts a new run")
    p.add_argument("--epochs", type=int, default=10, help="epochs (default: 10)")
    p.add_argument("--batch-size", type=int, default=8, help="cases per step and process (default: 8)")
    p.add_argument("--lr", type=float, help="peak learning rate (default: 2e-5 paper, 3e-4 demo, 1e-3 tiny)")
    p.add_argument("--seed", type=seed_type, default=0, help="seed of split, initialisation, order and masks (default: 0)")
    p.add_argument("--draw-seed", type=seed_type,
                   help="another draw of the same training: seed of initialisation, order, masks and dropout, the "
                        "split and the records without a scan staying --seed's, so two draws learn from the same "
                        "cases and are judged on the same validation subjects (default: --seed)")
    p.add_argument("--folds", type=int, help="subject-wise cross-validation with this many folds (default: a 70/10/20 "
                   "split)")
    p.add_argument("--fold", type=int, help="with --folds: the fold (0-based) held out as the test set")
    p.add_argument("--device", default=rf.DEVICE_AUTO, help="auto, cpu or cuda[:N] (default: auto)")
    p.add_argument("--loss", choices=sorted(LOSS_SETS), default="cls+cl+res",
                   help="loss terms (paper ablation): cls, cls+cl, or cls+cl+res (default, the full objective)")
    p.add_argument("--modalities", choices=sorted(MODALITIES), default="both", help="image, text, or both (default)")
    p.add_argument("--without-ehr", action="append", default=[], choices=["summary", "lab_results", "demographics"],
                   help="leave this part of the record out of the text (repeatable; paper ablation)")
    p.add_argument("--text-weights", metavar="DIR", help="local Hugging Face BERT folder for the paper preset")
    p.add_argument("--cache", metavar="DIR", help="preprocessed-image cache (default: ~/.cache/alifuse/preprocessed)")
    p.add_argument("--workers", type=int, default=0, help="data-loader worker processes (default: 0)")
    p.add_argument("--progress-json", action="store_true", help="print progress as one JSON object per line")
    p.add_argument("--patch-stem", choices=["linear", "conv", "cnn"],
                   help="how the image is cut into tokens: the paper's linear patch projection, stride-2 "
                        "convolutions first (conv), or small-CNN stages first (cnn) (default: the preset's, linear)")
    p.add_argument("--image-pool", choices=["cls", "mean"],
                   help="the image feature the heads read: the [CLS] token (paper) or the mean of the patch tokens "
                        "(default: the preset's, cls)")
    p.add_argument("--compile", action="store_true",
                   help="torch.compile the training step (needs a C++ compiler on CPU, Triton on CUDA; the first "
                        "steps are slow while it compiles). Checkpoints are the same plain files")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="override a field of the preset's config (engine/config.py), e.g. --set image_size=32 "
                        "--set patch_size=4 (repeatable)")
    p.add_argument("--augment-records", action="store_true",
                   help="missing data as training input: each epoch drops each field (--field-drop, 30%%), the whole record "
                        "(10%%) or the MRI (10%%) at random (trainer/augment.py)")
    p.add_argument("--field-drop", type=float, default=0.3, metavar="P",
                   help="with --augment-records: the probability that each field is left out (default 0.3)")
    p.add_argument("--record-drop", type=float, default=0.06, metavar="P",
                   help="with --augment-records: the probability that the whole record is left out, so that the MRI "
                        "alone must decide (default 0.06)")
    p.add_argument("--summary-foreign", type=float, default=0.0, metavar="P",
                   help="with --augment-records: the probability that a record's summary is replaced by sentences "
                        "the generator never writes that say nothing of the stage (trainer/foreign_summary.py), "
                        "so that unfamiliar text carries no class (default 0)")
    p.add_argument("--summary-denial", type=float, default=0.0, metavar="P",
                   help="with --augment-records: the probability that a record's summary is given one sentence in "
                        "which the patient denies trouble with memory, whatever the case's class "
                        "(trainer/foreign_summary.py), so that such a denial carries no class (default 0)")
    p.add_argument("--augment-images", action="store_true",
                   help="flip the MRI left-right (50%%) and shift it by up to 2 voxels at random each epoch")
    p.add_argument("--augment-scanners", action="store_true",
                   help="give each MRI another scanner's look at random each epoch: contrast curve, intensity window, "
                        "bias field, noise, thick slices, head tilt (trainer/scanner_augment.py); not with "
                        "--augment-images")
    p.add_argument("--monotone", type=float, default=0.0, metavar="W",
                   help="weight of a penalty on predictions that look healthier when one score is made worse "
                        "(trainer/monotone.py; default 0 = off)")
    p.add_argument("--monotone-margin", type=float, default=0.0, metavar="M",
                   help="with --monotone: also ask each score to move the log-odds of impairment and of dementia by "
                        "at least M across its whole range, in proportion to how far it moved (default 0 = direction "
                        "only)")
    p.add_argument("--monotone-ends", type=float, default=0.0, metavar="P",
                   help="with --monotone: move the score of a record's copy to an end of its scale (MMSE 0 or 30, "
                        "delayed recall 0 or 25, ...) with probability P, else to any other value (default 0)")
    p.add_argument("--monotone-anywhere", type=float, default=0.0, metavar="P",
                   help="with --monotone: with probability P a pair compares two nearby values of one score anywhere "
                        "on its scale (MMSE 5 and 3 beside a healthy record), not the record and a copy of it "
                        "(default 0)")
    p.add_argument("--monotone-reach", type=int, default=3, metavar="N",
                   help="with --monotone-anywhere: the two values of a pair lie up to N steps of the scale apart "
                        "(CDR-SB steps are 0.5; 1 = always next to each other; default 3)")
    p.add_argument("--monotone-pair-ends", type=float, default=0.0, metavar="P",
                   help="with --monotone-anywhere: with probability P a pair starts at an end of its scale (MMSE 0 "
                        "and 1, 30 and 29; delayed recall 0 and 1, ...) instead of anywhere on it (default 0)")
    p.add_argument("--mri-margin", type=float, default=0.0, metavar="M",
                   help="ask the scan of each NC and AD training case to move its log-odds of impairment (NC) or "
                        "dementia (AD) the right way by at least M against the same record with the MRI hidden "
                        "(trainer/mri_weight.py; default 0 = off)")
    p.add_argument("--mri-margin-fixed", action="store_true",
                   help="with --mri-margin: hold the prediction with the MRI hidden fixed (no gradient), so that the "
                        "margin is met by moving the prediction with the scan (the record's and the fusion's weights "
                        "still learn through it), not the one without it, the probe that measures how much the MRI "
                        "weighs")
    p.add_argument("--record-only", type=int, default=0, metavar="N",
                   help="add N synthetic records without a scan to the training split (their MRI reads as hidden), "
                        "drawn by the synthetic cohort's record generator with --seed (default 0)")
    p.add_argument("--init-from", metavar="CKPT",
                   help="start the parts named by --init-parts from this checkpoint (e.g. an image-only run)")
    p.add_argument("--init-parts", default="image_encoder", metavar="PART[,PART]",
                   help="top-level modules --init-from copies (default: image_encoder)")
    p.add_argument("--freeze", action="append", default=[], metavar="PART",
                   help="keep this part of the model as it starts (e.g. image_encoder after --init-from, or "
                        "image_encoder.patch_embed: a pre-trained stem; repeatable)")
    return p


def _resumed_config(path: Path, built: AlifuseConfig, warn) -> AlifuseConfig:  # noqa: ANN001
    """The run's own config: its weights were trained with it. A preset that has changed since the run started
    (e.g. the image scaling added later) must not change what a resumed run reads; say which fields differ."""
    try:
        saved = AlifuseConfig.from_json(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise AlifuseInputError(f"--resume: cannot read {path} ({exc})") from None
    kept = saved.to_dict()
    differ = sorted(k for k, v in built.to_dict().items() if kept.get(k) != v)
    if differ:
        warn(f"--resume: continuing with the run's own config ({path}); these fields differ from what the "
             f"command would build now: {', '.join(differ)}")
    return saved


def _resolved(spec: str) -> str:
    """The ``--data`` argument with its path made absolute (KIND:TABLE[:ROOT] as given when it is not a path)."""
    p = Path(spec)
    return str(p.resolve()) if p.exists() else spec


#: options that say where a run is written and how fast it goes, not what it learns: a resume may change them
_NOT_COMPARED = frozenset({"data", "out", "resume", "skip_if_done", "device", "workers", "progress_json", "compile",
                           "cache"})
_PATH_OPTIONS = ("init_from", "text_weights")


#: what the files behind --data and --init-from hold (None where they cannot be read now): the same path may hold
#: another table or checkpoint than the run began with (a recipe that made its cohort or its stem again)
_CONTENT_KEYS = ("data_sha256", "init_from_id")


def _table_sha256(spec: str) -> str | None:
    """SHA-256 (16 hex digits) of the table ``--data`` reads (trainer.subject_ids.table_path), or None."""
    from trainer.cache import content_hash
    from trainer.subject_ids import table_path

    try:
        return content_hash(table_path(spec))[:16]
    except (OSError, AlifuseInputError):
        return None


def _checkpoint_id(path: str | None) -> str | None:
    """The content id of the checkpoint at ``path`` (engine.checkpoint_info), None where there is none to read."""
    if not path or not Path(path).is_file():
        return None
    from engine.checkpoint_info import read_info

    try:
        return read_info(path).checkpoint_id or None
    except AlifuseInputError:
        return None


def training_options(args) -> dict:  # noqa: ANN001
    """Every option that decides what the run learns, by its argparse name (paths made absolute), and what the
    files behind --data and --init-from hold: run.json keeps them, and ``--resume`` refuses a command that differs
    in any of them (the schedule, the data a step sees and the losses would mix two trainings)."""
    opts = {k: v for k, v in vars(args).items() if k not in _NOT_COMPARED}
    for k in _PATH_OPTIONS:
        if opts.get(k):
            opts[k] = str(Path(opts[k]).resolve())
    opts["data_sha256"] = _table_sha256(str(args.data))
    opts["init_from_id"] = _checkpoint_id(args.init_from)
    return opts


def _shown(value) -> str:  # noqa: ANN001
    if isinstance(value, bool):
        return "on" if value else "off"
    if value is None or value == []:
        return "not given"
    return quote(", ".join(map(str, value)) if isinstance(value, list) else str(value), 60)


def _read_run_info(run_json: Path, why: str) -> dict | None:
    """run.json of a run folder, None where there is none (an older folder, or one killed before it)."""
    if not run_json.is_file():
        return None
    from engine.safe_files import read_regular

    try:
        saved = json.loads(read_regular(run_json, 16 << 20, rf.RUN_INFO).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise AlifuseInputError(f"{why}: {quote_path(run_json)} is not valid JSON; it cannot say which run this "
                                f"is") from None
    if not isinstance(saved, dict):
        raise AlifuseInputError(f"{why}: {quote_path(run_json)} does not hold a JSON object")
    return saved


def _check_same_run(run_json: Path, args, options: dict, why: str = "--resume") -> dict | None:  # noqa: ANN001
    """``--resume`` continues the run in the folder: the same data and every option that decides what it learns
    (seed and folds, or the checkpoint would list only the last split's subjects; epochs, which set the learning
    rate's schedule; losses, augmentation, ...), or it would mix two trainings. Names every option that differs.
    ``options``: :func:`training_options` of ``args``. Folders written before run.json kept the options are
    compared on data, seed and folds. Returns run.json."""
    from trainer.data_source import stderr_warn

    saved = _read_run_info(run_json, why)
    if saved is None:
        return None
    differ, stretched = [], ""
    data_then = saved.get("data_resolved") or saved.get("data")
    if data_then is not None and str(data_then) not in (str(args.data), _resolved(args.data)):
        differ.append(f"--data {quote(str(args.data), 60)} (the run's: {quote(str(data_then), 60)})")
    then = saved.get("options")
    if isinstance(then, dict):
        parser = build_parser()
        for key, now in options.items():
            was = then.get(key, None if key in _CONTENT_KEYS else parser.get_default(key))  # added since: default
            if key == "draw_seed" and was is not None and was == then.get("seed"):
                was = None  # the plain run's own draw, recorded as an option before main() dropped it
            if was == now:
                continue
            if key in _CONTENT_KEYS:  # unknown on either side (a file gone since): the path above is compared
                if was is not None and now is not None:
                    differ.append(f"--data {quote(str(args.data), 60)}: its table has changed since the run began"
                                  if key == "data_sha256" else
                                  f"--init-from {quote(str(args.init_from), 60)}: another checkpoint than the run "
                                  f"began from (id {now}; the run's: {was})")
            elif key == "epochs":  # training longer (or ending sooner) is a use of resume, but not an exact one
                stretched = (f"{why}: --epochs {now} (the run's: {was}): the learning rate's schedule is stretched "
                             f"to the new length from here on, so the run is not the one --epochs {now} from the "
                             f"start would give")
            else:
                differ.append(f"--{key.replace('_', '-')} {_shown(now)} (the run's: {_shown(was)})")
    else:
        for opt, key in (("--seed", "seed"), ("--folds", "folds"), ("--fold", "fold")):
            if key in saved and saved[key] != getattr(args, key):
                differ.append(f"{opt} {getattr(args, key)} (the run's: {quote(saved[key], 24)})")
    if differ:
        raise AlifuseInputError(f"{why}: {quote_path(run_json.parent)} was trained with other options: "
                                f"{'; '.join(differ)}; resume with the run's own, or start a new --out")
    if stretched:
        stderr_warn(stretched)
    return saved


def _epochs_done(out: Path) -> int:
    """The epochs the run in ``out`` has finished: 0 unless its last event (progress.json) is "done"."""
    from engine.safe_files import read_regular

    if not (out / rf.PROGRESS).is_file():
        return 0
    try:
        ev = json.loads(read_regular(out / rf.PROGRESS, 1 << 20, rf.PROGRESS).decode("utf-8"))
    except (AlifuseInputError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return 0  # resumed, which reads the run's own files and says what is wrong with them
    done = isinstance(ev, dict) and ev.get(rf.EVENT) == rf.DONE and isinstance(ev.get("epochs_done"), int)
    return ev["epochs_done"] if done else 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.draw_seed == args.seed:  # the plain run's own draw: recorded as the plain run, so either resumes it
        args.draw_seed = None
    return run_cli(lambda: _run(args, argv))


def _run(args, argv) -> int:  # noqa: ANN001
    import torch

    from trainer.cache import PreprocessCache
    from trainer.data_source import class_names_for, load_records, stderr_warn
    from trainer.distributed import init_distributed
    from trainer.augment import ImageAugment, RecordAugment
    from trainer.loop import TrainOptions, train
    from trainer.scanner_augment import ScannerAugment
    from trainer.run_files import atomic_write_text, environment, training_keys
    from trainer.splits import assert_disjoint, run_splits

    if args.augment_images and args.augment_scanners:
        raise AlifuseInputError("--augment-images and --augment-scanners: choose one (each draws its own changes of "
                                "the MRI)")
    for name, v, lo in (("--epochs", args.epochs, 1), ("--batch-size", args.batch_size, 1), ("--workers", args.workers, 0)):
        if v < lo:
            raise AlifuseInputError(f"{name} {v}: must be at least {lo}")
    for name, v in (("--summary-foreign", args.summary_foreign), ("--summary-denial", args.summary_denial)):
        if v and not args.augment_records:
            raise AlifuseInputError(f"{name}: needs --augment-records (it is one of its record changes)")
    for name, v in (("--field-drop", args.field_drop), ("--record-drop", args.record_drop),
                    ("--summary-foreign", args.summary_foreign), ("--summary-denial", args.summary_denial)):
        if not 0 <= v < 0.9:  # record_drop plus the 4 % masked records must stay below 1
            raise AlifuseInputError(f"{name} {v}: must be a probability from 0 to below 0.9")
    if not 0 <= args.monotone <= 100:
        raise AlifuseInputError(f"--monotone {args.monotone}: must be between 0 and 100")
    if not 0 <= args.monotone_margin <= 20:
        raise AlifuseInputError(f"--monotone-margin {args.monotone_margin}: must be between 0 and 20")
    for name, v in (("--monotone-ends", args.monotone_ends), ("--monotone-anywhere", args.monotone_anywhere),
                    ("--monotone-pair-ends", args.monotone_pair_ends)):
        if not 0 <= v <= 1:
            raise AlifuseInputError(f"{name} {v}: must be a probability from 0 to 1")
    if args.monotone_anywhere > 0 and not args.monotone > 0:
        raise AlifuseInputError(f"--monotone-anywhere {args.monotone_anywhere}: needs --monotone W above 0 (it "
                                f"chooses the pairs that penalty compares)")
    if args.monotone_pair_ends > 0 and not args.monotone_anywhere > 0:
        raise AlifuseInputError(f"--monotone-pair-ends {args.monotone_pair_ends}: needs --monotone-anywhere P above 0 "
                                f"(it places those pairs)")
    if not 1 <= args.monotone_reach <= 36:  # CDR-SB's 37 values are the longest scale
        raise AlifuseInputError(f"--monotone-reach {args.monotone_reach}: must be from 1 to 36 steps")
    if not 0 <= args.mri_margin <= 20:
        raise AlifuseInputError(f"--mri-margin {args.mri_margin}: must be between 0 and 20")
    if args.mri_margin_fixed and not args.mri_margin > 0:
        raise AlifuseInputError("--mri-margin-fixed without --mri-margin M (above 0): it changes how that margin "
                                "trains and does nothing alone")
    if args.mri_margin > 0 and args.modalities != "both":
        raise AlifuseInputError(f"--mri-margin {args.mri_margin}: needs --modalities both (it compares the prediction "
                                "with and without the MRI)")
    if args.monotone_margin > 0 and args.monotone == 0:
        raise AlifuseInputError(f"--monotone-margin {args.monotone_margin}: needs --monotone W (its weight) above 0")
    if not 0 <= args.record_only <= 200_000:
        raise AlifuseInputError(f"--record-only {args.record_only}: must be between 0 and 200000")
    if args.lr is not None and not 0 < args.lr < 1:
        raise AlifuseInputError(f"--lr {args.lr}: must be between 0 and 1")
    out = prepare_out_dir(args.out)  # a file, /dev/null/x or read-only: one line now, not after loading the data
    why, options = "--resume", training_options(args)  # hashes the table and reads --init-from: once
    if args.skip_if_done and (out / rf.TRAIN_STATE).is_file():
        why, done = "--skip-if-done", _epochs_done(out)
        if done and done > args.epochs:
            raise AlifuseInputError(f"--skip-if-done: {quote_path(out)} finished {done} epochs, more than --epochs "
                                    f"{args.epochs}; give the run's own, or start a new --out")
        if done and done == args.epochs:
            _check_same_run(out / rf.RUN_INFO, args, options, why)
            print(f"{out}: finished with these options already; nothing to do (--skip-if-done)", file=sys.stderr)
            return 0
        args.resume = True  # not finished, or asked to train longer: continued where it stopped
    # a resumed run does not read --init-from again (its state replaces the weights): a file moved since is no bar
    if args.init_from and not args.resume and not Path(args.init_from).is_file():
        raise AlifuseInputError(f"--init-from {args.init_from}: no such checkpoint file")
    saved_info = _check_same_run(out / rf.RUN_INFO, args, options, why) if args.resume else None
    if (out / rf.LAST_CHECKPOINT).exists() and not args.resume:
        if args.skip_if_done:  # killed between its first checkpoint and its first state: nothing to resume from
            raise AlifuseInputError(f"--skip-if-done: {quote_path(out)} holds a checkpoint but no {rf.TRAIN_STATE} "
                                    f"(stopped before its first epoch's state was written), so it cannot be resumed; "
                                    f"move it away or choose another --out")
        raise AlifuseInputError(f"--out {out}: already holds a run; pass --resume to continue it or choose another "
                                f"folder (checkpoints are never overwritten by a new run)")
    device = resolve_device(args.device)
    info = init_distributed(device)
    if device.type == "cuda" and info.world > 1:
        device = torch.device("cuda", info.local_rank)

    lam = LOSS_SETS[args.loss]
    overrides = dict(lambda_cl=lam[0], lambda_res=lam[1], lambda_cls=lam[2], modalities=MODALITIES[args.modalities])
    if args.patch_stem:
        overrides["patch_stem"] = args.patch_stem
    if args.image_pool:
        overrides["image_pool"] = args.image_pool
    if args.text_weights:
        overrides["text_pretrained_path"] = str(Path(args.text_weights).resolve())
    overrides.update(parse_field(f) for f in args.set)
    records, skipped = load_records(args.data, need_images="image" in overrides["modalities"], warn=stderr_warn)
    classes = class_names_for(records)
    cfg = preset(args.preset, num_classes=len(classes), **overrides)
    if args.resume and (out / rf.CONFIG).is_file():
        cfg = _resumed_config(out / rf.CONFIG, cfg, stderr_warn)
    if args.fold is not None and args.folds is None:
        raise AlifuseInputError("--fold: needs --folds")
    splits = run_splits(records, args.seed, args.folds, args.fold)
    assert_disjoint(splits)
    # the demographics of the table's training cases, before any record without a scan joins them (those reach ages
    # no scan showed): a case outside them gets a note (engine.training_ranges); alifuse-calibrate reads the same
    ranges = record_ranges(r.ehr for r in splits["train"])
    if args.record_only:
        from trainer.synth.records_only import record_only_cases

        splits["train"] = list(splits["train"]) + record_only_cases(args.record_only, args.seed, classes)
    try:
        out.mkdir(parents=True, exist_ok=True)
        if info.main:
            atomic_write_text(out / rf.CONFIG, json.dumps(cfg.to_dict(), indent=2))
            atomic_write_text(out / rf.SPLITS, json.dumps(
                {k: sorted({r.subject_id for r in v}) for k, v in splits.items()}, indent=1))
            command = "alifuse-train " + shlex.join(argv if argv is not None else sys.argv[1:])
            started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
            if saved_info is not None:  # the run's first command and start stay; each resume is listed after them
                # the options equal the run's but for --epochs, which a longer run records anew
                run_info = {**saved_info, "options": options,
                            "resumed": [*saved_info.get("resumed", []),
                                        {"command": command, "started": started, "environment": environment()}]}
            else:
                run_info = {"command": command, "data": str(args.data), "data_resolved": _resolved(args.data),
                            "seed": args.seed, "folds": args.folds, "fold": args.fold, "preset": args.preset,
                            "options": options, "classes": classes,
                            "n_cases": {k: len(v) for k, v in splits.items()}, "skipped_rows": len(skipped),
                            "environment": environment(), "started": started, "world_size": info.world}
            atomic_write_text(out / rf.RUN_INFO, json.dumps(run_info, indent=2))
    except OSError as exc:
        raise AlifuseInputError(f"--out {out}: cannot write ({exc.strerror or exc})") from None
    opts = TrainOptions(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                        draw_seed=args.draw_seed,
                        num_workers=args.workers, exclude_parts=tuple(args.without_ehr),
                        progress_json=args.progress_json, compile=args.compile,
                        augment=(RecordAugment(field_drop=args.field_drop, record_empty=args.record_drop,
                                               summary_foreign=args.summary_foreign,
                                               summary_denial=args.summary_denial)
                                 if args.augment_records else None), monotone=args.monotone,
                        monotone_margin=args.monotone_margin, monotone_ends=args.monotone_ends,
                        monotone_anywhere=args.monotone_anywhere, monotone_reach=args.monotone_reach,
                        monotone_pair_ends=args.monotone_pair_ends,
                        mri_margin=args.mri_margin, mri_margin_fixed=args.mri_margin_fixed,
                        image_augment=(ImageAugment() if args.augment_images
                                       else ScannerAugment() if args.augment_scanners else None),
                        freeze=tuple(args.freeze), init_from=args.init_from,
                        init_parts=tuple(p for p in args.init_parts.split(",") if p))
    prov = {"data": str(args.data), "preset": args.preset, "loss": args.loss, "modalities": args.modalities,
            "without_ehr": args.without_ehr, "folds": args.folds, "fold": args.fold, "compile": args.compile,
            "record_only": args.record_only, "set": args.set, "augment_images": args.augment_images,
            "augment_scanners": args.augment_scanners,
            "command": "alifuse-train " + shlex.join(argv or sys.argv[1:])}
    cache = PreprocessCache(Path(args.cache) if args.cache else None)
    # hashed ids, normalised ids, scan contents and the table: what alifuse-eval's leakage refusal reads
    prov.update(training_keys(splits["train"], args.data, cache))
    prov[PROVENANCE_KEY] = ranges
    result = train(cfg, splits, classes, out, opts, device, info, resume=args.resume, provenance=prov, cache=cache)
    return 0 if not result.stopped else 143


if __name__ == "__main__":
    sys.exit(main())
