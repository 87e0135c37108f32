"""``python -m trainer.explain_checks`` end to end on a tiny checkpoint and a 3-subject synthetic cohort."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from engine.checkpoint import save_checkpoint
from engine.config import preset
from engine.model import AlifuseModel
from trainer.explain_checks.cli import main

METHODS = ("relevance", "integrated_gradients", "occlusion", "attention")


@pytest.fixture(scope="module")
def tiny_setup(tmp_path_factory):
    """(checkpoint, cohort folder): 3 subjects NC, MCI, AD ("small" images); ~12 s, most of it the cohort."""
    from trainer.synth.cohort import make_cohort

    d = tmp_path_factory.mktemp("explain_checks")
    records = make_cohort(d / "cohort", 3, seed=0, size="small")
    assert sorted(r.label for r in records) == ["AD", "MCI", "NC"]
    torch.manual_seed(0)
    ckpt = d / "tiny.safetensors"
    save_checkpoint(AlifuseModel(preset("tiny")), ckpt, ["NC", "MCI", "AD"], {"trained": True, "seed": 0})
    return ckpt, d / "cohort"


@pytest.fixture(scope="module")
def run(tiny_setup, tmp_path_factory):
    """One run over all three subjects; occlusion on the first one only."""
    ckpt, cohort = tiny_setup
    out = tmp_path_factory.mktemp("out")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rc = main(["--checkpoint", str(ckpt), "--data", str(cohort), "--split", "all", "--label", "all",
                   "--max-cases", "3", "--max-cases-slow", "1", "--draws", "2", "--ig-steps", "2", "--cascade",
                   "--out", str(out)])
    finally:
        torch.set_num_threads(before)
    return rc, out


@pytest.mark.slow
def test_results_json_holds_every_check_for_every_method(run):
    rc, out = run
    assert rc == 0
    res = json.loads((out / "results.json").read_text())
    for key in ("checkpoint_id", "settings", "sanity", "deletion", "localisation", "modality_drop", "cases",
                "figures"):
        assert key in res, key
    assert res["settings"]["fill"] == "zero" and res["settings"]["fraction"] == 0.1
    assert len(res["cases"]) == 3
    assert res["modality_drop"]["image"]["n"] == 3 and res["modality_drop"]["text"]["n"] == 3
    for m in METHODS:
        n = 1 if m == "occlusion" else 3
        assert res["sanity"][m]["image_rho"]["n"] == n, m
        assert -1 <= res["sanity"][m]["image_rho"]["mean"] <= 1
        assert res["deletion"][m]["image"]["top_drop"]["n"] == n
        assert res["deletion"][m]["text"]["top_beats_random"]["n"] == n
        # the only AD subject (the third) is localised, by all but occlusion (first subject only)
        loc = res["localisation"][m]["trained"]
        assert loc["ratio"]["n"] == (0 if m == "occlusion" else 1), m
        if m != "occlusion":
            assert 0 < loc["mask_share"]["mean"] < 1, "the planted mask covers part of the brain, not all of it"
            assert 0 <= loc["share"]["mean"] <= 1
    ad = [c for c in res["cases"] if c["label"] == "AD"]
    assert len(ad) == 1 and "localisation" in ad[0]["methods"]["relevance"]
    assert all("localisation" not in c["methods"]["relevance"] for c in res["cases"] if c["label"] != "AD")


@pytest.mark.slow
def test_markdown_tables_and_figures_are_written(run):
    _, out = run
    md = (out / "results.md").read_text()
    assert md.count("| method |") == 5  # sanity (+ 2 cascade tables), deletion, localisation
    for m in METHODS:
        assert md.count(f"| {m} |") == (3 if m == "occlusion" else 5), m
    res = json.loads((out / "results.json").read_text())
    assert set(res["figures"]) == {"case_maps.png", "sanity.png", "deletion.png", "localisation.png",
                                   "cascade.png"}
    for name in res["figures"]:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_missing_checkpoint_is_a_one_line_error_with_exit_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--checkpoint", str(tmp_path / "nope.safetensors"), "--data", str(tmp_path)])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("alifuse: error:") and "nope.safetensors" in err and "not found" in err
    assert len(err.splitlines()) == 1


def test_a_pickled_checkpoint_is_refused_through_the_real_command(tmp_path):
    bad = tmp_path / "model.pt"
    torch.save({"w": torch.zeros(2)}, bad)
    proc = subprocess.run([sys.executable, "-m", "trainer.explain_checks", "--checkpoint", str(bad),
                           "--data", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.startswith("alifuse: error:") and "model.pt" in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("option, value, words", [
    ("--fraction", "1.5", "--fraction 1.5"),
    ("--max-cases", "0", "--max-cases 0"),
    ("--methods", "saliency", "saliency"),
])
def test_bad_options_are_one_line_errors(tmp_path, capsys, option, value, words):
    with pytest.raises(SystemExit) as exc:
        main(["--checkpoint", str(tmp_path / "x.safetensors"), "--data", str(tmp_path), option, value])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("alifuse: error:") and words in err and len(err.splitlines()) == 1


@pytest.mark.slow
def test_a_split_without_the_wanted_label_names_the_options(tiny_setup, capsys):
    ckpt, cohort = tiny_setup
    with pytest.raises(SystemExit) as exc:
        main(["--checkpoint", str(ckpt), "--data", str(cohort), "--split", "all", "--label", "impaired"])
    assert exc.value.code == 2
    assert "--label impaired: no cases" in capsys.readouterr().err


@pytest.mark.slow
def test_cascading_randomisation_shows_raw_attention_is_blind_to_the_classifier_head(run):
    _, out = run
    casc = json.loads((out / "results.json").read_text())["cascade"]
    assert "occlusion" not in casc, "the slow method is left out of the cascade"
    assert list(casc["relevance"]) == ["head", "head+top1", "head+top2", "all"]  # tiny: 2 blocks per encoder
    # attention does not look at the fusion head: re-initialising only the head leaves its map unchanged
    assert casc["attention"]["head"]["image_rho"]["mean"] == pytest.approx(1.0)
    assert casc["attention"]["head"]["text_rho"]["mean"] == pytest.approx(1.0)
    # relevance follows the head's gradient, so a new head changes it
    assert casc["relevance"]["head"]["image_rho"]["mean"] < 0.95
    res = json.loads((out / "results.json").read_text())
    same = res["sanity"]["relevance"]["image_rho"]["mean"]
    assert casc["relevance"]["all"]["image_rho"]["mean"] == pytest.approx(same), "'all' is the sanity model"


@pytest.mark.slow
@pytest.mark.parametrize("modality", ["image", "text"])
def test_a_one_modality_model_is_checked_on_the_modality_it_reads(tiny_setup, tmp_path, modality):
    _, cohort = tiny_setup
    torch.manual_seed(0)
    ckpt = tmp_path / f"{modality}.safetensors"
    save_checkpoint(AlifuseModel(preset("tiny", modalities=(modality,))), ckpt, ["NC", "MCI", "AD"],
                    {"trained": True, "seed": 0})
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rc = main(["--checkpoint", str(ckpt), "--data", str(cohort), "--split", "all", "--methods", "relevance",
                   "--ig-steps", "2", "--draws", "2", "--out", str(tmp_path / "out")])
    finally:
        torch.set_num_threads(before)
    assert rc == 0
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    other = "text" if modality == "image" else "image"
    assert res["deletion"]["relevance"][modality]["top_drop"]["n"] == 1
    assert res["deletion"]["relevance"][other]["top_drop"]["n"] == 0, "nothing to delete in an unread modality"
    assert res["sanity"]["relevance"][f"{other}_rho"]["n"] == 0
    assert res["localisation"]["relevance"]["trained"]["ratio"]["n"] == (1 if modality == "image" else 0)


@pytest.mark.parametrize("where", ["/proc/x", "/dev/null/x"])
def test_an_out_folder_that_cannot_be_written_is_refused_before_any_work(tmp_path, capsys, where):
    """The same --out check as alifuse-predict's: one line naming the folder, exit 2, before the checkpoint is read
    (it used to fail with a traceback after every check had run)."""
    with pytest.raises(SystemExit) as exc:
        main(["--checkpoint", str(tmp_path / "x.safetensors"), "--data", str(tmp_path), "--out", where])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"alifuse: error: --out {where}: ") and len(err.splitlines()) == 1
