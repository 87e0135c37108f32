"""scripts/demo_run_record.py: docs/demo_model_run.json is built from the run folders, not typed by hand."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.resources import DEMO_CHECKPOINT

from tests.trainer.conftest import load_script


#: the recipe's training stages (scripts/train_demo.sh), as the record must list them
STAGES = tuple(f"stage{i}" for i in range(1, 12))


def _script():
    return load_script("demo_run_record")


COHORTS = {"train1200": (1200, 21, "standard"), "train_extra": (1800, 25, "standard"), "test300": (300, 23, "standard"),
           "shifted200": (200, 24, "shifted")}


def _run_folder(root: Path, name: str, seconds: float, auc: float, finished: bool = True) -> None:
    for cohort, (n, seed, acquisition) in COHORTS.items():  # as alifuse-synth leaves them
        (root / cohort).mkdir(exist_ok=True)
        (root / cohort / "cohort.json").write_text(json.dumps(
            {"n_subjects": n, "seed": seed, "preset_size": "small", "acquisition": acquisition}))
    run = root / "runs" / name
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({
        "command": f"alifuse-train --out {run}", "started": "2026-12-01T13:41:42+0000",
        "n_cases": {"train": 2100, "val": 300, "test": 600}, "environment": {"torch": "2.13.0+cpu"}}))
    lines = [{"event": "epoch", "epoch": 1, "val": {"auc": auc - 0.1}}]
    if finished:
        lines.append({"event": "done", "seconds": seconds, "best_val": {"auc": auc, "n": 300}})
    (run / "progress.json").write_text("".join(json.dumps(line) + "\n" for line in lines))


def test_the_record_carries_each_stage_and_the_checkpoints_calibration(tmp_path: Path) -> None:
    for i, name in enumerate(STAGES):
        _run_folder(tmp_path, name, seconds=60.0 * (i + 1), auc=0.8 + i / 100)
    out = tmp_path / "record.json"
    mod = _script()
    rec = mod.build(tmp_path, DEMO_CHECKPOINT, "test machine", "")
    out.write_text(json.dumps(rec))
    back = json.loads(out.read_text())
    assert [back["stages"][s]["seconds"] for s in mod.STAGES] == [60.0 * k for k in range(1, 12)]
    assert back["stages"]["stage3"]["best_val"]["auc"] == pytest.approx(0.82)
    assert back["training_minutes"] == pytest.approx(66.0)
    assert back["calibration"].startswith("temperature ")  # the shipped checkpoint is calibrated
    assert back["environment"] == {"torch": "2.13.0+cpu"} and back["machine"] == "test machine"
    assert back["data"]["test"] == "alifuse-synth --subjects 300 --seed 23 --preset-size small"
    assert back["data"]["shifted"].endswith("--seed 24 --preset-size small --acquisition shifted")
    assert "--subjects 1200 --seed 21" in back["data"]["train"] and "--subjects 1800 --seed 25" in back["data"]["train"]


def test_a_resumed_stage_keeps_its_first_command_and_lists_the_resume(tmp_path: Path) -> None:
    for i, name in enumerate(STAGES):
        _run_folder(tmp_path, name, seconds=60.0, auc=0.9)
    info = tmp_path / "runs" / "stage4" / "run.json"
    meta = json.loads(info.read_text())
    meta["resumed"] = [{"command": "alifuse-train --resume", "started": "2026-12-02T08:00:00+0000",
                        "environment": {"torch": "2.13.0+cpu"}}]
    info.write_text(json.dumps(meta))
    rec = _script().build(tmp_path, DEMO_CHECKPOINT, "m", "")
    assert rec["stages"]["stage4"]["command"].startswith("alifuse-train --out")
    assert rec["stages"]["stage4"]["resumed"] == [{"command": "alifuse-train --resume",
                                                   "started": "2026-12-02T08:00:00+0000"}]
    assert "resumed" not in rec["stages"]["stage3"]


def test_an_unfinished_stage_is_named(tmp_path: Path) -> None:
    for name in STAGES[:-1]:
        _run_folder(tmp_path, name, 60.0, 0.8)
    _run_folder(tmp_path, "stage11", 60.0, 0.8, finished=False)
    with pytest.raises(SystemExit, match="stage11.*has not finished"):
        _script().build(tmp_path, DEMO_CHECKPOINT, "", "")


def test_the_stems_pre_training_is_a_stage_of_the_record(tmp_path: Path) -> None:
    for name in STAGES:
        _run_folder(tmp_path, name, 60.0, 0.8)
    (tmp_path / "runs" / "stem.safetensors.json").write_text(json.dumps({
        "command": "scripts/pretrain_stem.py x", "started": "2026-12-01T21:45:21+0000", "seconds": 420.0,
        "best_val": {"auc": 0.88}, "kept_epoch": 11, "n_cases": {"train": 2100, "val": 300, "test": 300}}))
    rec = _script().build(tmp_path, DEMO_CHECKPOINT, "", "")
    assert list(rec["stages"]) == ["stem", *STAGES]
    assert rec["stages"]["stem"]["kept_epoch"] == 11 and rec["training_minutes"] == pytest.approx(18.0)


def test_the_image_encoders_other_scanners_step_follows_the_last_stage(tmp_path: Path) -> None:
    for name in STAGES:
        _run_folder(tmp_path, name, 60.0, 0.8)
    history = [{"epoch": 0, "val_auc": 0.87, "val_auc_other_look": 0.76}]
    (tmp_path / "runs" / "robust.safetensors.json").write_text(json.dumps({
        "command": "scripts/robust_image.py x", "started": "2026-12-06T08:10:00+0000", "seconds": 300.0,
        "history": history}))
    assert "robust" not in _script().build(tmp_path, DEMO_CHECKPOINT, "", "")["stages"], \
        "a probe's record in the work folder is not a step of a checkpoint that never had it"
    from engine.checkpoint import load_checkpoint, save_checkpoint

    model, info = load_checkpoint(DEMO_CHECKPOINT, calibrated=False)
    robust = tmp_path / "robust_demo.safetensors"
    save_checkpoint(model, robust, info.class_names, {**info.provenance, "robust_image": {"epochs": 6}})
    rec = _script().build(tmp_path, robust, "", "")
    assert list(rec["stages"]) == [*STAGES, "robust"]
    assert rec["stages"]["robust"]["history"] == history and rec["training_minutes"] == pytest.approx(16.0)


def test_stages_that_ran_in_an_earlier_session_come_from_the_earlier_record(tmp_path: Path) -> None:
    """Stages 6-10 continued from the shipped stage-5 checkpoint on a new machine: 1-5 come from the old record."""
    _run_folder(tmp_path, "stage6", 90.0, 0.9)
    _run_folder(tmp_path, "stage7", 30.0, 0.9)
    _run_folder(tmp_path, "stage8", 30.0, 0.9)
    _run_folder(tmp_path, "stage9", 30.0, 0.9)
    _run_folder(tmp_path, "stage10", 30.0, 0.9)
    _run_folder(tmp_path, "stage11", 30.0, 0.9)
    earlier = tmp_path / "old.json"
    old = {"stages": {"stem": {"seconds": 30.0, "kept_epoch": 9},
                      **{f"stage{i}": {"seconds": 60.0, "command": f"old {i}"} for i in range(1, 6)}}}
    earlier.write_text(json.dumps(old))
    rec = _script().build(tmp_path, DEMO_CHECKPOINT, "", "", earlier)
    assert rec["stages"]["stage2"]["command"] == "old 2" and rec["stages"]["stage2"]["from_record"] == str(earlier)
    assert rec["stages"]["stem"]["kept_epoch"] == 9 and "from_record" not in rec["stages"]["stage6"]
    assert rec["training_minutes"] == pytest.approx((30 + 5 * 60 + 90 + 30 + 30 + 30 + 30 + 30) / 60, abs=0.05)
    del old["stages"]["stage3"]
    earlier.write_text(json.dumps(old))
    with pytest.raises(SystemExit, match="stage3"):
        _script().build(tmp_path, DEMO_CHECKPOINT, "", "", earlier)


def test_a_score_path_refit_after_stages_of_an_earlier_session_is_recorded_with_their_environment(tmp_path: Path):
    """The path refitted in a later session (python -m trainer.score_path_refit) on the last stage's checkpoint, whose
    run folders stayed on another machine: the stages and the environment come from the earlier record."""
    for cohort, (n, seed, acquisition) in COHORTS.items():
        (tmp_path / cohort).mkdir()
        (tmp_path / cohort / "cohort.json").write_text(json.dumps(
            {"n_subjects": n, "seed": seed, "preset_size": "small", "acquisition": acquisition}))
    (tmp_path / "runs" / "stage11").mkdir(parents=True)  # only the checkpoint the refit starts from: not a run
    (tmp_path / "runs" / "stage11" / "last.safetensors").write_bytes(b"")
    (tmp_path / "runs" / "score_path_refit.safetensors.json").write_text(json.dumps({
        "command": "python -m trainer.score_path_refit x", "started": "2026-12-07T00:40:00+0000", "seconds": 240.0,
        "copies": 4, "keep": 0.5}))
    earlier = tmp_path / "old.json"
    stages = {name: {"seconds": 60.0} for name in STAGES}
    stages["stage1"]["from_record"] = "older.json"  # measured in a record before that one: it keeps saying so
    earlier.write_text(json.dumps({"stages": stages, "environment": {"torch": "2.13.0+cpu", "machine": "old"}}))
    from engine.checkpoint import load_checkpoint, save_checkpoint

    model, info = load_checkpoint(DEMO_CHECKPOINT, calibrated=False)
    plain = tmp_path / "plain.safetensors"
    prov = {k: v for k, v in info.provenance.items() if k != "score_path_refit"}
    save_checkpoint(model, plain, info.class_names, prov)
    assert "score_path_refit" not in _script().build(tmp_path, plain, "", "", earlier)["stages"]
    refit = tmp_path / "refit.safetensors"
    save_checkpoint(model, refit, info.class_names, {**prov, "score_path_refit": {"copies": 4}})
    rec = _script().build(tmp_path, refit, "", "", earlier)
    assert list(rec["stages"]) == [*STAGES, "score_path_refit"]
    assert rec["stages"]["score_path_refit"]["seconds"] == 240.0 and rec["environment"]["machine"] == "old"
    assert rec["training_minutes"] == pytest.approx((11 * 60 + 240) / 60)
    assert rec["stages"]["stage1"]["from_record"] == "older.json"
    assert rec["stages"]["stage2"]["from_record"] == str(earlier)


def test_the_draw_that_passed_the_checks_is_the_record_and_the_draws_before_it_count(tmp_path: Path) -> None:
    """train_demo.sh drew step 10's second and third parts and the refit again after a model that failed tests/model:
    the record is the kept draw's (runs/draw.txt), and the failed draw's time was spent too."""
    for i, name in enumerate([*STAGES, "stage10_draw1", "stage11_draw1"]):
        _run_folder(tmp_path, name, seconds=60.0 * (i + 1), auc=0.8 + i / 100)
    for tag, seconds in (("", 100.0), ("_draw1", 130.0)):
        (tmp_path / "runs" / f"score_path_refit{tag}.safetensors.json").write_text(json.dumps({
            "command": f"python -m trainer.score_path_refit {tag}", "started": "2026-12-07T00:40:00+0000",
            "seconds": seconds}))
    (tmp_path / "runs" / "draw.txt").write_text("1\n")
    rec = _script().build(tmp_path, DEMO_CHECKPOINT, "", "")  # the shipped checkpoint had the refit
    assert rec["draw"] == 1
    assert rec["stages"]["stage10"]["seconds"] == 720.0 and "stage10_draw1" in rec["stages"]["stage10"]["command"]
    assert rec["stages"]["stage11"]["seconds"] == 780.0 and "stage11_draw1" in rec["stages"]["stage11"]["command"]
    assert rec["stages"]["score_path_refit"]["seconds"] == 130.0
    assert [d["draw"] for d in rec["draws_before"]] == [0]
    assert rec["draws_before"][0]["stage10"]["seconds"] == 600.0
    assert rec["draws_before"][0]["stage11"]["seconds"] == 660.0
    assert rec["draws_before"][0]["score_path_refit"]["seconds"] == 100.0
    # stages 1-9, the kept draw's step 10 (two parts) and refit, and the failed draw's
    assert rec["training_minutes"] == pytest.approx(
        (60 * sum(range(1, 10)) + 720 + 780 + 130 + 600 + 660 + 100) / 60, abs=0.05)
    (tmp_path / "runs" / "draw.txt").unlink()  # draw 0 kept: the record as before
    rec = _script().build(tmp_path, DEMO_CHECKPOINT, "", "")
    assert "draw" not in rec and rec["stages"]["stage10"]["seconds"] == 600.0 and rec["stages"]["stage11"]["seconds"] == 660.0


def test_a_checkpoint_from_before_step_10_s_third_part_makes_its_record_without_stage11(tmp_path: Path) -> None:
    """A work folder (or earlier record) of a checkpoint trained without --summary-denial has no stage11: its record
    ends at stage10, failed draws included, where the shipped checkpoint's asks for stage11."""
    for name in [*STAGES[:-1], "stage10_draw1"]:
        _run_folder(tmp_path, name, 60.0, 0.8)
    (tmp_path / "runs" / "draw.txt").write_text("1\n")
    from engine.checkpoint import load_checkpoint, save_checkpoint

    model, info = load_checkpoint(DEMO_CHECKPOINT, calibrated=False)
    assert info.provenance["augment"]["summary_denial"] > 0  # the shipped one had the third part
    with pytest.raises(SystemExit, match="stage11_draw1"):
        _script().build(tmp_path, DEMO_CHECKPOINT, "", "")
    older = tmp_path / "older.safetensors"
    prov = {**info.provenance, "augment": {**info.provenance["augment"], "summary_denial": 0.0}}
    save_checkpoint(model, older, info.class_names, prov)
    rec = _script().build(tmp_path, older, "", "")
    assert list(rec["stages"])[-1] == "stage10" and "stage11" not in rec["draws_before"][0]
    assert rec["stages"]["stage10"]["command"].endswith("stage10_draw1")
    assert rec["training_minutes"] == pytest.approx(11.0)  # ten stages and the failed draw's stage10
