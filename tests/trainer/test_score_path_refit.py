"""Refitting the score path with random subsets of the scores (trainer.score_path_refit): one score alone is read
as surely as the data allow, not as surely as four that agree, and nothing but the path changes."""
from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from engine.checkpoint import load_checkpoint
from engine.score_path import ScorePath
from tests.trainer.conftest import run_command, write_toy_cohort
from trainer.cli_train import main as train_main
from trainer.score_path_fit import fit_score_path, roughness, with_score_subsets
from trainer.score_path_refit import main as refit_main

NAN = math.nan


def test_copies_keep_the_cases_first_and_hide_only_scores():
    scores = torch.tensor([[20.0, 1.0, NAN, 3.0], [29.0, 0.0, 0.0, 12.0]])
    labels, base = torch.tensor([2, 0]), torch.randn(2, 3)
    s, y, b = with_score_subsets(scores, labels, base, copies=50, keep=0.5, seed=3)
    assert s.shape == (102, 4) and y.tolist() == [2, 0] * 51 and torch.equal(b, base.repeat(51, 1))
    assert torch.equal(torch.nan_to_num(s[:2], -1), torch.nan_to_num(scores, -1)), "the cases as recorded come first"
    same = torch.isnan(s) | (s == scores.repeat(51, 1))
    assert same.all(), "a copy only hides scores, it never changes one"
    assert torch.isnan(s[2:, 2][::2]).all(), "a missing score stays missing"
    hidden = torch.isnan(s[2:]).float().mean()
    assert 0.45 < float(hidden) < 0.75  # half of the known ones, plus the one never known
    again = with_score_subsets(scores, labels, base, copies=50, keep=0.5, seed=3)[0]
    assert torch.equal(torch.nan_to_num(again, -1), torch.nan_to_num(s, -1))


