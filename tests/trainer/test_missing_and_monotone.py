"""Training for missing data and monotone reading: field / record / image dropout, record-only cases, the
pairwise monotonicity penalty, the padding trim, and starting a run from another run's image encoder."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from engine.checkpoint import load_checkpoint, read_info
from engine.config import parse_field, preset
from engine.errors import AlifuseInputError
from trainer.augment import RecordAugment, case_rng
from trainer.cli_train import main as train_main
from trainer.dataset import CaseDataset
from trainer.batching import trim_collate
from trainer.monotone import (SCORES, cumulative_log_odds, expected_stage, margin_penalty, moved_fraction,
                              neighbour_pair, penalty, scale_values, shifted_copy)
from trainer.mri_weight import mri_margin_penalty
from trainer.records import read_manifest
from trainer.synth.records_only import record_only_cases

FULL = {"subject_id": "s1", "age": 74, "sex": "female", "education_years": 12, "mmse": 24, "cdr": 0.5,
        "cdr_sb": 2.5, "logical_memory_delayed": 6, "summary": "She forgets appointments."}


def test_field_dropout_is_per_field_reproducible_and_never_invents_a_value():
    aug = RecordAugment(field_drop=0.5, record_empty=0.0, record_masked=0.0, image_drop=0.0)
    seen = set()
    for i in range(200):
        kept, how, drop_image = aug.draw(FULL, case_rng(3, 1, i))
        assert how == "kept" and not drop_image
        assert kept["subject_id"] == "s1" and all(FULL[k] == v for k, v in kept.items())
        seen.add(frozenset(kept))
        assert aug.draw(FULL, case_rng(3, 1, i)) == (kept, how, drop_image), "same seed, epoch, case: same draw"
    assert len(seen) > 50, "fields drop independently, not as one block"
    rate = np.mean([len(aug.draw(FULL, case_rng(3, 2, i))[0]) - 1 for i in range(400)]) / (len(FULL) - 1)
    assert 0.4 < rate < 0.6


def test_record_and_image_dropout_rates_and_bad_probabilities():
    aug = RecordAugment(field_drop=0.0, record_empty=0.2, record_masked=0.1, image_drop=0.3)
    draws = [aug.draw(FULL, case_rng(0, 5, i)) for i in range(2000)]
    assert np.mean([h == "empty" for _, h, _ in draws]) == pytest.approx(0.2, abs=0.03)
    assert np.mean([h == "masked" for _, h, _ in draws]) == pytest.approx(0.1, abs=0.03)
    assert np.mean([d for _, _, d in draws]) == pytest.approx(0.3, abs=0.03)
    assert all(k == {} for k, h, _ in draws if h == "empty")
    with pytest.raises(AlifuseInputError, match="'image_drop'"):
        RecordAugment(image_drop=1.5)


def test_a_shifted_copy_moves_one_score_and_says_which_way():
    rng = np.random.default_rng(0)
    for _ in range(300):
        alt, sign = shifted_copy(FULL, rng)
        moved = [k for k in FULL if alt[k] != FULL[k]]
        assert len(moved) == 1 and moved[0] in SCORES
        f = moved[0]
        higher_worse = SCORES[f][3]
        assert sign == (1.0 if (alt[f] > FULL[f]) == higher_worse else -1.0)
        assert alt["cdr"] in (0.0, 0.5, 1.0, 2.0, 3.0)
    assert shifted_copy({"age": 70}, rng)[1] == 0.0, "no score, no copy"


def test_neighbour_pairs_compare_two_nearby_values_anywhere_on_a_scale():
    rng = np.random.default_rng(0)
    seen: dict[str, set] = {f: set() for f in SCORES}
    pairs: set = set()
    for _ in range(2000):
        ref, alt, sign = neighbour_pair(FULL, rng)
        moved = [k for k in FULL if alt[k] != ref[k]]
        assert len(moved) == 1 and moved[0] in SCORES, "one score differs between the two copies"
        f = moved[0]
        assert all(ref[k] == FULL[k] for k in FULL if k != f), "the other fields stay as the record has them"
        assert sign == (1.0 if (alt[f] > ref[f]) == SCORES[f][3] else -1.0)
        step = 0.5 if f in ("cdr", "cdr_sb") else 1.0
        assert 0 < abs(alt[f] - ref[f]) <= (3 * step if f != "cdr" else 2.5)  # CDR steps 0, 0.5, 1, 2, 3
        seen[f].update((ref[f], alt[f]))
        pairs.add((f, *sorted((float(ref[f]), float(alt[f])))))
    # the bumps the shipped model had: MMSE 5 -> 0 and recall 1 -> 0 beside healthy scores, CDR-SB 10 -> 12
    assert {("mmse", 0.0, 3.0), ("logical_memory_delayed", 0.0, 1.0), ("cdr_sb", 10.0, 11.5)} <= pairs
    assert {0, 5} <= seen["mmse"] and {10.0, 12.0} <= seen["cdr_sb"]
    assert neighbour_pair({"age": 70, "summary": "Well."}, rng) is None, "no score, no pair"


def test_neighbour_pairs_with_reach_1_are_next_to_each_other_on_the_scale():
    """--monotone-reach 1: CDR-SB 10.5 and 11, never 10.5 and 11.5 (the shipped model read x.5 above x + 1)."""
    rng = np.random.default_rng(1)
    pairs = set()
    for _ in range(1000):
        ref, alt, _ = neighbour_pair(FULL, rng, reach=1)
        f = next(k for k in SCORES if alt[k] != ref[k])
        values = scale_values(f)
        assert abs(values.index(float(alt[f])) - values.index(float(ref[f]))) == 1
        pairs.add((f, *sorted((float(ref[f]), float(alt[f])))))
    assert {("cdr_sb", 10.5, 11.0), ("cdr", 1.0, 2.0), ("mmse", 0.0, 1.0)} <= pairs


def test_pairs_at_the_ends_of_the_scales_and_the_default_draws_unchanged():
    """--monotone-pair-ends 1: every pair starts at an end of its scale (MMSE 0 and 1, where "0" was read as
    healthy); 0 (the default) draws exactly the pairs drawn before the option existed."""
    rng = np.random.default_rng(2)
    pairs = set()
    for _ in range(400):
        ref, alt, sign = neighbour_pair(FULL, rng, reach=1, ends=1.0)
        f = next(k for k in SCORES if alt[k] != ref[k])
        values = scale_values(f)
        at = sorted((values.index(float(ref[f])), values.index(float(alt[f]))))
        assert at in ([0, 1], [len(values) - 2, len(values) - 1]), (f, ref[f], alt[f])
        pairs.add((f, float(ref[f]), float(alt[f]), sign))
    # MMSE 0 beside MMSE 1 is the worse of the two; CDR-SB 0 beside 0.5 the better
    assert ("mmse", 1.0, 0.0, 1.0) in pairs or ("mmse", 0.0, 1.0, -1.0) in pairs
    assert ("cdr_sb", 0.0, 0.5, 1.0) in pairs or ("cdr_sb", 0.5, 0.0, -1.0) in pairs
    a, b = np.random.default_rng(3), np.random.default_rng(3)
    assert [neighbour_pair(FULL, a, 1) for _ in range(50)] == [neighbour_pair(FULL, b, 1, 0.0) for _ in range(50)]


def test_the_dataset_places_its_pairs_at_the_ends_when_asked(toy_cohort, monkeypatch):
    import trainer.dataset as dataset_module

    asked = []
    real = dataset_module.neighbour_pair
    monkeypatch.setattr(dataset_module, "neighbour_pair", lambda *a: asked.append(a[2:]) or real(*a))
    records = read_manifest(toy_cohort / "manifest.csv").records
    ds = CaseDataset(records, preset("tiny"), ["NC", "MCI", "AD"], monotone=True, seed=0, monotone_anywhere=1.0,
                     monotone_reach=1, monotone_pair_ends=0.4)
    ds.set_epoch(1)
    [ds[i] for i in range(len(records))]
    assert asked and set(asked) == {(1, 0.4)}


def test_pairs_anywhere_leave_the_default_draws_as_they_were(toy_cohort):
    records = read_manifest(toy_cohort / "manifest.csv").records
    cfg = preset("tiny")
    plain = CaseDataset(records, cfg, ["NC", "MCI", "AD"], monotone=True, seed=0)
    anywhere = CaseDataset(records, cfg, ["NC", "MCI", "AD"], monotone=True, seed=0, monotone_anywhere=1.0)
    plain.set_epoch(1), anywhere.set_epoch(1)
    a, b = [plain[i] for i in range(len(records))], [anywhere[i] for i in range(len(records))]
    assert "ids_ref" not in a[0] and all(torch.equal(x["ids"], y["ids"]) for x, y in zip(a, b))
    paired = [y for y in b if not torch.equal(y["ids_ref"], y["ids"])]
    assert len(paired) > len(records) // 2, "with P = 1 every record with a score compares two of its copies"
    assert all(float(y["alt_sign"]) != 0 and not torch.equal(y["ids_ref"], y["ids_alt"]) for y in paired)
    near = CaseDataset(records, cfg, ["NC", "MCI", "AD"], monotone=True, seed=0, monotone_anywhere=1.0,
                       monotone_reach=1)
    near.set_epoch(1)
    one_step = {1 / 30, 1 / 25, 0.5 / 18, 0.5 / 3, 1 / 3}  # next values: MMSE, recall, CDR-SB, CDR (0-1, 1-3)
    moved = [float(near[i]["alt_moved"]) for i in range(len(records)) if not near[i]["ref_own"]]
    assert moved and all(min(abs(m - s) for s in one_step) < 1e-6 for m in moved), moved
    assert any(float(y["alt_moved"]) > 0.05 for y in paired), "reach 3 (the default) pairs values further apart"


def test_the_penalty_is_zero_for_the_right_direction_and_positive_for_the_wrong_one():
    healthy = torch.tensor([[4.0, 0.0, -4.0]])
    ill = torch.tensor([[-4.0, 0.0, 4.0]])
    s_h, s_i = expected_stage(healthy), expected_stage(ill)
    assert float(s_h) < 0.1 and float(s_i) > 1.9
    assert float(penalty(s_h, s_i, torch.tensor([1.0]))) == 0.0, "worse copy looks worse: fine"
    assert float(penalty(s_i, s_h, torch.tensor([1.0]))) > 1.5, "worse copy looks healthier: penalised"
    assert float(penalty(s_i, s_h, torch.tensor([-1.0]))) == 0.0
    assert float(penalty(s_i, s_h, torch.tensor([0.0]))) == 0.0, "no copy, no penalty"


def test_copies_can_be_sent_to_the_ends_of_the_scales_without_changing_the_default_draws():
    ends = {"mmse": (0, 30), "cdr": (0.0, 3.0), "cdr_sb": (0.0, 18.0), "logical_memory_delayed": (0, 25)}
    a, b = np.random.default_rng(4), np.random.default_rng(4)
    for _ in range(200):
        assert shifted_copy(FULL, a) == shifted_copy(FULL, b, 0.0), "ends=0 draws as before the option"
    rng = np.random.default_rng(5)
    at_end = []
    for _ in range(400):
        alt, sign = shifted_copy(FULL, rng, ends=1.0)
        (f,) = [k for k in FULL if alt[k] != FULL[k]]
        assert alt[f] in ends[f] and sign == (1.0 if (alt[f] > FULL[f]) == SCORES[f][3] else -1.0)
        at_end.append(alt[f])
    assert {0, 30} <= set(at_end) and 25 in at_end, "both ends are drawn"
    some = [shifted_copy(FULL, rng, ends=0.3)[0] for _ in range(1000)]
    share = np.mean([any(alt[k] != FULL[k] and alt[k] in ends[k] for k in ends) for alt in some])
    assert 0.34 < share < 0.5, "0.3 sent to an end, plus uniform draws that land on one: about 0.42"


def test_cumulative_log_odds_are_those_of_impairment_and_of_dementia():
    p = torch.tensor([[0.7, 0.2, 0.1], [0.05, 0.15, 0.8]], dtype=torch.float64)
    c = cumulative_log_odds(p.log())
    want = torch.stack([(1 - p[:, 0]) / p[:, 0], p[:, 2] / (1 - p[:, 2])], -1).log()
    torch.testing.assert_close(c.double(), want, atol=1e-5, rtol=1e-5)


def test_moved_fraction_is_the_share_of_the_scale_the_one_score_moved():
    assert moved_fraction(FULL, {**FULL, "mmse": 9}) == pytest.approx(15 / 30)
    assert moved_fraction(FULL, {**FULL, "cdr": 3.0}) == pytest.approx(2.5 / 3)
    assert moved_fraction(FULL, dict(FULL)) == 0.0
    rng = np.random.default_rng(1)
    for _ in range(100):
        alt, sign = shifted_copy(FULL, rng)
        assert 0 < moved_fraction(FULL, alt) <= 1 and sign != 0


def test_the_margin_asks_a_worse_score_to_move_the_prediction_by_its_share_of_the_margin():
    base = torch.tensor([[1.0, 0.0, -1.0]])
    worse = base + torch.tensor([[-1.0, 0.0, 1.0]])  # both cumulative log-odds rise by about 1.2 to 1.3
    rise = float((cumulative_log_odds(worse) - cumulative_log_odds(base)).min())
    assert rise > 1.0
    one, half = torch.tensor([1.0]), torch.tensor([0.5])
    assert float(penalty(expected_stage(base), expected_stage(worse), one)) == 0.0, "the right way round"
    assert float(margin_penalty(base, worse, one, half, margin=2.0)) == 0.0, "moved by more than 0.5 * 2"
    short = float(margin_penalty(base, worse, one, torch.tensor([1.0]), margin=4.0))
    assert short == pytest.approx(4.0 - float((cumulative_log_odds(worse) - cumulative_log_odds(base)).mean()),
                                  abs=1e-5), "a whole-scale move asks for the whole margin"
    assert float(margin_penalty(base, base, one, half, margin=2.0)) == pytest.approx(1.0), "unmoved: 0.5 * 2 short"
    assert float(margin_penalty(worse, base, -one, half, margin=2.0)) == 0.0, "a better copy looks better: fine"
    assert float(margin_penalty(base, worse, torch.tensor([0.0]), half, margin=2.0)) == 0.0, "no copy, no margin"


def test_the_mri_margin_asks_a_clear_cases_scan_to_move_it_towards_its_diagnosis():
    logits = torch.tensor([[0.0, 0.0, 3.0], [0.0, 0.0, 3.0], [1.0, 0.0, 0.0], [0.0, 5.0, 0.0], [0.0, 0.0, -9.0]])
    hidden = torch.zeros(5, 3)
    labels = torch.tensor([2, 2, 0, 1, 2])
    has = torch.tensor([True, True, True, True, False])
    lo, lo_h = cumulative_log_odds(logits), cumulative_log_odds(hidden)
    dementia_gain = float(lo[0, 1] - lo_h[0, 1])      # AD: the scan raised the dementia log-odds by this much
    impairment_fall = float(lo_h[2, 0] - lo[2, 0])    # NC: the scan lowered the impairment log-odds by this much
    assert dementia_gain > 2.5 and 0.5 < impairment_fall < 2.0
    # margin 2: the AD cases pass, the NC case falls short; the MCI case and the AD case without a scan (whose "scan"
    # moves it far the wrong way) are left out: 3 cases count
    got = mri_margin_penalty(logits, hidden, labels, has, 2.0)
    assert float(got) == pytest.approx(max(0.0, 2.0 - impairment_fall) / 3, abs=1e-6)
    assert float(mri_margin_penalty(logits, hidden, labels, has, 0.5)) == 0.0
    every = mri_margin_penalty(logits, hidden, labels, torch.ones(5, dtype=torch.bool), 2.0)
    assert float(every) > float(got), "with its scan counted, the wrong-way AD case costs"
    nc_only = mri_margin_penalty(logits[2:3], hidden[2:3], labels[2:3], has[2:3], 2.0)
    assert float(nc_only) == pytest.approx(2.0 - impairment_fall, abs=1e-6)
    # a scan that moves an AD case the wrong way costs more than the whole margin
    wrong = mri_margin_penalty(hidden[:1], logits[:1], labels[:1], has[:1], 1.0)
    assert float(wrong) == pytest.approx(1.0 + dementia_gain, abs=1e-6)
    none = mri_margin_penalty(logits, hidden, labels, torch.zeros(5, dtype=torch.bool), 2.0)
    assert float(none) == 0.0, "no clear case with a scan: nothing to ask"


def test_a_fixed_mri_margin_trains_the_prediction_with_the_scan_not_the_one_without_it():
    """The hidden-MRI prediction is the reliance probe: with --mri-margin-fixed the margin's gradient is that of the
    hinge against the hidden-MRI logits held fixed (computed apart, without gradient); without it, it differs."""
    from engine.model import AlifuseModel, Encoded
    from trainer.loop import _mri_term

    torch.manual_seed(0)
    cfg = preset("tiny")
    model = AlifuseModel(cfg).eval()  # no dropout: the two computations must see the same network
    s = cfg.image_size
    batch = {"image": torch.randn(4, s, s, s), "ids": torch.randint(1000, 2000, (4, 12)),
             "mask": torch.ones(4, 12, dtype=torch.long), "label": torch.tensor([0, 2, 2, 0]),
             "has_image": torch.tensor([1, 1, 1, 0])}
    params = [p for p in model.parameters() if p.requires_grad]

    def grads(term):
        model.zero_grad()
        term.backward()
        return [p.grad.clone() if p.grad is not None else torch.zeros_like(p) for p in params]

    out = model(batch["image"], batch["ids"], batch["mask"], labels=batch["label"])
    got = grads(_mri_term(model, out, batch, torch.device("cpu"), 3.0, fixed=True))
    out = model(batch["image"], batch["ids"], batch["mask"], labels=batch["label"])
    moving = grads(_mri_term(model, out, batch, torch.device("cpu"), 3.0))
    out = model(batch["image"], batch["ids"], batch["mask"], labels=batch["label"])
    with torch.no_grad():
        z_blank = model.image_encoder(torch.zeros(1, s, s, s)).expand(4, -1, -1)
        fixed = model.classify(Encoded(z_blank, out["z_txt"]))
    want = grads(mri_margin_penalty(out["logits"], fixed, batch["label"], batch["has_image"].bool(), 3.0))
    assert any(float(w.abs().max()) > 1e-4 for w in want), "the hinge is active on this batch"
    assert all(torch.allclose(g, w, atol=1e-6, rtol=1e-4) for g, w in zip(got, want))
    assert not all(torch.allclose(m, w, atol=1e-6, rtol=1e-4) for m, w in zip(moving, want)), \
        "without --mri-margin-fixed the prediction without the scan is trained too"


def test_record_only_cases_reach_the_ends_of_the_scales_and_read_a_hidden_mri(toy_cohort):
    cases = record_only_cases(600, seed=1)
    assert {c.label for c in cases} == {"NC", "MCI", "AD"} and all(c.image is None for c in cases)
    assert len({c.subject_id for c in cases}) == 600
    mmse_ad = [c.ehr["mmse"] for c in cases if c.label == "AD" and "mmse" in c.ehr]
    assert min(mmse_ad) <= 5, "severe dementia is in the records"
    ages_nc = [c.ehr["age"] for c in cases if c.label == "NC" and "age" in c.ehr]
    assert min(ages_nc) < 40, "younger healthy adults are in the records"
    assert [c.ehr for c in record_only_cases(50, seed=2)] == [c.ehr for c in record_only_cases(50, seed=2)]
    cfg = preset("tiny")
    ds = CaseDataset(cases[:4], cfg, ["NC", "MCI", "AD"])
    assert float(ds[0]["image"].abs().sum()) == 0.0 and ds[0]["image"].shape == (16, 16, 16)


def test_dataset_with_dropout_and_copies_and_the_padding_trim(toy_cohort):
    records = read_manifest(toy_cohort / "manifest.csv").records
    cfg = preset("tiny")
    ds = CaseDataset(records, cfg, ["NC", "MCI", "AD"], augment=RecordAugment(record_masked=0.5), monotone=True,
                     seed=0)
    ds.set_epoch(1)
    items = [ds[i] for i in range(len(ds))]
    masked = [it for it in items if (it["ids"] == cfg.mask_token_id).any()]
    assert masked, "half the records are hidden as [MASK]"
    for it in masked:
        n = int(it["mask"].sum())
        assert (it["ids"][1:n - 1] == cfg.mask_token_id).all() and it["ids"][0] == cfg.cls_token_id
        assert float(it["alt_sign"]) == 0.0
    assert any(float(it["alt_sign"]) != 0 for it in items)
    ds.set_epoch(2)
    assert any(not torch.equal(ds[i]["ids"], items[i]["ids"]) for i in range(len(ds))), "a new epoch, new draws"
    batch = trim_collate(items[:4])
    longest = max(int(it["mask"].sum()) for it in items[:4])
    assert batch["ids"].shape[1] == longest and batch["mask"][:, -1].any()
    assert batch["ids_alt"].shape[1] == max(int(it["mask_alt"].sum()) for it in items[:4])


def test_trimmed_padding_gives_the_same_prediction():
    from engine.model import AlifuseModel

    cfg = preset("tiny")
    torch.manual_seed(0)
    model = AlifuseModel(cfg).eval()
    ids = torch.full((2, cfg.max_tokens), cfg.pad_token_id)
    ids[:, 0], ids[:, 1:6], ids[:, 6] = cfg.cls_token_id, 2000, cfg.sep_token_id
    mask = (ids != cfg.pad_token_id).long()
    img = torch.rand(2, 16, 16, 16)
    with torch.no_grad():
        full, cut = model(img, ids, mask), model(img, ids[:, :7], mask[:, :7])
    torch.testing.assert_close(full, cut, atol=1e-5, rtol=1e-5)


def test_parse_field_types_values_and_names_bad_ones():
    assert parse_field("image_size=32") == ("image_size", 32)
    assert parse_field("modalities=image,text") == ("modalities", ("image", "text"))
    assert parse_field("lambda_res=0") == ("lambda_res", 0.0)
    with pytest.raises(AlifuseInputError, match="--set 'nope=1'"):
        parse_field("nope=1")
    with pytest.raises(AlifuseInputError, match="image_size: 'big' is not an? int"):
        parse_field("image_size=big")


def _image_only_run(cohort, out):
    """One epoch of the tiny preset on the MRI alone: a run folder to start others from (--init-from)."""
    assert train_main(["--data", str(cohort), "--preset", "tiny", "--out", str(out), "--epochs", "1",
                       "--batch-size", "4", "--modalities", "image", "--loss", "cls"]) == 0
    return out


def test_train_cli_init_from_freeze_dropout_and_record_only(toy_cohort, tmp_path, capsys):
    first = _image_only_run(toy_cohort, tmp_path / "image_only")
    second = tmp_path / "fused"
    assert train_main(["--data", str(toy_cohort), "--preset", "tiny", "--out", str(second), "--epochs", "2",
                       "--batch-size", "4", "--loss", "cls+cl", "--init-from", str(first / "last.safetensors"),
                       "--freeze", "image_encoder", "--augment-records", "--monotone", "1", "--monotone-margin", "2",
                       "--monotone-ends", "0.3", "--monotone-anywhere", "0.5", "--monotone-reach", "1",
                       "--monotone-pair-ends", "0.25", "--mri-margin", "1", "--mri-margin-fixed",
                       "--record-only", "30"]) == 0
    a, _ = load_checkpoint(first / "last.safetensors")
    b, info = load_checkpoint(second / "last.safetensors")
    enc_a, enc_b = a.image_encoder.state_dict(), b.image_encoder.state_dict()
    shared = [k for k in enc_a if k in enc_b and enc_a[k].shape == enc_b[k].shape]
    assert shared and all(torch.equal(enc_a[k], enc_b[k]) for k in shared), "started from and kept frozen"
    assert info.provenance["freeze"] == ["image_encoder"] and info.provenance["monotone"] == 1.0
    assert info.provenance["monotone_margin"] == 2.0 and info.provenance["monotone_ends"] == 0.3
    assert info.provenance["mri_margin"] == 1.0 and info.provenance["mri_margin_fixed"] is True
    assert info.provenance["monotone_anywhere"] == 0.5 and info.provenance["monotone_reach"] == 1
    assert info.provenance["monotone_pair_ends"] == 0.25
    assert info.provenance["augment"]["field_drop"] == pytest.approx(0.3)
    lines = [json.loads(x) for x in (second / "metrics.jsonl").read_text().splitlines()]
    assert "mono" in lines[-1]["train"] and "mri" in lines[-1]["train"], "the penalties are trained and logged"
    run = json.loads((second / "run.json").read_text())
    assert run["n_cases"]["train"] > 30
    # the training cases' demographics are the table's: the records without a scan (two aged 49 and 54 here) reach
    # ages no scan showed, and a case at such an age is to be noted as extrapolated (engine.training_ranges)
    young = min(r.ehr["age"] for r in record_only_cases(30, 0) if "age" in r.ehr)
    assert young < info.provenance["record_ranges"]["age"][0]
    assert info.provenance["record_ranges"] == read_info(first / "last.safetensors").provenance["record_ranges"]
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        train_main(["--data", str(toy_cohort), "--preset", "tiny", "--out", str(tmp_path / "x"),
                    "--freeze", "nothing_like_this"])
    assert exc.value.code == 2 and "--freeze nothing_like_this" in capsys.readouterr().err


def test_image_augmentation_flips_and_shifts_without_inventing_intensity():
    from trainer.augment import ImageAugment

    img = np.zeros((12, 12, 12), np.float32)
    img[2, 5, 6] = 1.0
    aug = ImageAugment(flip=1.0, shift=0)
    out = aug.apply(img, case_rng(0, 1, 0))
    assert out[9, 5, 6] == 1.0 and out.sum() == 1.0, "left-right flip along the RAS x axis"
    moved = [np.argwhere(ImageAugment(flip=0.0, shift=2).apply(img, case_rng(0, 1, i)))[0] for i in range(40)]
    offsets = {tuple(m - np.array([2, 5, 6])) for m in moved}
    assert len(offsets) > 5 and all(max(abs(o) for o in off) <= 2 for off in offsets)
    edge = np.zeros_like(img)
    edge[0] = 1.0
    shifted = [ImageAugment(flip=0.0, shift=2).apply(edge, case_rng(1, 1, i)) for i in range(20)]
    assert all(s.sum() <= edge.sum() for s in shifted), "what leaves the cube is dropped, never wrapped around"
    with pytest.raises(AlifuseInputError, match="shift"):
        ImageAugment(shift=20)


def test_a_bad_record_in_the_training_data_is_named_by_its_place_never_by_the_subject_id(toy_cohort):
    records = read_manifest(toy_cohort / "manifest.csv").records[:3]
    records[1].ehr = {**records[1].ehr, "mmse": 31}
    with pytest.raises(AlifuseInputError) as exc:
        CaseDataset(records, preset("tiny"), ["NC", "MCI", "AD"])
    msg = str(exc.value)
    assert "record 2 of data set 'toy'" in msg and "mmse" in msg.lower() and records[1].subject_id not in msg


@pytest.mark.parametrize("option, value", [("--field-drop", "1.5"), ("--record-drop", "-0.1"), ("--field-drop", "nan"),
                                           ("--monotone-margin", "-1"), ("--monotone-margin", "nan"),
                                           ("--monotone-ends", "1.5"), ("--mri-margin", "-1"), ("--mri-margin", "nan"),
                                           ("--monotone-margin", "2"), ("--mri-margin", "2 --modalities image"),
                                           ("--mri-margin-fixed", ""), ("--monotone-anywhere", "1.5"),
                                           ("--monotone-anywhere", "0.5"), ("--monotone-reach", "0"),
                                           ("--monotone-reach", "40"), ("--monotone-pair-ends", "1.5"),
                                           ("--monotone-pair-ends", "0.5 --monotone 1")])
# then: a margin without --monotone, an MRI margin on one modality, a fixed MRI margin without one, pairs
# anywhere with a bad probability and without --monotone, pairs further apart than a scale is long, pairs at the
# ends with a bad probability and without --monotone-anywhere
def test_a_bad_dropout_probability_is_named_by_its_option(toy_cohort, tmp_path, capsys, option, value):
    with pytest.raises(SystemExit) as exc:
        train_main(["--data", str(toy_cohort), "--preset", "tiny", "--out", str(tmp_path / "r"), "--augment-records",
                    option, *value.split()])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.startswith(f"alifuse: error: {option} ") and not (tmp_path / "r").exists()


def test_freeze_keeps_a_part_inside_a_module_and_trains_the_rest(toy_cohort, tmp_path, capsys):
    """--freeze image_encoder.patch_embed: a pre-trained stem stays as it came, the blocks on top of it learn."""
    first = _image_only_run(toy_cohort, tmp_path / "first")
    second = tmp_path / "second"
    assert train_main(["--data", str(toy_cohort), "--preset", "tiny", "--out", str(second), "--epochs", "1",
                       "--batch-size", "4", "--modalities", "image", "--loss", "cls", "--seed", "3",
                       "--init-from", str(first / "last.safetensors"),
                       "--freeze", "image_encoder.patch_embed"]) == 0
    a = load_checkpoint(first / "last.safetensors")[0].image_encoder.state_dict()
    b = load_checkpoint(second / "last.safetensors")[0].image_encoder.state_dict()
    stem = [k for k in a if k.startswith("patch_embed.")]
    assert stem and all(torch.equal(a[k], b[k]) for k in stem)
    assert not torch.equal(a["blocks.0.mlp.fc1.weight"], b["blocks.0.mlp.fc1.weight"]), "the blocks trained"
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        train_main(["--data", str(toy_cohort), "--preset", "tiny", "--out", str(tmp_path / "x"),
                    "--freeze", "image_encoder.no_such_part"])
    assert exc.value.code == 2 and "--freeze image_encoder.no_such_part" in capsys.readouterr().err


def test_a_pair_anywhere_is_penalised_between_its_two_copies_not_against_the_record():
    from engine.model import AlifuseModel
    from trainer.loop import _monotone_term

    torch.manual_seed(0)
    cfg = preset("tiny")
    model = AlifuseModel(cfg).eval()
    s = cfg.image_size
    ids = torch.randint(1000, 2000, (3, 10))
    batch = {"image": torch.randn(3, s, s, s), "ids": ids, "mask": torch.ones(3, 10, dtype=torch.long),
             "label": torch.tensor([0, 1, 2]), "ids_alt": torch.randint(1000, 2000, (3, 10)),
             "mask_alt": torch.ones(3, 10, dtype=torch.long), "alt_sign": torch.tensor([1.0, -1.0, 1.0]),
             "alt_moved": torch.tensor([0.1, 0.1, 0.1])}
    out = model(batch["image"], ids, batch["mask"], labels=batch["label"])
    cpu = torch.device("cpu")
    with torch.no_grad():
        as_record = _monotone_term(model, out, batch, cpu, margin=1.0)
        same = _monotone_term(model, out, {**batch, "ids_ref": ids, "mask_ref": batch["mask"]}, cpu, margin=1.0)
        other = _monotone_term(model, out, {**batch, "ids_ref": batch["ids_alt"], "mask_ref": batch["mask_alt"]}, cpu,
                               margin=1.0)
    assert float(same) == pytest.approx(float(as_record), abs=1e-5), "a reference that is the record changes nothing"
    assert float(as_record) > 0.2 and float(other) == pytest.approx(0.1, abs=1e-5), \
        "a copy compared with itself: no direction is wrong, only the margin is short (1.0 x 0.1 of the scale moved)"


def test_a_reference_that_is_the_record_is_not_encoded_again(toy_cohort):
    """--monotone-anywhere: rows whose pair starts from the record reuse the forward pass's logits; only the other
    rows' references go through the text encoder, and the term is the one every row encoded would give."""
    from engine.model import AlifuseModel
    from trainer.loop import _monotone_term

    torch.manual_seed(0)
    cfg = preset("tiny")
    model = AlifuseModel(cfg).eval()
    s = cfg.image_size
    ids, alt = torch.randint(1000, 2000, (3, 10)), torch.randint(1000, 2000, (3, 10))
    mask = torch.ones(3, 10, dtype=torch.long)
    ref = torch.stack([ids[0], alt[1].roll(1), ids[2]])
    mask_ref = mask.clone()
    mask_ref[1, 7:] = 0  # the one reference encoded again is shorter: cut to its own length, the term is the same
    ref[1, 7:] = 0
    batch = {"image": torch.randn(3, s, s, s), "ids": ids, "mask": mask, "label": torch.tensor([0, 1, 2]),
             "ids_alt": alt, "mask_alt": mask, "alt_sign": torch.tensor([1.0, -1.0, 1.0]),
             "alt_moved": torch.tensor([0.1, 0.1, 0.1]), "ids_ref": ref, "mask_ref": mask_ref}
    out = model(batch["image"], ids, mask, labels=batch["label"])
    rows_seen: list[tuple[int, int]] = []
    hook = model.text_encoder.register_forward_hook(lambda m, args, res: rows_seen.append(tuple(args[0].shape)))
    with torch.no_grad():
        every_row = _monotone_term(model, out, batch, torch.device("cpu"), margin=1.0)
        rows_seen.clear()
        skipping = _monotone_term(model, out, {**batch, "ref_own": torch.tensor([True, False, True])},
                                  torch.device("cpu"), margin=1.0)
    hook.remove()
    assert float(skipping) == pytest.approx(float(every_row), abs=1e-5)
    assert rows_seen == [(3, 10), (1, 7)], "the copies (3 rows), then the one reference that is not the record"
    records = read_manifest(toy_cohort / "manifest.csv").records
    data = CaseDataset(records, cfg, ["NC", "MCI", "AD"], monotone=True, seed=0, monotone_anywhere=0.5)
    data.set_epoch(1)
    items = [data[i] for i in range(len(data))]
    assert {bool(x["ref_own"]) for x in items} == {True, False}
    assert all(torch.equal(x["ids_ref"], x["ids"]) for x in items if bool(x["ref_own"]))


