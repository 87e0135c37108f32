"""``--explain METHOD --out DIR`` for ``alifuse-predict``: explain the prediction and write the maps.

The predict command adds the options with :func:`add_explain_args` and, after predicting, calls
:func:`run_explain`, which writes relevance.nii.gz (on the input file's grid, with its affine), words.json,
fields.json and reliance.json into ``--out`` and returns a JSON-ready digest for the command's output.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from engine.cli_common import prepare_out_dir
from engine.errors import AlifuseInputError
from engine.explain import METHODS


def add_explain_args(parser: argparse.ArgumentParser) -> None:
    """Add ``--explain METHOD`` (and ``--out DIR`` unless the parser already has it). Idempotent."""
    if any("--explain" in a.option_strings for a in parser._actions):
        return
    parser.add_argument(
        "--explain", metavar="METHOD", choices=METHODS,
        help=f"explain the predicted class and write the maps into --out: one of {', '.join(METHODS)} "
             "(guided: relevance refined per voxel by integrated gradients, the viewer's default; relevance: the "
             "paper's transformer relevance propagation, fastest; integrated_gradients and occlusion: slower "
             "model-agnostic checks; attention: raw last-layer attention)")
    try:
        parser.add_argument("--out", metavar="DIR",
                            help="folder for the explanation files (relevance.nii.gz, words.json, fields.json, "
                                 "reliance.json)")
    except argparse.ArgumentError:
        pass  # the command already has --out; the explanation files go there too


def check_explain_args(args: argparse.Namespace) -> Path | None:
    """Fail fast, before any model is loaded: --explain needs --out, and --out must be a folder this process can
    write into. Returns that folder (checked by :func:`engine.cli_common.prepare_out_dir`), None without --explain."""
    if getattr(args, "explain", None) is None:
        return None
    out = getattr(args, "out", None)
    if not out:
        raise AlifuseInputError(f"--explain {args.explain}: also give --out DIR, the folder the relevance map "
                                "(NIfTI) and the word/field relevances are written to")
    return prepare_out_dir(out)


def run_explain(args: argparse.Namespace, predictor, case, pred, out: Path | None = None) -> dict[str, Any]:
    """Explain ``pred``'s class for ``case`` with ``args.explain``; write the files into ``args.out``.

    ``out``: the folder :func:`check_explain_args` returned, when the command checked it already.
    Returns {method, target_class, target_name, top_words, fields, seconds, reliance, files}; {} without --explain.
    ``reliance``: how far the prediction moves with the MRI or the record hidden (``engine.explain.reliance``).
    """
    if getattr(args, "explain", None) is None:
        return {}
    out = out if out is not None else check_explain_args(args)
    from engine.explain import explain, save_explanation  # captum loads only when an explanation is asked for

    names = list(predictor.class_names)
    expl = explain(predictor.model, case, args.explain, target=names.index(pred.label), class_names=names,
                   reliance=True)
    try:
        files = save_explanation(expl, case, out)
    except OSError as exc:
        raise AlifuseInputError(f"--out {out}: cannot write the explanation "
                                f"({exc.strerror or type(exc).__name__})") from None
    return {**expl.summary(), "files": [str(p) for p in files]}
