"""``alifuse-train --draw-seed``: another draw of the same training step (initialisation, order, masks, dropout) on
the same split, so that a recipe can train a step again and keep the draw that passes its checks."""
from __future__ import annotations

import json

from safetensors.torch import load_file

from engine.checkpoint import load_checkpoint
from tests.trainer.conftest import run_command, write_toy_cohort
from trainer.calibrate import main as calibrate_main
from trainer.cli_train import main as train_main

BASE = ["--preset", "tiny", "--batch-size", "2", "--lr", "0.001", "--epochs", "1", "--seed", "3",
        "--augment-records"]


def _train(capsys, cohort, out, *extra):  # noqa: ANN001, ANN202
    return run_command(train_main, ["--data", cohort, "--out", out, "--cache", out.parent / "c", *BASE, *extra], capsys)


def test_a_second_draw_learns_other_weights_from_the_same_split(tmp_path, capsys):
    cohort = write_toy_cohort(tmp_path / "toy", 12).parent
    runs = {name: tmp_path / name for name in ("plain", "draw1", "draw3")}
    for name, extra in (("plain", ()), ("draw1", ("--draw-seed", "1")), ("draw3", ("--draw-seed", "3"))):
        code, io = _train(capsys, cohort, runs[name], *extra)
        assert code == 0, io.err
    splits = {n: json.loads((r / "splits.json").read_text()) for n, r in runs.items()}
    assert splits["plain"] == splits["draw1"] == splits["draw3"]  # the same cases, the same validation subjects
    weights = {n: load_file(str(r / "last.safetensors")) for n, r in runs.items()}
    assert weights["plain"].keys() == weights["draw1"].keys()
    # --draw-seed equal to --seed is the plain run (same machine, same arithmetic); another draw is another model
    assert all((weights["plain"][k] == weights["draw3"][k]).all() for k in weights["plain"])
    assert any(not (weights["plain"][k] == weights["draw1"][k]).all() for k in weights["plain"])
    assert json.loads((runs["draw1"] / "run.json").read_text())["options"]["draw_seed"] == 1
    # ... and is recorded as the plain run: the plain command keeps it (--skip-if-done), no draw in its provenance
    assert json.loads((runs["draw3"] / "run.json").read_text())["options"]["draw_seed"] is None
    assert "draw_seed" not in load_checkpoint(runs["draw3"] / "last.safetensors")[1].provenance
    code, io = _train(capsys, cohort, runs["draw3"], "--skip-if-done")
    assert code == 0 and "nothing to do" in io.out + io.err, io.err
    info = json.loads((runs["draw3"] / "run.json").read_text())  # as a folder of before the change recorded it
    info["options"]["draw_seed"] = 3
    (runs["draw3"] / "run.json").write_text(json.dumps(info))
    code, io = _train(capsys, cohort, runs["draw3"], "--skip-if-done")
    assert code == 0 and "nothing to do" in io.out + io.err, io.err
    # the checkpoint names the split's seed, from which calibration and evaluation rebuild the split, and the draw
    prov = load_checkpoint(runs["draw1"] / "last.safetensors")[1].provenance
    assert prov["seed"] == 3 and prov["draw_seed"] == 1
    code, io = run_command(calibrate_main, ["--checkpoint", runs["draw1"] / "last.safetensors", "--data", cohort,
                                            "--cache", tmp_path / "c", "--out", tmp_path / "calibrated.safetensors"],
                           capsys)
    assert code == 0, io.err  # its validation split is the plain run's, not cases it trained on

    # the draw decides what the run learns: resuming it with another is refused, by the option's name
    code, io = _train(capsys, cohort, runs["draw1"], "--resume")
    assert code == 2 and "--draw-seed not given (the run's: 1)" in io.err, io.err
