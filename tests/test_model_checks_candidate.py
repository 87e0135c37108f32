"""tests/model judges a candidate checkpoint before it ships (ALIFUSE_MODEL_CHECKS=FILE), not only the shipped one."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from engine.checkpoint import save_checkpoint
from engine.config import preset
from engine.model import AlifuseModel

ROOT = Path(__file__).resolve().parents[1]
CHECK = "tests/model/test_record_reading.py::test_each_value_is_read_as_a_value_of_its_own_field"


def _judge(checkpoint: Path | None, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "ALIFUSE_MODEL_CHECKS"}
    if checkpoint is not None:
        env["ALIFUSE_MODEL_CHECKS"] = str(checkpoint)
    return subprocess.run([sys.executable, "-m", "pytest", CHECK, "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                           "--runxfail", "--rootdir", str(ROOT)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)


@pytest.mark.slow
def test_a_candidate_is_judged_by_the_same_checks_and_a_missing_one_is_named(tmp_path):
    shipped = _judge(None, tmp_path)
    assert shipped.returncode == 0, shipped.stdout[-2000:]
    # an untrained model reads "0" alike in every field: the same check, run on it, must fail
    torch.manual_seed(0)
    candidate = tmp_path / "candidate.safetensors"
    save_checkpoint(AlifuseModel(preset("tiny")), candidate, ["NC", "MCI", "AD"], {"trained": False})
    judged = _judge(candidate, tmp_path)
    assert judged.returncode == 1 and "1 failed" in judged.stdout, judged.stdout[-2000:]
    missing = _judge(tmp_path / "nope.safetensors", tmp_path)
    assert missing.returncode != 0
    assert f"ALIFUSE_MODEL_CHECKS={tmp_path / 'nope.safetensors'}: no such checkpoint file" in missing.stdout


def test_a_known_failure_is_strict_for_the_shipped_model_and_forgiven_to_a_candidate_that_passes_it(monkeypatch):
    """The shipped file must still fail each listed check (its line goes the day it passes); a candidate judged
    before it ships (scripts/train_demo.sh step 13) may pass one without failing the run."""
    from tests.model import conftest as model_checks
    from tests.model.known_failures import KNOWN_FAILURES

    class Item:  # what the hook reads of a collected test
        def __init__(self, key: str) -> None:
            self.nodeid, self.markers = f"tests/model/{key}", []

        def add_marker(self, marker) -> None:  # noqa: ANN001
            self.markers.append(marker)

    for given, strict in ((None, True), ("candidate.safetensors", False)):
        if given:
            monkeypatch.setenv(model_checks.CHECKPOINT_ENV, given)
        else:
            monkeypatch.delenv(model_checks.CHECKPOINT_ENV, raising=False)
        items = [Item(key) for key in KNOWN_FAILURES] + [Item("test_heatmap.py::not_a_known_failure")]
        model_checks.pytest_collection_modifyitems(None, items)
        assert [m.kwargs["strict"] for it in items[:-1] for m in it.markers] == [strict] * len(KNOWN_FAILURES)
        assert items[-1].markers == []
