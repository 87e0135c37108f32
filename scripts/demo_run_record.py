"""Write docs/demo_model_run.json from the run folders of scripts/train_demo.sh (what ran, how long, on what).

    .venv/bin/python scripts/demo_run_record.py WORK_DIR --checkpoint WORK_DIR/runs/demo.safetensors \
        --machine "2-core development machine ..." --out docs/demo_model_run.json

Each stage's command, start time, seconds and best validation figures come from its own ``run.json`` and
``progress.json`` (written by alifuse-train), the stem's pre-training from ``runs/stem.safetensors.json`` (written by
scripts/pretrain_stem.py; absent in work folders older than it) and the image encoder's other-scanners step from
``runs/robust.safetensors.json`` (scripts/robust_image.py; only when the checkpoint's provenance says it had the
step); the calibration from the checkpoint's metadata, so
those cannot drift from the runs; the cohorts' description (``data``) from each cohort's ``cohort.json`` (written by
alifuse-synth). Where the recipe drew its last steps again (``runs/draw.txt``), step 10's second and third parts and
the refit are the kept draw's (``runs/stage10_drawN``, ``runs/stage11_drawN``,
``runs/score_path_refit_drawN.safetensors.json``), and the draws that failed before it are listed, their time
counted; stage11 is a stage of the record only where the checkpoint's last training had it (``--summary-denial``),
so a work folder or record from before that step still makes its record. ``--earlier RECORD`` takes the stages whose
run folders are not in WORK_DIR from an earlier record (a stage resumed on another machine, from the earlier stage's
checkpoint), each marked with where it came from.
"""
from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path
from typing import Any

from engine.calibration import describe_calibration
from engine.checkpoint_info import read_info

STAGES = ("stage1", "stage2", "stage3", "stage4", "stage5", "stage6", "stage7", "stage8", "stage9", "stage10",
          "stage11")
#: the stages each draw of the recipe's last steps trains again (step 10's second and third parts)
DRAWN = ("stage10", "stage11")


def stages_of(provenance: dict[str, Any]) -> tuple[str, ...]:
    """The recipe's training stages behind a checkpoint: stage11 (step 10's third part, --summary-denial) only where
    its last training had the denials; a checkpoint made before that step ends at stage10."""
    third = (provenance.get("augment") or {}).get("summary_denial", 0) > 0
    return STAGES if third else STAGES[:-1]


#: Steps run by scripts that write ``runs/NAME.safetensors.json``: the stem before stage1, "robust" and
#: "score_path_refit" (python -m trainer.score_path_refit) after the last, each only where the checkpoint's provenance
#: says it had the step.
SCRIPTS = ("stem", "robust", "score_path_refit")
#: provenance key that says the shipped checkpoint went through a step after the last stage
AFTER_LAST = {"robust": "robust_image", "score_path_refit": "score_path_refit"}


def _done_event(run: Path) -> dict[str, Any]:
    """The last "done" line of a run's progress.json (alifuse-train --progress-json)."""
    done = [json.loads(line) for line in (run / "progress.json").read_text().splitlines()
            if line.strip().startswith("{") and '"event": "done"' in line]
    if not done:
        raise SystemExit(f"{run}: the run has not finished (no 'done' event in progress.json)")
    return done[-1]


def stage_record(run: Path) -> dict[str, Any]:
    """command, started, seconds, best_val and n_cases of one finished run folder; a run resumed in later
    sessions also lists each resume's command and start (its seconds are all sessions' training)."""
    if not (run / "run.json").is_file():
        raise SystemExit(f"{run}: no run folder (no run.json): the stage has not run here")
    meta = json.loads((run / "run.json").read_text())
    done = _done_event(run)
    resumed = [{"command": r["command"], "started": r["started"]} for r in meta.get("resumed", [])]
    return {"command": meta["command"], "started": meta["started"], "seconds": done["seconds"],
            "best_val": done["best_val"], "n_cases": meta["n_cases"], **({"resumed": resumed} if resumed else {})}


def script_record(work: Path, name: str) -> dict[str, Any] | None:
    """The record a training script wrote beside its checkpoint ``runs/NAME.safetensors.json`` (command, started,
    seconds and its own figures), if it ran: "stem" (pretrain_stem.py), "robust" (robust_image.py)."""
    sidecar = work / "runs" / f"{name}.safetensors.json"
    return json.loads(sidecar.read_text()) if sidecar.is_file() else None


def cohort_line(folder: Path) -> str:
    """The alifuse-synth options that made a cohort, read back from its cohort.json."""
    meta = folder / "cohort.json"
    if not meta.is_file():
        raise SystemExit(f"{folder}: no cohort.json (was the cohort made by alifuse-synth?)")
    c = json.loads(meta.read_text())
    line = f"alifuse-synth --subjects {c['n_subjects']} --seed {c['seed']} --preset-size {c['preset_size']}"
    return line + (f" --acquisition {c['acquisition']}" if c.get("acquisition", "standard") != "standard" else "")


