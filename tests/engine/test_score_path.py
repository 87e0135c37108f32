"""The scores read as numbers (engine.score_path): a worse score never makes a case look healthier, by construction,
whatever the path's weights, the image and the rest of the record; a missing score is its own input; the text of such
a model leaves the scores out; hiding the record hides them too."""
from __future__ import annotations

import math

import nibabel as nib
import numpy as np
import pytest
import torch

from engine.checkpoint import save_checkpoint
from engine.config import AlifuseConfig, preset
from engine.ehr import SCORE_FIELDS, validate_ehr
from engine.ehr_text import encode_ehr
from engine.errors import AlifuseInputError
from engine.explain.reliance import modality_reliance
from engine.minilm import load_tokenizer
from engine.model import AlifuseModel
from engine.predict import Predictor
from engine.score_path import ScorePath
from tests.engine.test_explain import AFFINE, _brain

#: float32 rounding of a flat stretch (a piece whose rise is ~0): far below any step a clinician would see
FLOAT32_FLAT = 1e-5
#: (field, lowest, highest) of each score, in SCORE_FIELDS order
SCALES = {"mmse": (0, 30), "cdr": (0, 3), "cdr_sb": (0, 18), "logical_memory_delayed": (0, 25)}
WORSE_WHEN_LOWER = {"mmse", "logical_memory_delayed"}


def _random_path(seed: int, own_terms: bool = False) -> ScorePath:
    torch.manual_seed(seed)
    path = ScorePath(3, 12, own_terms=own_terms)
    with torch.no_grad():  # any weights at all: some pieces near flat, some steep, missing values anywhere
        path.raw_rise.copy_(torch.randn_like(path.raw_rise) * 3)
        path.raw_prior.copy_(torch.randn_like(path.raw_prior))
        path.offset.copy_(torch.randn_like(path.offset) * 3)
        path.raw_weight.copy_(torch.randn_like(path.raw_weight) * 2)
        if own_terms:
            path.raw_own_rise.copy_(torch.randn_like(path.raw_own_rise) * 3)
            path.own_offset.copy_(torch.randn_like(path.own_offset) * 3)
    return path


