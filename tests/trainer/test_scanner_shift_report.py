"""scripts/scanner_shift_report.py: the MRI's reading per acquisition setting and after one change at a time."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.checkpoint import load_checkpoint
from engine.resources import DEMO_CHECKPOINT
from trainer.cache import PreprocessCache
from trainer.records import read_manifest

from tests.trainer.conftest import load_script, write_toy_cohort


def _script():
    return load_script("scanner_shift_report")


def _cohort(folder: Path, n: int = 42) -> Path:
    """A toy cohort with the cohort.json alifuse-synth writes: every other scan with its skull left in."""
    manifest = write_toy_cohort(folder, n)
    subjects = [{"subject_id": r.subject_id,
                 "acquisition": {"skull": i % 2 == 0, "contrast_gamma": 1.0, "noise": 0.02, "bias_strength": 0.1,
                                 "pose_deg": [0.0, 0.0, 7.0 if i < 5 else 1.0]}}
                for i, r in enumerate(read_manifest(manifest).records)]
    (folder / "cohort.json").write_text(json.dumps({"subjects": subjects}))
    return folder


def test_settings_split_the_cases_and_each_change_is_scored_on_the_same_cases(tmp_path):
    mod = _script()
    folder = _cohort(tmp_path / "toy")
    model, info = load_checkpoint(DEMO_CHECKPOINT)
    changes = {"none": lambda x, i: x, "blank": lambda x, i: np.zeros_like(x)}
    out = mod.report(model, info, folder, PreprocessCache(tmp_path / "cache"), 50, changes)
    skull = out["settings"]["skull left in"]
    assert skull["with"]["n"] == skull["without"]["n"] == 21
    assert "head tilt > 6 degrees" not in out["settings"], "5 tilted scans: too few for an AUC"
    assert "contrast curve > 1.1" not in out["settings"]
    assert out["one_change"]["none"]["auc"] == out["mri_only_empty_record"]["auc"]
    assert out["one_change"]["blank"]["auc"] == pytest.approx(0.5, abs=0.05), "one scan for every case: no ranking"


def test_the_fixed_changes_are_the_augmentations_at_one_size():
    mod = _script()
    x = np.linspace(0, 1, 8 ** 3).reshape(8, 8, 8)
    changes = mod._changes(0)
    assert np.allclose(changes["contrast curve 1.3"](x, 0), x ** 1.3)
    assert np.array_equal(changes["noise 0.05"](x, 3), changes["noise 0.05"](x, 3)), "drawn from the case index"
    assert not np.array_equal(changes["noise 0.05"](x, 3), changes["noise 0.05"](x, 4))
    # thick slices: a step edge across each axis in turn; only the edge across the last axis is softened
    for axis in range(3):
        step = np.zeros((12, 12, 12))
        step[(slice(None),) * axis + (slice(6, None),)] = 1.0
        soft = changes["thick slices (sigma 0.8 voxel)"](step, 0)
        inner = soft[2:10, 2:10, 2:10] - step[2:10, 2:10, 2:10]
        assert (np.abs(inner).max() > 0.1) == (axis == 2), axis
    # the tilt turns about the first axis (in the plane of the other two), about the volume's centre: a bar along
    # the first axis through the centre stays where it is, one along the last axis moves off its voxels
    bar = np.zeros((17, 17, 17))
    bar[2:15, 8, 8] = 1.0
    assert np.abs(changes["tilt 8 degrees"](bar, 0) - bar).sum() < 0.05 * bar.sum()
    bar = np.transpose(bar, (2, 1, 0)).copy()
    assert changes["tilt 8 degrees"](bar, 0)[8, 8, 2:15].sum() < 0.9 * bar[8, 8, 2:15].sum()
    flat = np.full((8, 8, 8), 0.5)
    field = changes["bias field 0.3"](flat, 1) / flat
    assert 0.15 < np.log(field).std() < 0.45, "log-std of the field about 0.3"
    assert np.array_equal(changes["bias field 0.3"](flat, 1), changes["bias field 0.3"](flat, 1))


def test_a_folder_without_cohort_json_is_named(tmp_path, monkeypatch, capsys):
    manifest = write_toy_cohort(tmp_path / "toy", 6)
    monkeypatch.setattr(sys, "argv", ["scanner_shift_report.py", "--checkpoint", str(DEMO_CHECKPOINT),
                                      "--data", f"test={manifest.parent}", "--out", str(tmp_path / "r.json")])
    with pytest.raises(SystemExit) as exc:
        _script().main()
    assert exc.value.code == 2 and "has no cohort.json" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()


@pytest.mark.parametrize("argv, named", [(["--data", "test"], "--data test: give NAME=COHORT_FOLDER"),
                                         (["--bootstrap", "5"], "--bootstrap 5")])
def test_bad_options_are_named(tmp_path, monkeypatch, capsys, argv, named):
    folder = _cohort(tmp_path / "toy", 6)
    monkeypatch.setattr(sys, "argv", ["scanner_shift_report.py", "--checkpoint", str(DEMO_CHECKPOINT),
                                      "--data", f"test={folder}", *argv, "--out", str(tmp_path / "r.json")])
    with pytest.raises(SystemExit) as exc:
        _script().main()
    assert exc.value.code == 2 and named in capsys.readouterr().err and not (tmp_path / "r.json").exists()