def test_training_writes_the_records_in_the_configs_text_format(toy_cohort):
    """A run with --set text_format=2 trains on "10½" where format 1 reads "10.5": the records and their shifted
    copies alike (the pairs anywhere draw CDR-SB's half points)."""
    from engine.minilm import load_tokenizer

    records = read_manifest(toy_cohort / "manifest.csv").records
    for r in records:
        r.ehr["cdr_sb"] = 10.5
    half = load_tokenizer()("10½", add_special_tokens=False)["input_ids"][-1]
    v1, v2 = (CaseDataset(records, preset("tiny", text_format=f), ["NC", "MCI", "AD"], monotone=True, seed=0,
                          monotone_anywhere=1.0) for f in (1, 2))
    assert all("10½" in t.text and "10.5" not in t.text for t in v2.texts)
    assert all("10.5" in t.text for t in v1.texts)
    v2.set_epoch(1)
    copies = [v2[i]["ids_alt"] for i in range(len(records))] + [v2[i]["ids_ref"] for i in range(len(records))]
    assert any(half in c.tolist() for c in copies)
    assert half not in torch.cat([v1[i]["ids"] for i in range(len(records))]).tolist()


def test_a_run_that_reads_the_scores_as_numbers_trains_its_path_and_hides_them_with_the_record(toy_cohort, tmp_path):
    """--set score_knots=4: the records' scores leave the text for the dataset's ``scores`` (NaN where hidden),
    the pairs carry their copies' scores, and training moves the path (its own, faster learning rate)."""
    records = read_manifest(toy_cohort / "manifest.csv").records
    cfg = preset("tiny", score_knots=4)
    ds = CaseDataset(records, cfg, ["NC", "MCI", "AD"], augment=RecordAugment(record_masked=0.5), monotone=True,
                     seed=0, monotone_anywhere=0.5)
    assert not any("MMSE" in t.text or "CDR" in t.text for t in ds.texts)
    ds.set_epoch(1)
    items = [ds[i] for i in range(len(ds))]
    masked = [it for it in items if (it["ids"] == cfg.mask_token_id).any()]
    kept = [it for it in items if not (it["ids"] == cfg.mask_token_id).any()]
    assert masked and all(torch.isnan(it["scores"]).all() for it in masked), "a hidden record hides its scores"
    assert any(not torch.isnan(it["scores"]).all() for it in kept)
    moved = [it for it in kept if float(it["alt_sign"]) != 0]
    assert moved and all(not torch.equal(torch.nan_to_num(it["scores_alt"]),
                                         torch.nan_to_num(it.get("scores_ref", it["scores"]))) for it in moved)

    out = tmp_path / "numbers"
    assert train_main(["--data", str(toy_cohort), "--preset", "tiny", "--out", str(out), "--epochs", "1",
                       "--batch-size", "4", "--loss", "cls+cl", "--set", "score_knots=4", "--augment-records",
                       "--monotone", "1", "--monotone-margin", "2"]) == 0
    model, info = load_checkpoint(out / "last.safetensors")
    assert info.config.score_knots == 4
    fit = info.provenance["score_path_fit"]
    assert fit["cases"] == run_cases(out) and 0 < fit["cross_entropy"] < math.log(3), "fitted to the labels first"
    start = torch.log(torch.expm1(torch.tensor(3.0 / 4)))  # every piece's rise before the fit (engine.score_path)
    assert (model.score_path.raw_rise - start).abs().max() > 0.1, "the path was fitted and trained"