def _four_noisy_scores(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Labels from a latent severity; each score reads it with noise: together sure, alone much less."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 3, (n,), generator=g)
    sev = (labels.float() + torch.rand(n, generator=g)) / 3
    noisy = lambda scale: (sev + 0.35 * torch.randn(n, generator=g)).clamp(0, 1) * scale  # noqa: E731
    scores = torch.stack([30 - noisy(30), noisy(3).div(0.5).round().mul(0.5), noisy(18).round(), 25 - noisy(25)], -1)
    return scores, labels


def test_a_path_fitted_with_subsets_reads_one_score_alone_less_surely():
    scores, labels = _four_noisy_scores(1500, 0)
    plain, subsets = ScorePath(3, 6), ScorePath(3, 6)
    fit_score_path(plain, scores, labels)
    s, y, b = with_score_subsets(scores, labels, torch.zeros(len(labels), 3), copies=4, keep=0.3, seed=0)
    fit_score_path(subsets, s, y, b)
    test_scores, test_labels = _four_noisy_scores(1500, 1)
    one = torch.full_like(test_scores, NAN)
    one[:, 0] = test_scores[:, 0]  # MMSE alone
    with torch.no_grad():
        ce = {name: float(F.cross_entropy(p(one), test_labels)) for name, p in (("plain", plain), ("subsets", subsets))}
        all_four = {name: float(F.cross_entropy(p(test_scores), test_labels))
                    for name, p in (("plain", plain), ("subsets", subsets))}
    assert ce["subsets"] < ce["plain"] - 0.05, ce
    assert all_four["subsets"] < all_four["plain"] + 0.05, all_four  # records with all four lose (almost) nothing


def test_smoothing_straightens_a_score_s_reading_at_little_cost_in_fit():
    """--smooth: the rises of neighbouring pieces are asked to agree; the estimate comes out smoother (less rough)
    while the cross-entropy on held-out records, one score alone and all four, stays about where it was."""
    scores, labels = _four_noisy_scores(600, 0)  # held out: 1,500
    s, y, b = with_score_subsets(scores, labels, torch.zeros(len(labels), 3), copies=4, keep=0.5, seed=0)
    paths = {lam: ScorePath(3, 12, own_terms=True) for lam in (0.0, 0.01)}
    for lam, p in paths.items():
        fit_score_path(p, s, y, b, smooth=lam)
    with torch.no_grad():
        rough = {lam: float(roughness(p)) for lam, p in paths.items()}
        test_scores, test_labels = _four_noisy_scores(1500, 1)
        one = torch.full_like(test_scores, NAN)
        one[:, 0] = test_scores[:, 0]
        ce = {lam: [float(F.cross_entropy(p(x), test_labels)) for x in (one, test_scores)] for lam, p in paths.items()}
    assert rough[0.01] < 0.5 * rough[0.0], rough
    assert all(a < b + 0.03 for a, b in zip(ce[0.01], ce[0.0])), ce


def _a_score_the_others_decide(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Three sharp scores and a fourth (delayed recall) so noisy that beside them it tells the fit almost nothing."""
    scores, labels = _four_noisy_scores(n, seed)
    g = torch.Generator().manual_seed(seed + 100)
    sev = labels.float() / 2
    sharp = lambda scale: (sev + 0.05 * torch.randn(n, generator=g)).clamp(0, 1) * scale  # noqa: E731
    scores[:, 0], scores[:, 2] = 30 - sharp(30), sharp(18).round()
    scores[:, 1] = sharp(3).div(0.5).round().mul(0.5)
    scores[:, 3] = 25 - (sev + 1.5 * torch.randn(n, generator=g)).clamp(0, 1) * 25
    return scores, labels


def test_a_floor_on_each_score_s_own_rise_makes_it_move_the_stage_beside_any_others():
    """min_rise: the other three scores decide every case, so the fit leaves the fourth's own term nearly flat;
    with the floor, moving it from its healthy to its impaired end raises each threshold's level by at least the
    floor beside every context, and the path left behind is an ordinary one (the checkpoint format is unchanged)."""
    scores, labels = _a_score_the_others_decide(1500, 0)
    paths = {m: ScorePath(3, 12, own_terms=True) for m in (0.0, 3.0)}
    for m, p in paths.items():
        fit_score_path(p, scores, labels, min_rise=m)
    healthy, impaired = scores.clone(), scores.clone()
    healthy[:, 3], impaired[:, 3] = 25.0, 0.0
    with torch.no_grad():
        move = {m: (p(impaired) - p(healthy))[:, 1:] for m, p in paths.items()}  # (N, 2): t_1 and t_1 + t_2
        levels = {m: torch.stack([move[m][:, 0], move[m][:, 1] - move[m][:, 0]], -1) for m in paths}
    assert float(levels[0.0].min()) < 1.0, "without the floor recall must move some context little (else no test)"
    assert float(levels[3.0].min()) >= 3.0 * (1 - 1e-4), levels[3.0].min()
    p = paths[3.0]
    assert type(p.raw_own_rise) is torch.nn.Parameter and not torch.nn.utils.parametrize.is_parametrized(p)
    assert set(p.state_dict()) == set(ScorePath(3, 12, own_terms=True).state_dict())
    rise = F.softplus(p.raw_own_rise.detach())
    assert float(rise.min()) >= 3.0 / 12 * (1 - 1e-4), "the floor holds for every piece, not only the sum"
    with pytest.raises(ValueError, match="own terms"):
        fit_score_path(ScorePath(3, 4), scores, labels, min_rise=1.0)


@pytest.fixture(scope="module")
def numbers_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("refit")
    cohort = write_toy_cohort(d / "toy", 12).parent
    out = d / "run"
    assert train_main(["--data", str(cohort), "--preset", "tiny", "--out", str(out), "--epochs", "1",
                       "--batch-size", "4", "--set", "score_knots=4", "--record-only", "30"]) == 0
    return cohort, out / "last.safetensors", d


def test_the_refit_changes_the_path_only_and_says_so(numbers_run, capsys):
    cohort, ckpt, d = numbers_run
    out = d / "refit.safetensors"
    code, io = run_command(refit_main, ["--checkpoint", ckpt, "--data", cohort, "--out", out, "--copies", "2"], capsys)
    assert code == 0, io.err
    before, _ = load_checkpoint(ckpt, calibrated=False)
    after, info = load_checkpoint(out, calibrated=False)
    refit = info.provenance["score_path_refit"]
    assert refit["cases"] == 8 + 30 and refit["copies"] == 2  # the toy run's training split and its record-only
    assert refit["cross_entropy"] < refit["cross_entropy_before"]
    a, b = before.state_dict(), after.state_dict()
    moved = {k for k in a if not torch.equal(a[k], b[k])}
    assert moved and all(k.startswith("score_path.") for k in moved), moved
    assert "cross-entropy" in io.out and str(out) in io.out and "uncalibrated" in io.out
    sidecar = json.loads((d / "refit.safetensors.json").read_text())  # for scripts/demo_run_record.py
    assert sidecar["seconds"] > 0 and sidecar["started"] and sidecar["cases"] == refit["cases"]
    assert info.config.score_sum == 0 and not refit["own_terms"]


def test_the_refit_can_give_each_score_a_term_of_its_own(numbers_run, capsys):
    cohort, ckpt, d = numbers_run
    out = d / "own.safetensors"
    code, io = run_command(refit_main, ["--checkpoint", ckpt, "--data", cohort, "--out", out, "--own-terms",
                                        "--min-rise", "2"], capsys)
    assert code == 0, io.err
    before, _ = load_checkpoint(ckpt, calibrated=False)
    after, info = load_checkpoint(out, calibrated=False)
    assert info.config.score_sum == 1 and info.provenance["score_path_refit"]["own_terms"]
    assert info.provenance["score_path_refit"]["smooth"] == 0.0
    assert info.provenance["score_path_refit"]["min_rise"] == 2.0
    span = torch.nn.functional.softplus(after.score_path.raw_own_rise.detach()).sum(-1)  # (C-1, F), as loaded
    assert float(span.min()) >= 2.0 * (1 - 1e-4), span
    a, b = before.state_dict(), after.state_dict()
    assert set(b) - set(a) == {"score_path.raw_own_rise", "score_path.own_offset"}
    assert all(torch.equal(a[k], b[k]) for k in a if not k.startswith("score_path.")), "only the path changes"
    rise = torch.nn.functional.softplus(after.score_path.raw_own_rise.detach())
    assert float(rise.sum()) > 0.1, "the terms were fitted"


def test_skip_if_done_keeps_a_refit_of_the_same_command_and_redoes_one_of_other_options(numbers_run, capsys):
    """--skip-if-done (the recipe's step 11): OUT written by this very command from this checkpoint is kept; changed
    options, or no sidecar saying what wrote it, refit."""
    cohort, ckpt, d = numbers_run
    out = d / "skip.safetensors"
    args = ["--checkpoint", ckpt, "--data", cohort, "--out", out, "--copies", "1"]
    code, io = run_command(refit_main, [*args, "--skip-if-done"], capsys)
    assert code == 0 and "Wrote" in io.out, io.err
    stamp = out.stat().st_mtime_ns
    code, io = run_command(refit_main, [*args, "--skip-if-done"], capsys)
    assert code == 0 and "nothing to do" in io.out and out.stat().st_mtime_ns == stamp
    code, io = run_command(refit_main, [*args, "--keep", "0.3", "--skip-if-done"], capsys)
    assert code == 0 and "Wrote" in io.out, "other options: refitted"
    assert load_checkpoint(out, calibrated=False)[1].provenance["score_path_refit"]["keep"] == 0.3
    (d / "skip.safetensors.json").unlink()
    code, io = run_command(refit_main, [*args, "--keep", "0.3", "--skip-if-done"], capsys)
    assert code == 0 and "Wrote" in io.out, "no record of what wrote it: refitted"


def test_the_refit_refuses_other_data_a_text_reading_model_and_bad_options(numbers_run, capsys, tmp_path):
    cohort, ckpt, d = numbers_run
    other = write_toy_cohort(tmp_path / "other", 15, seed=4).parent
    code, io = run_command(refit_main, ["--checkpoint", ckpt, "--data", other, "--out", tmp_path / "x.safetensors"],
                           capsys)
    assert code != 0 and "--data" in io.err and "not the subjects the checkpoint trained on" in io.err
    assert not (tmp_path / "x.safetensors").exists()
    text_run = tmp_path / "text"
    assert train_main(["--data", str(cohort), "--preset", "tiny", "--out", str(text_run), "--epochs", "1",
                       "--batch-size", "4"]) == 0
    code, io = run_command(refit_main, ["--checkpoint", text_run / "last.safetensors", "--data", cohort,
                                        "--out", tmp_path / "x.safetensors"], capsys)
    assert code != 0 and "--checkpoint" in io.err and "no score path" in io.err
    code, io = run_command(refit_main, ["--checkpoint", ckpt, "--data", cohort, "--out", ckpt], capsys)
    assert code != 0 and "--out" in io.err and "is the --checkpoint itself" in io.err
    code, io = run_command(refit_main, ["--checkpoint", ckpt, "--data", cohort, "--out", tmp_path / "x.safetensors",
                                        "--min-rise", "2"], capsys)
    assert code != 0 and "--min-rise" in io.err and "--own-terms" in io.err
    assert not (tmp_path / "x.safetensors").exists()
    for opt, value in (("--keep", "1"), ("--copies", "-1"), ("--bare-copies", "5"), ("--smooth", "-0.1"),
                       ("--smooth", "nan"), ("--min-rise", "-1"), ("--min-rise", "inf")):
        code, io = run_command(refit_main, ["--checkpoint", ckpt, "--data", cohort, "--out",
                                            tmp_path / "x.safetensors", opt, value], capsys)
        assert code != 0 and opt in io.err


def test_copies_resting_on_the_bare_record_teach_what_the_scores_say_alone(numbers_run, capsys):
    """--bare-copies: some copies rest on the record without its summary and with the MRI hidden. The fit then meets
    the scores without the scan and the summary that, beside them, say much of the same."""
    cohort, ckpt, d = numbers_run
    outs = {}
    for bare in (0, 2):
        out = d / f"bare{bare}.safetensors"
        code, io = run_command(refit_main, ["--checkpoint", ckpt, "--data", cohort, "--out", out, "--copies", "2",
                                            "--bare-copies", bare], capsys)
        assert code == 0, io.err
        outs[bare] = load_checkpoint(out, calibrated=False)
    assert outs[2][1].provenance["score_path_refit"]["bare_copies"] == 2
    a, b = outs[0][0].score_path.state_dict(), outs[2][0].score_path.state_dict()
    assert any(not torch.equal(a[k], b[k]) for k in a), "the bare copies changed what the path was fitted to"


def _unlike_lengths(cohort, model, info):
    """The toy cohort's records, some without their summary, some with a few fields only, in no order of length."""
    from trainer.data_source import load_records
    from trainer.dataset import CaseDataset

    records, _ = load_records(str(cohort), need_images=True)
    keep = (None, ("age", "sex", "mmse"), ("age",))
    records = [dataclasses.replace(r, ehr={k: v for k, v in r.ehr.items() if k != "summary" and (
        keep[i % 3] is None or k in keep[i % 3])}) if i % 2 else r for i, r in enumerate(records)]
    ds = CaseDataset(records, model.cfg, info.class_names)
    lengths = [int(t.attention_mask.sum()) for t in ds.texts]
    assert len(set(lengths)) > 3 and lengths != sorted(lengths), "the cohort must hold records of unlike length"
    return ds


def test_base_logits_read_shortest_first_are_each_cases_own_in_the_datasets_order(numbers_run):
    """The pass under the fit batches records of like length and cuts their padding; every case must still get the
    logits it gets alone, padded to max_tokens, in its own row."""
    from trainer.score_path_fit import base_logits
    from engine.explain.reliance import hidden_scores

    cohort, ckpt, _ = numbers_run
    model, info = load_checkpoint(ckpt, calibrated=False)
    ds = _unlike_lengths(cohort, model, info)
    got = base_logits(model, ds, torch.device("cpu"), batch=4)
    model.eval()
    with torch.no_grad():
        alone = torch.cat([model(ds.image(i)[None], t.input_ids[None], t.attention_mask[None],
                                 scores=hidden_scores(t.scores[None])) for i, t in enumerate(ds.texts)])
    assert got.shape == alone.shape
    assert torch.allclose(got, alone, atol=1e-4), (got - alone).abs().max()


def test_predictions_with_each_batch_cut_to_its_longest_are_each_cases_own(numbers_run):
    """trainer.loop.predict_dataset (validation while training, the docs' reports) cuts each batch's padding; every
    case must still get the probabilities it gets alone, padded to max_tokens."""
    from trainer.loop import predict_dataset

    cohort, ckpt, _ = numbers_run
    model, info = load_checkpoint(ckpt, calibrated=False)
    ds = _unlike_lengths(cohort, model, info)
    got = predict_dataset(model, ds, torch.device("cpu"), batch=4)
    with torch.no_grad():
        alone = torch.cat([torch.softmax(model(ds.image(i)[None], t.input_ids[None], t.attention_mask[None],
                                               scores=t.scores[None]), -1) for i, t in enumerate(ds.texts)])
    assert got.shape == tuple(alone.shape)
    assert np.allclose(got, alone.numpy(), atol=1e-5), np.abs(got - alone.numpy()).max()
