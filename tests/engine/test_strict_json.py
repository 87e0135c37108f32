"""Every JSON the tools print is strict JSON; a prediction is finite or it is an error, never a label (issue 14)."""
from __future__ import annotations

import json
import math

import nibabel as nib
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import strict_json
from engine.errors import AlifuseInputError


def _strict_loads(text: str):
    def refuse(constant):
        raise AssertionError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


_numbers = (st.floats(allow_nan=True, allow_infinity=True) | st.integers()
            | st.floats(width=32).map(np.float32) | st.sampled_from([np.float64("nan"), np.float32("-inf")]))
_values = st.recursive(st.none() | st.booleans() | st.text(max_size=5) | _numbers,
                       lambda x: st.lists(x, max_size=4) | st.dictionaries(st.text(max_size=4), x, max_size=4),
                       max_leaves=15)


@settings(max_examples=150, deadline=None)
@given(obj=_values)
def test_dumps_is_strict_json_and_keeps_every_finite_value(obj):
    text = strict_json.dumps(obj)
    back = _strict_loads(text)

    def same(a, b):
        if isinstance(a, (float, np.floating)) and not isinstance(a, bool):
            return b is None if not math.isfinite(float(a)) else b == float(a)
        if isinstance(a, dict):
            return set(a) == set(b) and all(same(a[k], b[k]) for k in a)
        if isinstance(a, (list, tuple)):
            return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
        return a == b

    assert same(obj, back), (obj, back)


def test_numpy_arrays_with_nan_become_lists_with_null():
    assert _strict_loads(strict_json.dumps({"p": np.array([0.5, np.nan])})) == {"p": [0.5, None]}


@pytest.fixture(scope="module")
def tiny_case(tmp_path_factory):
    from engine.checkpoint import save_checkpoint
    from engine.config import preset
    from engine.model import AlifuseModel

    d = tmp_path_factory.mktemp("nan")
    x, y, z = np.meshgrid(*[np.linspace(-1, 1, n) for n in (20, 22, 18)], indexing="ij")
    nib.save(nib.Nifti1Image(np.where(x ** 2 + y ** 2 + z ** 2 < 0.8, 100.0, 0.0).astype(np.float32), np.eye(4)),
             d / "t1.nii.gz")
    torch.manual_seed(0)
    save_checkpoint(AlifuseModel(preset("tiny")), d / "tiny.safetensors", ["NC", "MCI", "AD"], {"trained": True})
    return d


def test_non_finite_probabilities_are_an_error_not_a_label(tiny_case):
    from engine.predict import Predictor

    predictor = Predictor(tiny_case / "tiny.safetensors", "cpu")
    pred, _ = predictor.predict(tiny_case / "t1.nii.gz", {"age": 70})
    assert all(math.isfinite(p) for p in pred.probabilities.values())
    with torch.no_grad():  # what NaN weights or an overflowing input do inside the model
        predictor.model.fusion[-1].bias.fill_(float("nan"))
    with pytest.raises(AlifuseInputError, match=r"non-finite probabilities \(NaN\) for this input"):
        predictor.predict(tiny_case / "t1.nii.gz", {"age": 70})


def test_predict_cli_exits_2_on_nan_and_prints_strict_json_otherwise(tiny_case, capsys, monkeypatch):
    from engine.cli_predict import main
    import engine.predict as predict

    (tiny_case / "ehr.json").write_text('{"age": 70}')
    argv = [str(tiny_case / "t1.nii.gz"), "--ehr", str(tiny_case / "ehr.json"),
            "--checkpoint", str(tiny_case / "tiny.safetensors"), "--device", "cpu", "--json"]
    assert main(argv) == 0
    res = _strict_loads(capsys.readouterr().out)
    assert res["label"] in ("NC", "MCI", "AD")

    real = predict.Predictor.probabilities
    monkeypatch.setattr(predict.Predictor, "probabilities",
                        lambda self, case: real(self, case) * np.float32("nan"))
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out = capsys.readouterr()
    assert exc.value.code == 2 and out.out == ""
    assert out.err.startswith("alifuse: error: ") and out.err.count("\n") == 1


def test_eval_json_is_strict_when_a_metric_is_undefined(tiny_case, capsys, monkeypatch, tmp_path):
    """A one-class set has no AUC: alifuse-eval --json (and results.json) say null, not NaN."""
    import engine.checkpoint
    import trainer.data_source
    import trainer.evaluate
    from trainer.cli_eval import main

    monkeypatch.setattr(trainer.data_source, "load_records", lambda *a, **k: ([], []))
    monkeypatch.setattr(trainer.evaluate, "evaluate",
                        lambda *a, **k: {"dataset": "one-class", "auc": float("nan"), "acc": 1.0,
                                         "roc": {"NC": [float("inf"), 0.5]}})
    monkeypatch.setattr(trainer.evaluate, "markdown_table", lambda results: "| table |\n")
    code = main(["--checkpoint", str(tiny_case / "tiny.safetensors"), "--data", str(tmp_path), "--device", "cpu",
                 "--json", "--out", str(tmp_path / "out")])
    assert code == 0
    res = _strict_loads(capsys.readouterr().out)
    assert res == [{"dataset": "one-class", "auc": None, "acc": 1.0, "roc": {"NC": [None, 0.5]}}]
    assert _strict_loads((tmp_path / "out" / "results.json").read_text()) == res