def _stage_and_log_odds(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    p = torch.softmax(logits.double(), -1)
    stage = p[:, 1] + 2 * p[:, 2]
    log_odds = torch.stack([torch.log(p[:, 1:].sum(-1) / p[:, 0]), torch.log(p[:, 2] / p[:, :2].sum(-1))], -1)
    return stage, log_odds


@pytest.mark.parametrize("own_terms", [False, True], ids=["mean", "mean+own"])
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("field", SCORE_FIELDS)
def test_the_expected_stage_and_both_log_odds_never_fall_as_a_score_worsens(seed, field, own_terms):
    path = _random_path(seed, own_terms)
    g = torch.Generator().manual_seed(seed)
    n_ctx, lo, hi = 40, *SCALES[field]
    j = SCORE_FIELDS.index(field)
    # contexts: random base logits (image and text), the other scores random or missing
    base = torch.randn(n_ctx, 3, generator=g) * 4
    others = torch.stack([torch.rand(n_ctx, generator=g) * (SCALES[f][1] - SCALES[f][0]) for f in SCORE_FIELDS], -1)
    others[torch.rand(n_ctx, len(SCORE_FIELDS), generator=g) < 0.4] = math.nan
    values = torch.linspace(lo, hi, 121)
    if field in WORSE_WHEN_LOWER:
        values = values.flip(0)  # worst last
    scores = others[:, None, :].repeat(1, len(values), 1)
    scores[:, :, j] = values
    with torch.no_grad():
        logits = base[:, None, :] + path(scores.reshape(-1, len(SCORE_FIELDS))).reshape(n_ctx, len(values), 3)
    stage, log_odds = _stage_and_log_odds(logits.reshape(-1, 3))
    stage, log_odds = stage.reshape(n_ctx, -1), log_odds.reshape(n_ctx, len(values), 2)
    assert (stage.diff(dim=1) >= -FLOAT32_FLAT).all(), f"{field}: the expected stage fell as the score worsened"
    assert (log_odds.diff(dim=1) >= -FLOAT32_FLAT).all(), f"{field}: a cumulative log-odds fell"
    moved = (log_odds[:, -1] - log_odds[:, 0]).max()
    assert moved > 0.5, "the path moves the prediction at all (else the test proves nothing)"


def test_a_missing_score_leaves_the_mean_and_no_nan_reaches_a_gradient():
    path = _random_path(3)
    nan = math.nan
    scores = torch.tensor([[24.0, nan, 3.5, nan], [24.0, 1.0, 3.5, 12.0], [nan, nan, nan, nan]])
    out = path(scores)
    assert torch.isfinite(out).all()
    out[:, 2].sum().backward()
    for p in path.parameters():
        assert torch.isfinite(p.grad).all()
    with torch.no_grad():
        before = path(scores)
        path.offset[:, 1] += 1.0  # the CDR's own estimate: read beside it, never in its place
        after = path(scores)
    assert torch.equal(before[0], after[0]) and not torch.allclose(before[1], after[1])
    assert out[:, 0].abs().max() == 0, "NC's logit is the reference: the path shifts MCI and AD against it"
    assert out[2].abs().max() == 0, "a record without scores adds nothing: the image and the text decide it"


def test_scores_that_say_the_same_are_not_counted_as_independent_proofs():
    """Agreeing scores make a reading surer than one of them alone, but not four times as sure: with every score's
    estimate alike, four healthy scores move the levels less than twice as far as one (a sum: four times)."""
    path = ScorePath(3, 4)
    with torch.no_grad():
        path.offset.fill_(-2.0)  # every score, at its healthy end, estimates "healthy" alike
    one = path(torch.tensor([[30.0, math.nan, math.nan, math.nan]]))
    four = path(torch.tensor([[30.0, 0.0, 0.0, 25.0]]))
    assert (four[0, 1:] < one[0, 1:]).all(), "four healthy scores are surer than one"
    assert (four[0, 1:] > 2 * one[0, 1:]).all(), "but not counted as four independent proofs"


def test_a_scores_own_term_lets_it_count_where_the_mean_outvotes_it():
    """Three healthy scores and a delayed recall of 0: in the mean (recall weighted a tenth of the others) the recall
    barely moves the levels; its own term moves them by what it adds, and a record without scores still gets 0."""
    mean, own = ScorePath(3, 4), ScorePath(3, 4, own_terms=True)
    with torch.no_grad():
        for p in (mean, own):
            p.raw_weight.copy_(torch.tensor([[2.0, 2.0, 2.0, -2.0]] * 2))
        own.load_state_dict({**own.state_dict(), **mean.state_dict()})
        own.raw_own_rise.fill_(-30.0)
        own.raw_own_rise[:, 3] = math.log(math.expm1(1.0))  # recall's own term: +4 log-odds across its scale
    healthy = [29.0, 0.0, 0.0]
    records = torch.tensor([healthy + [25.0], healthy + [0.0], [math.nan] * 4])
    with torch.no_grad():
        m, o = mean(records), own(records)
    assert float(m[1, 1] - m[0, 1]) < 0.5, "the mean: recall outvoted"
    assert float(o[1, 1] - o[0, 1]) > float(m[1, 1] - m[0, 1]) + 3.5, "its own term adds its rise"
    assert o[2].abs().max() == 0, "a record without scores adds nothing"


def test_the_text_leaves_the_scores_out_and_hands_them_over_as_numbers():
    tok = load_tokenizer()
    ehr = validate_ehr({"age": 74, "sex": "female", "mmse": 24, "cdr": 0.5, "summary": "Forgets names."})
    as_text = encode_ehr(ehr, tok, 64)
    as_numbers = encode_ehr(ehr, tok, 64, scores_as_numbers=True)
    assert "The MMSE score is 24." in as_text.text and "The CDR score is 0.5." in as_text.text
    assert "MMSE" not in as_numbers.text and "CDR" not in as_numbers.text
    assert as_numbers.text.startswith("The age is 74 years. The sex is female.")
    for enc in (as_text, as_numbers):  # both carry them; only a model with a score path reads them
        assert enc.scores[:2].tolist() == [24.0, 0.5] and torch.isnan(enc.scores[2:]).all()
    trained_without = encode_ehr(ehr, tok, 64, exclude_parts=("lab_results",), scores_as_numbers=True)
    assert torch.isnan(trained_without.scores).all(), "a model trained without the scores must not get them"


def test_the_config_field_is_checked_and_older_configs_read_their_scores_as_text():
    with pytest.raises(AlifuseInputError, match="config field 'score_knots'.*no record"):
        preset("tiny", score_knots=4, modalities=("image",))
    with pytest.raises(AlifuseInputError, match="config field 'score_knots': 65 is out of range"):
        preset("tiny", score_knots=65)
    old = preset("tiny").to_dict()
    del old["score_knots"]
    assert AlifuseConfig.from_dict(old).score_knots == 0
    assert AlifuseModel(preset("tiny")).score_path is None
    with pytest.raises(AlifuseInputError, match="config field 'score_sum'.*needs score_knots"):
        preset("tiny", score_sum=1)
    del old["score_sum"]
    assert AlifuseConfig.from_dict(old).score_sum == 0
    assert AlifuseModel(preset("tiny", score_knots=4)).score_path.raw_own_rise is None
    assert AlifuseModel(preset("tiny", score_knots=4, score_sum=1)).score_path.raw_own_rise is not None


@pytest.fixture(scope="module")
def predictor(tmp_path_factory) -> Predictor:
    d = tmp_path_factory.mktemp("score_path")
    torch.manual_seed(0)
    model = AlifuseModel(preset("tiny", score_knots=6))
    with torch.no_grad():
        model.score_path.raw_rise.copy_(torch.randn_like(model.score_path.raw_rise))
    save_checkpoint(model, d / "numbers.safetensors", ["NC", "MCI", "AD"], {"trained": True})
    return Predictor(d / "numbers.safetensors", "cpu")


def test_a_model_that_reads_numbers_refuses_a_call_without_them(predictor):
    s, L = predictor.cfg.image_size, predictor.cfg.max_tokens
    ids = torch.full((1, L), predictor.cfg.pad_token_id)
    with pytest.raises(ValueError, match="reads the record's scores as numbers"):
        predictor.model(torch.zeros(1, s, s, s), ids, torch.ones_like(ids))


def test_an_untrained_model_with_the_path_already_reads_every_sweep_the_right_way(predictor, tmp_path):
    """What-if through the product's own calls (each score across its scale beside a fixed record), at the saved
    random weights: the shape holds before any training."""
    _, case = predictor.predict(_scan(tmp_path), {"age": 70})
    for field, (lo, hi) in SCALES.items():
        step = 0.5 if field == "cdr_sb" else 1
        values = [lo + k * step for k in range(int((hi - lo) / step) + 1)]
        if field == "cdr":
            values = [0, 0.5, 1, 2, 3]
        if field in WORSE_WHEN_LOWER:
            values = values[::-1]
        records = [validate_ehr({"age": 70, "sex": "male", "mmse": 27, "cdr": 0.5, field: v}) for v in values]
        p = predictor.record_probabilities(records, case.image)
        stage = p[:, 1] + 2 * p[:, 2]
        assert (np.diff(stage) >= -FLOAT32_FLAT).all(), field
        assert stage[-1] - stage[0] > 0.01, f"{field} moves the prediction"


def _scan(tmp_path) -> str:
    nib.save(nib.Nifti1Image(_brain(), AFFINE), tmp_path / "t1.nii.gz")
    return str(tmp_path / "t1.nii.gz")


def test_a_prediction_says_which_scores_it_read_as_numbers(predictor, tmp_path):
    pred, _ = predictor.predict(_scan(tmp_path), {"age": 70, "mmse": 24, "cdr_sb": 2.5})
    assert pred.scores_read_as_numbers == {"mmse": 24.0, "cdr_sb": 2.5}
    assert "MMSE" not in pred.text and pred.to_dict()["scores_read_as_numbers"]["cdr_sb"] == 2.5


def test_hiding_the_record_hides_its_scores_too(predictor, tmp_path):
    _, case = predictor.predict(_scan(tmp_path), {"mmse": 3, "cdr": 3})
    assert "MMSE" not in case.text.text  # the record's text holds no word at all: only numbers
    rel = modality_reliance(predictor.model, *predictor.tensors(case), class_names=["NC", "MCI", "AD"],
                            scores=predictor.scores(case))
    assert rel.without_record is not None, "a record of scores only is still a record to hide"
    assert rel.shift("record") > 0.01
    # the same case with the scores removed by hand is what "record hidden" shows
    _, bare = predictor.predict(_scan(tmp_path), {})
    assert np.allclose(rel.without_record, predictor.probabilities(bare), atol=1e-6)


def test_the_explanation_json_and_the_reports_text_page_say_what_each_score_did(predictor, tmp_path):
    from matplotlib.figure import Figure

    from alifuse_gui.report_pages import page_text
    from engine.explain import explain

    pred, case = predictor.predict(_scan(tmp_path), {"age": 70, "mmse": 22, "logical_memory_delayed": 3})
    expl = explain(predictor.model, case, "relevance", class_names=["NC", "MCI", "AD"])
    summary = expl.summary()
    assert [e["field"] for e in summary["scores_as_numbers"]] == ["mmse", "logical_memory_delayed"]
    effect = summary["scores_as_numbers"][0]
    assert effect["value"] == 22.0 and 0 <= effect["unknown"] <= 1 and effect["with_score"] == pytest.approx(
        pred.probabilities[expl.target_name], abs=1e-5)  # "with the score" is the prediction the user saw
    fig = Figure(figsize=(8.27, 11.69))
    page_text(fig, pred, expl)
    drawn = [t.get_text() for t in fig.texts]
    assert all(line in drawn for line in expl.score_lines()) and len(expl.score_lines()) == 2
