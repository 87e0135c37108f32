"""``alifuse-predict`` as a user runs it: a result for a good case, one clear line for every bad input."""
from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

from engine.checkpoint import save_checkpoint
from engine.cli_predict import main
from engine.resources import DEMO_CHECKPOINT

BIN = Path(sys.executable).parent


def _brain(shape=(30, 36, 28)) -> np.ndarray:
    x, y, z = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    r = x ** 2 + y ** 2 + z ** 2
    return np.where(r < 0.8, 100 + 50 * (r < 0.3), 0).astype(np.float32)


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    d = tmp_path_factory.mktemp("case")
    img = nib.Nifti1Image(_brain(), np.diag([1.2, 1.0, 1.5, 1.0]))
    nib.save(img, d / "t1.nii.gz")
    (d / "ehr.json").write_text(json.dumps({"age": 74, "sex": "male", "mmse": 29, "cdr": 0.5}))
    torch.manual_seed(0)
    from engine.config import preset
    from engine.model import AlifuseModel

    save_checkpoint(AlifuseModel(preset("tiny")), d / "tiny.safetensors", ["NC", "MCI", "AD"],
                    {"trained": True, "note": "test"})
    return d


def run(argv, capsys):
    """Run the command's entry point in-process; returns (exit code, stdout, stderr)."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_json_prediction(case, capsys):
    code, out, err = run([case / "t1.nii.gz", "--ehr", case / "ehr.json", "--checkpoint", case / "tiny.safetensors",
                          "--device", "cpu", "--json"], capsys)
    assert code == 0, err
    res = json.loads(out)
    assert res["label"] in ("NC", "MCI", "AD")
    assert set(res["probabilities"]) == {"NC", "MCI", "AD"}
    assert sum(res["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    assert res["label"] == max(res["probabilities"], key=res["probabilities"].get)
    assert "The MMSE score is 29." in res["text"] and "education" not in res["text"]
    assert res["tokens"][0] == "[CLS]" and res["tokens"][-1] == "[SEP]"
    assert res["device"] == "cpu" and res["trained"] is True and len(res["checkpoint_id"]) == 12
    assert {"preprocess_s", "model_s"} <= set(res["timings"])


def test_readable_summary_and_out_dir(case, capsys, tmp_path):
    code, out, err = run([case / "t1.nii.gz", "--ehr", case / "ehr.json", "--checkpoint", case / "tiny.safetensors",
                          "--out", tmp_path / "o"], capsys)
    assert code == 0, err
    assert out.startswith("Prediction: ") and "not a medical device" in out
    saved = json.loads((tmp_path / "o" / "prediction.json").read_text())
    assert saved["label"] == out.split()[1]


def test_default_checkpoint_is_the_bundled_demo_and_says_if_untrained(case, capsys):
    code, out, err = run([case / "t1.nii.gz", "--ehr", case / "ehr.json", "--json"], capsys)
    assert code == 0, err
    res = json.loads(out)
    if DEMO_CHECKPOINT.is_file():
        assert res["checkpoint"] == str(DEMO_CHECKPOINT)
        assert res["trained"] == (not any("UNTRAINED" in n for n in res["notes"]))
        from engine.checkpoint import read_info

        if read_info(DEMO_CHECKPOINT).calibration is None:  # written before calibration existed: says so
            assert res["calibrated"] is False and res["certainty"].startswith("Not calibrated")
        else:  # the shipped model is calibrated: its verdict follows its threshold
            assert res["calibrated"] is True and res["uncertain_below"] is not None
            assert (res["verdict"] == "uncertain") == (res["confidence"] < res["uncertain_below"])
    else:
        assert res["trained"] is False and any("UNTRAINED" in n for n in res["notes"])


def _write_bad_images(d: Path) -> dict[str, Path]:
    good = nib.Nifti1Image(_brain(), np.eye(4))
    files = {}
    files["missing"] = d / "nope.nii.gz"
    (d / "notes.nii").write_text("this is not an image")
    files["not_image"] = d / "notes.nii"
    nib.save(good, d / "full.nii.gz")
    raw = (d / "full.nii.gz").read_bytes()
    (d / "trunc.nii.gz").write_bytes(raw[: len(raw) // 2])
    files["truncated"] = d / "trunc.nii.gz"
    (d / "empty.nii").write_bytes(b"")
    files["empty"] = d / "empty.nii"
    nib.save(nib.Nifti1Image(np.ones((20, 20), np.float32), np.eye(4)), d / "flat.nii")
    files["2d"] = d / "flat.nii"
    nib.save(nib.Nifti1Image(np.ones((8, 8, 8, 2, 2), np.float32), np.eye(4)), d / "five.nii")
    files["5d"] = d / "five.nii"
    nib.save(nib.Nifti1Image(np.zeros((16, 16, 16), np.float32), np.eye(4)), d / "zero.nii.gz")
    files["all_zero"] = d / "zero.nii.gz"
    return files


@pytest.mark.parametrize("kind", ["missing", "not_image", "truncated", "empty", "2d", "5d", "all_zero"])
def test_bad_image_one_line_exit_2(case, capsys, tmp_path, kind):
    path = _write_bad_images(tmp_path)[kind]
    code, out, err = run([path, "--ehr", case / "ehr.json", "--checkpoint", case / "tiny.safetensors"], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("alifuse: error: ") and path.name in err
    assert "Traceback" not in err


BAD_EHR = {
    "syntax": (b'{"age": 70,', "line 1"),
    "non_utf8": (b'{"summary": "\xff\xfe caf\xe9"}', "UTF-8"),
    "unknown": (b'{"weight": 80}', "weight"),
    "wrong_type": (b'{"mmse": "twenty"}', "mmse"),
    "mmse_31": (b'{"mmse": 31}', "mmse"),
    "age_negative": (b'{"age": -3}', "age"),
    "cdr_0.7": (b'{"cdr": 0.7}', "cdr"),
    "empty": (b"", "empty"),
    "list": (b"[1, 2]", "object"),
}


@pytest.mark.parametrize("kind", sorted(BAD_EHR))
def test_bad_record_one_line_exit_2(case, capsys, tmp_path, kind):
    content, needle = BAD_EHR[kind]
    path = tmp_path / f"{kind}.json"
    path.write_bytes(content)
    code, out, err = run([case / "t1.nii.gz", "--ehr", path, "--checkpoint", case / "tiny.safetensors"], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("alifuse: error: ")
    assert path.name in err and needle.lower() in err.lower()


def test_bad_checkpoint_and_device(case, capsys, tmp_path):
    pickled = tmp_path / "model.pt"
    torch.save({"w": torch.zeros(1)}, pickled)
    code, _, err = run([case / "t1.nii.gz", "--ehr", case / "ehr.json", "--checkpoint", pickled], capsys)
    assert code == 2 and "pickled" in err and err.count("\n") == 1
    if not torch.cuda.is_available():
        code, _, err = run([case / "t1.nii.gz", "--ehr", case / "ehr.json", "--device", "cuda"], capsys)
        assert code == 2 and "--device cuda" in err
    code, _, err = run([case / "t1.nii.gz", "--ehr", case / "ehr.json", "--device", "tpu"], capsys)
    assert code == 2 and "--device tpu" in err


def test_installed_command_end_to_end(case, tmp_path):
    """The console script itself: exit codes, stdout JSON, one-line stderr, no traceback."""
    exe = BIN / "alifuse-predict"
    ok = subprocess.run([exe, case / "t1.nii.gz", "--ehr", case / "ehr.json", "--checkpoint",
                         case / "tiny.safetensors", "--json"], capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["label"] in ("NC", "MCI", "AD")
    bad = tmp_path / "bad.json"
    bad.write_text('{"mmse": 31}')
    res = subprocess.run([exe, case / "t1.nii.gz", "--ehr", bad], capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr.strip().splitlines() == [res.stderr.strip()] and "'mmse'" in res.stderr
    helptext = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=300).stdout
    for opt in ("--ehr", "--checkpoint", "--device", "--out", "--json"):
        assert opt in helptext


def test_explain_writes_a_map_on_the_input_grid(case, capsys, tmp_path):
    out = tmp_path / "expl"
    code, stdout, err = run([case / "t1.nii.gz", "--ehr", case / "ehr.json", "--checkpoint", case / "tiny.safetensors",
                             "--explain", "relevance", "--out", out, "--json"], capsys)
    assert code == 0, err
    res = json.loads(stdout)
    assert res["explanation"]["method"] == "relevance"
    src = nib.load(case / "t1.nii.gz")
    rel = nib.load(out / "relevance.nii.gz")
    assert rel.shape == src.shape and np.allclose(rel.affine, src.affine)
    data = np.asarray(rel.dataobj)
    assert 0 <= data.min() and data.max() <= 1 and data.max() > 0
    words = json.loads((out / "words.json").read_text())
    assert words  # one entry per word of the text
    code, _, err = run([case / "t1.nii.gz", "--ehr", case / "ehr.json", "--explain", "relevance"], capsys)
    assert code == 2 and "--out" in err and err.count("\n") == 1


def test_explain_says_how_much_the_prediction_rests_on_each_modality(case, capsys, tmp_path):
    """The printed summary names the files and gives the two hide-one-modality sentences; reliance.json holds the
    same figures as the --json output."""
    out = tmp_path / "expl"
    argv = [case / "t1.nii.gz", "--ehr", case / "ehr.json", "--checkpoint", case / "tiny.safetensors",
            "--explain", "occlusion", "--out", out]
    code, stdout, err = run(argv, capsys)
    assert code == 0, err
    reliance = json.loads((out / "reliance.json").read_text())
    label = stdout.splitlines()[0].removeprefix("Prediction: ")
    assert reliance["target_name"] == label
    assert f"Explanation (occlusion) of {label}: {out / 'relevance.nii.gz'}, " in stdout
    printed = [ln.strip() for ln in stdout.splitlines() if ln.startswith("  Without the ")]
    assert printed == [ln for ln in reliance["lines"] if ln.startswith("Without the ")]
    assert [ln[:len("Without the MRI")] for ln in printed] == ["Without the MRI", "Without the rec"]
    code, stdout, err = run([*argv, "--json"], capsys)
    assert code == 0, err
    assert json.loads(stdout)["explanation"]["reliance"] == reliance


def test_a_model_trained_without_an_ehr_part_reads_the_same_text(case, capsys, tmp_path):
    from engine.config import preset
    from engine.model import AlifuseModel

    torch.manual_seed(0)
    ckpt = tmp_path / "nolab.safetensors"
    save_checkpoint(AlifuseModel(preset("tiny")), ckpt, ["NC", "MCI", "AD"],
                    {"trained": True, "without_ehr": ["lab_results"]})
    code, out, err = run([case / "t1.nii.gz", "--ehr", case / "ehr.json", "--checkpoint", ckpt, "--json"], capsys)
    assert code == 0, err
    text = json.loads(out)["text"]
    assert "MMSE" not in text and "CDR" not in text and "74 years" in text


def test_interactive_commands_let_idle_threads_sleep(case, monkeypatch):
    """alifuse-predict sets OMP_WAIT_POLICY=PASSIVE before torch loads, unless the user chose a policy."""
    code = ("import os, sys\n"
            "from engine.cli_predict import main\n"
            f"rc = main([{str(case / 't1.nii.gz')!r}, '--ehr', {str(case / 'ehr.json')!r}, '--checkpoint', "
            f"{str(case / 'tiny.safetensors')!r}, '--json'])\n"
            "print(rc, os.environ.get('OMP_WAIT_POLICY'))\n")
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "0 PASSIVE"
    chosen = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                            env={**env, "OMP_WAIT_POLICY": "ACTIVE"})
    assert chosen.stdout.strip().splitlines()[-1] == "0 ACTIVE"
    # once torch is loaded it is too late: nothing is changed, and the caller is told so
    from engine.cli_common import prefer_sleeping_threads

    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    assert "torch" in sys.modules and prefer_sleeping_threads() is False and "OMP_WAIT_POLICY" not in os.environ


@pytest.mark.parametrize("where", ["/proc/x", "/proc/self/new/out", "/dev/null/x", "/sys/alifuse-out", "file",
                                   "read-only"])
def test_an_out_folder_that_cannot_be_written_is_one_line_exit_2(case, capsys, tmp_path, where, monkeypatch):
    """Issue 13, item 15: ``--out /proc/x`` printed "internal error: FileNotFoundError" and exited 1, after the model
    had loaded and predicted. Now: exit 2, one line naming the folder, before any model is loaded."""
    import os

    if where == "file":
        (tmp_path / "a_file").write_text("x")
        where = str(tmp_path / "a_file")
    elif where == "read-only":
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        if os.access(ro, os.W_OK):  # root writes anywhere: stand in for the kernel's refusal
            import tempfile

            def refuse(*a, **k):
                raise PermissionError(13, "Permission denied")
            monkeypatch.setattr(tempfile, "mkstemp", refuse)
        where = str(ro)
    import engine.predict

    loaded = []
    monkeypatch.setattr(engine.predict.Predictor, "__init__", lambda *a, **k: loaded.append(1) or 1 / 0)
    for extra in ([], ["--explain", "relevance"]):
        code, out, err = run([case / "t1.nii.gz", "--ehr", case / "ehr.json", "--checkpoint",
                              case / "tiny.safetensors", "--out", where, *extra], capsys)
        assert code == 2 and out == "" and err.count("\n") == 1, err
        assert err.startswith(f"alifuse: error: --out {where}: ") and "internal error" not in err
        assert "Traceback" not in err
    assert loaded == []  # refused before the model loaded
    assert not os.path.exists(os.path.join(where, "prediction.json"))


def test_out_folder_check_creates_and_keeps_nothing_but_the_folder(tmp_path):
    from engine.cli_common import prepare_out_dir

    out = prepare_out_dir(tmp_path / "new" / "deeper")
    assert out.is_dir() and list(out.iterdir()) == []
    assert prepare_out_dir(out) == out  # an existing, writable folder is fine