def _stage(work: Path, name: str, earlier: dict[str, Any] | None, earlier_path: Path | None) -> dict[str, Any]:
    """A stage's record from its run folder, or, where the folder is not in ``work``, from the earlier record (a
    folder holding only a checkpoint restored from a shipped one, for the next step to start from, is not a run)."""
    run = (work / "runs" / name).resolve()
    if (run / "run.json").is_file() or earlier is None:
        return stage_record(run)
    if name not in earlier.get("stages", {}):
        raise SystemExit(f"{run}: no run folder, and the earlier record {earlier_path} has no stage {name!r}")
    # a stage the earlier record took from one before it keeps naming the record it was measured in
    return {"from_record": str(earlier_path), **earlier["stages"][name]}


def kept_draw(work: Path) -> int:
    """Which draw of the recipe's last steps passed the checks (``runs/draw.txt``, train_demo.sh); 0 without it."""
    kept = work / "runs" / "draw.txt"
    return int(kept.read_text().strip()) if kept.is_file() else 0


def _tag(draw: int) -> str:
    return f"_draw{draw}" if draw else ""  # train_demo.sh's file names: draw 0's are the record's own


def _draws_before(work: Path, draw: int, stages: tuple[str, ...]) -> list[dict[str, Any]]:
    """The draws of the drawn stages and the refit that failed the checks before the kept one: their time was spent."""
    return [{"draw": k, **{s: stage_record(work / "runs" / f"{s}{_tag(k)}") for s in DRAWN if s in stages},
             **({"score_path_refit": r} if (r := script_record(work, f"score_path_refit{_tag(k)}")) else {})}
            for k in range(draw)]


def build(work: Path, checkpoint: Path, machine: str, note: str, earlier_path: Path | None = None) -> dict[str, Any]:
    earlier = json.loads(earlier_path.read_text()) if earlier_path else None
    info = read_info(checkpoint)
    draw = kept_draw(work)
    trained = stages_of(info.provenance)
    scripts = {}
    for name in SCRIPTS:
        if name in AFTER_LAST and AFTER_LAST[name] not in info.provenance:
            scripts[name] = None  # a probe's record in the work folder: the shipped model never had the step
            continue
        scripts[name] = script_record(work, name + (_tag(draw) if name == "score_path_refit" else ""))
        if scripts[name] is None and earlier is not None and name in earlier.get("stages", {}):
            scripts[name] = {"from_record": str(earlier_path), **earlier["stages"][name]}
    stages = {**({"stem": scripts["stem"]} if scripts["stem"] else {}),
              **{s: _stage(work, s + (_tag(draw) if s in DRAWN else ""), earlier, earlier_path)
                 for s in trained},
              **{name: scripts[name] for name in AFTER_LAST if scripts[name]}}
    before = _draws_before(work, draw, trained)
    spent = sum(sum(d[s]["seconds"] for s in DRAWN if s in d) + d.get("score_path_refit", {}).get("seconds", 0.0)
                for d in before)
    last_run = work / "runs" / f"{trained[-1]}{_tag(draw)}" / "run.json"
    # the last stage's folder may be an earlier session's (--earlier): its environment is in that record
    env = json.loads(last_run.read_text())["environment"] if last_run.is_file() else earlier["environment"]
    return {
        "script": "bash scripts/train_demo.sh WORK_DIR --install",
        "work_dir": f"{work} (outside the work tree)",
        "machine": machine or platform.processor(),
        "data": {
            "train": f"train3000.csv = {cohort_line(work / 'train1200')} + {cohort_line(work / 'train_extra')}",
            "test": cohort_line(work / "test300"),
            "shifted": cohort_line(work / "shifted200"),
        },
        "stages": stages,
        "calibration": describe_calibration(info.calibration),
        "checkpoint_id": info.checkpoint_id,
        "training_minutes": round((sum(s["seconds"] for s in stages.values()) + spent) / 60, 1),
        **({"draw": draw, "draws_before": before} if draw else {}),
        "note": note,
        "environment": env,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("work", type=Path, help="the WORK_DIR given to scripts/train_demo.sh")
    p.add_argument("--checkpoint", type=Path, required=True, help="the calibrated checkpoint that ships")
    p.add_argument("--machine", default="", help="the machine, in words (default: the processor's name)")
    p.add_argument("--note", default="", help="anything a reader of the record should know")
    p.add_argument("--earlier", type=Path, help="an earlier record (docs/demo_model_run.json) for the stages whose "
                                                "run folders are not in WORK_DIR")
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args()
    a.out.write_text(json.dumps(build(a.work, a.checkpoint, a.machine, a.note, a.earlier), indent=2) + "\n")


if __name__ == "__main__":
    main()
