"""``--explain METHOD --out DIR``: the options, the early error without --out, and the files a run writes."""
from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
import torch

from engine.checkpoint import save_checkpoint
from engine.cli_common import ArgumentParser
from engine.cli_explain import add_explain_args, check_explain_args, run_explain
from engine.config import preset
from engine.errors import AlifuseInputError
from engine.model import AlifuseModel
from engine.predict import Predictor

AFFINE = np.array([[0, 0, 1.1, -9.0], [-1.0, 0, 0, 14.0], [0, 1.3, 0, 3.0], [0, 0, 0, 1]])  # axes permuted


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _parser(with_out: bool) -> ArgumentParser:
    p = ArgumentParser(prog="alifuse-predict")
    if with_out:
        p.add_argument("--out", metavar="DIR")
    add_explain_args(p)
    return p


@pytest.mark.parametrize("with_out", [True, False])
def test_options_parse_whether_or_not_the_command_has_out(with_out):
    args = _parser(with_out).parse_args(["--explain", "occlusion", "--out", "maps"])
    assert args.explain == "occlusion" and args.out == "maps"
    assert _parser(with_out).parse_args([]).explain is None


def test_the_predict_command_parser_takes_the_options():
    from engine.cli_predict import build_parser

    p = build_parser()
    add_explain_args(p)
    add_explain_args(p)  # harmless once the command adds them itself
    args = p.parse_args(["t1.nii.gz", "--ehr", "e.json", "--explain", "attention", "--out", "d"])
    assert (args.explain, args.out) == ("attention", "d")
    assert "--explain METHOD" in p.format_help()


def test_unknown_method_is_one_line_naming_explain(capsys):
    with pytest.raises(SystemExit) as exc:
        _parser(True).parse_args(["--explain", "gradcam"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("alifuse: error: argument --explain") and "gradcam" in err and "\n" not in err


def test_explain_without_out_names_out():
    args = _parser(True).parse_args(["--explain", "relevance"])
    with pytest.raises(AlifuseInputError, match=r"--explain relevance: also give --out DIR"):
        check_explain_args(args)
    with pytest.raises(AlifuseInputError, match="--out"):
        run_explain(args, None, None, None)  # refused before touching the model


def test_out_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "f").write_text("x")
    args = _parser(True).parse_args(["--explain", "relevance", "--out", str(tmp_path / "f")])
    with pytest.raises(AlifuseInputError, match="exists and is not a folder"):
        check_explain_args(args)


def test_no_explain_means_nothing_to_do():
    args = _parser(True).parse_args([])
    check_explain_args(args)
    assert run_explain(args, None, None, None) == {}


def test_run_writes_the_maps_for_the_predicted_class(tmp_path):
    data = np.zeros((14, 18, 12), np.float32)
    data[3:11, 4:14, 2:10] = np.random.default_rng(1).random((8, 10, 8)) * 100 + 50
    nib.save(nib.Nifti1Image(data, AFFINE), tmp_path / "t1.nii.gz")
    torch.manual_seed(1)
    save_checkpoint(AlifuseModel(preset("tiny")), tmp_path / "m.safetensors", ["NC", "MCI", "AD"], {"trained": True})
    predictor = Predictor(tmp_path / "m.safetensors", "cpu")
    pred, case = predictor.predict(tmp_path / "t1.nii.gz", {"age": 70, "mmse": 27})
    args = _parser(True).parse_args(["--explain", "relevance", "--out", str(tmp_path / "maps")])
    res = run_explain(args, predictor, case, pred)
    assert res["method"] == "relevance" and res["target_name"] == pred.label
    assert res["files"] == [str(tmp_path / "maps" / n)
                            for n in ("relevance.nii.gz", "words.json", "fields.json", "reliance.json")]
    assert res["reliance"]["target_name"] == pred.label
    assert res["reliance"]["probabilities"][pred.label] == pytest.approx(pred.probabilities[pred.label], abs=1e-5)
    img = nib.load(res["files"][0])
    assert img.shape == data.shape
    np.testing.assert_allclose(img.affine, AFFINE, atol=1e-5)
    assert set(res["fields"]) == {"age", "mmse"}
    assert json.loads(json.dumps(res)) == res  # goes into the command's --json output as is
    words = json.loads((tmp_path / "maps" / "words.json").read_text())["words"]
    assert [w["word"] for w in words] == case.text.words
