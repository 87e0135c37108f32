"""``alifuse-predict IMAGE --ehr FILE``: one case from the command line."""
from __future__ import annotations

import sys
from pathlib import Path

from engine import strict_json
from engine.cli_common import ArgumentParser, prefer_sleeping_threads, prepare_out_dir, resolve_device, run_cli
from engine.cli_explain import add_explain_args, check_explain_args, run_explain
from engine.ehr import load_ehr
from engine.errors import AlifuseInputError


def build_parser() -> ArgumentParser:
    p = ArgumentParser(prog="alifuse-predict",
                       description="Predict NC / MCI / AD for one case (brain MRI + health record) with Alifuse. "
                                   "A research tool, not a medical device.")
    p.add_argument("image", metavar="IMAGE",
                   help="the MRI: NIfTI (.nii, .nii.gz), MGZ, Analyze, or a folder holding one DICOM series")
    p.add_argument("--ehr", metavar="FILE", required=True,
                   help="the health record as a JSON object (fields: see README); every field is optional")
    p.add_argument("--checkpoint", metavar="FILE",
                   help="an Alifuse .safetensors checkpoint (default: the bundled demo model)")
    p.add_argument("--device", default="auto", help="auto (GPU if present), cpu, or cuda[:N] (default: auto)")
    p.add_argument("--out", metavar="DIR", help="also write prediction.json (and, with --explain, relevance.nii.gz "
                   "on the input's grid and affine, words.json and fields.json) into this folder")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object on stdout")
    add_explain_args(p)
    return p


def _summary(pred, explanation: dict | None = None) -> str:
    lines = [f"Prediction: {pred.label}" if pred.verdict != "uncertain"
             else f"Prediction: uncertain (most likely {pred.label})"]
    for name, p in pred.probabilities.items():
        lines.append(f"  {name:<9} {p:6.1%}  {'#' * round(p * 40)}")
    if pred.certainty:
        lines.append(pred.certainty)
    if explanation:
        lines.append(f"Explanation ({explanation['method']}) of {explanation['target_name']}: "
                     f"{', '.join(explanation['files'])}")
        lines += [f"  {ln}" for ln in explanation.get("reliance", {}).get("lines", [])]
    lines.append(f"Model: {pred.checkpoint} (id {pred.checkpoint_id}) on {pred.device}")
    lines.append(f"Text read by the model: {pred.text}")
    lines += [f"Note: {n}" for n in pred.notes]
    lines.append("Research tool, not a medical device.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    prefer_sleeping_threads()  # before torch loads: a prediction shares the machine with the user's programs
    args = build_parser().parse_args(argv)

    def go() -> int:
        device = resolve_device(args.device)
        ehr = load_ehr(args.ehr)
        if not Path(args.image).exists():
            raise AlifuseInputError(f"{args.image}: image not found")
        # the --out folder, checked once before the model loads: fail in a second (--explain needs one)
        out = check_explain_args(args) or (prepare_out_dir(args.out) if args.out else None)
        from engine.predict import Predictor  # heavy imports after the cheap checks

        predictor = Predictor(args.checkpoint, device)
        pred, case = predictor.predict(args.image, ehr)
        result = pred.to_dict()
        explanation = run_explain(args, predictor, case, pred, out)
        if explanation:
            result["explanation"] = explanation
        if out is not None:
            target = out / "prediction.json"
            try:
                target.write_text(strict_json.dumps(result, indent=2), encoding="utf-8")
            except OSError as exc:
                raise AlifuseInputError(f"--out {out}: cannot write {target.name} "
                                        f"({exc.strerror or type(exc).__name__})") from None
        if args.json:
            strict_json.dump(result, sys.stdout)
            sys.stdout.write("\n")
        else:
            print(_summary(pred, explanation))
        return 0

    return run_cli(go)


if __name__ == "__main__":
    sys.exit(main())