def run_cases(out) -> int:
    return json.loads((out / "run.json").read_text())["n_cases"]["train"]


def test_the_score_path_fit_finds_each_scores_direction_and_weight():
    """A score that decides the label (CDR) against one that does not (delayed recall, noise): after the fit the first
    moves the prediction across its scale, the second hardly, and records are classified by their CDR."""
    from engine.score_path import ScorePath
    from trainer.monotone import expected_stage
    from trainer.score_path_fit import fit_score_path

    g = torch.Generator().manual_seed(0)
    n = 600
    labels = torch.randint(0, 3, (n,), generator=g)
    cdr = torch.tensor([0.0, 0.5, 2.0])[labels]
    noise = torch.randint(0, 26, (n,), generator=g).float()
    scores = torch.stack([torch.full((n,), math.nan), cdr, torch.full((n,), math.nan), noise], -1)
    path = ScorePath(3, 6)
    assert fit_score_path(path, scores, labels) < 0.3
    with torch.no_grad():
        by_cdr = expected_stage(path(torch.tensor([[math.nan, 0.0, math.nan, 12.0], [math.nan, 2.0, math.nan, 12.0]])))
        by_recall = expected_stage(path(torch.tensor([[math.nan, 0.5, math.nan, 25.0],
                                                      [math.nan, 0.5, math.nan, 0.0]])))
    assert by_cdr[1] - by_cdr[0] > 1.5 and abs(float(by_recall[1] - by_recall[0])) < 0.3
