"""Explanations of one case as a user gets them: maps on both grids, word and field relevances, saved files,
progress and cancellation, and the cost of the default method."""
from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
import torch

from engine.checkpoint import save_checkpoint
from engine.config import preset
from engine.errors import AlifuseInputError
from engine.explain import METHODS, ExplanationCancelled, explain, save_explanation
from engine.explain.api import unit_max
from engine.layers.attention import explaining
from engine.model import AlifuseModel
from engine.predict import Predictor

SHAPE = (20, 24, 18)
# Oblique-free but flipped and anisotropic: the saved map must keep exactly this grid.
AFFINE = np.array([[-1.2, 0, 0, 12.0], [0, -1.0, 0, 20.0], [0, 0, 1.5, -7.0], [0, 0, 0, 1]])
EHR = {"age": 74, "sex": "female", "mmse": 24, "cdr": 0.5,
       "summary": "Progressive forgetfulness and word-finding difficulty over two years."}
FAST = {"n_steps": 4, "batch_size": 4}  # IG/occlusion settings that keep the tests quick


def _brain() -> np.ndarray:
    x, y, z = np.meshgrid(*[np.linspace(-1, 1, n) for n in SHAPE], indexing="ij")
    r = x ** 2 + y ** 2 + z ** 2
    noise = np.random.default_rng(0).random(SHAPE)
    return np.where(r < 0.8, 80 + 40 * noise + 50 * (r < 0.3), 0).astype(np.float32)


def _make_predictor(tmp, **overrides) -> Predictor:
    torch.manual_seed(0)
    path = tmp / f"tiny{len(overrides)}.safetensors"
    save_checkpoint(AlifuseModel(preset("tiny", **overrides)), path, ["NC", "MCI", "AD"], {"trained": True})
    return Predictor(path, "cpu")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models run fastest on one thread; two spin against each other on a busy 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("explain")
    nib.save(nib.Nifti1Image(_brain(), AFFINE), d / "t1.nii.gz")
    predictor = _make_predictor(d)
    pred, case = predictor.predict(d / "t1.nii.gz", EHR)
    return predictor, pred, case


# -- maps, words and fields --

@pytest.mark.parametrize("method", METHODS)
def test_every_method_gives_unit_maps_on_both_grids(setup, method):
    predictor, _, case = setup
    e = explain(predictor.model, case, method, **FAST)
    assert e.method == method
    assert e.image_model.shape == (16, 16, 16)
    assert e.image_original.shape == SHAPE
    for m in (e.image_model, e.image_original):
        assert np.isfinite(m).all() and m.min() >= 0.0 and m.max() <= 1.0
    assert e.image_model.max() > 0.0, "an all-zero map explains nothing"
    if method in ("relevance", "attention"):  # non-negative by construction: the top voxel is exactly 1
        assert e.image_model.max() == pytest.approx(1.0)
    assert len(e.token_relevance) == len(case.text.tokens)
    assert e.words == case.text.words and e.word_field == case.text.word_field
    assert len(e.word_relevance) == len(e.words)
    assert list(e.field_relevance) == list(dict.fromkeys(case.text.word_field))
    for v in [*e.token_relevance, *e.word_relevance, *e.field_relevance.values()]:
        assert 0.0 <= v <= 1.0 and np.isfinite(v)
    assert e.token_relevance[0] == 0.0 and e.token_relevance[-1] == 0.0  # [CLS], [SEP]
    shares = sum(e.field_relevance.values())
    assert shares == pytest.approx(1.0) or shares == 0.0
    assert e.seconds > 0


def test_predicted_class_by_default_and_a_chosen_class_on_request(setup):
    predictor, pred, case = setup
    e = explain(predictor.model, case, "relevance", class_names=predictor.class_names)
    assert explain(predictor.model, case, **FAST).method == "guided", "the default map"
    assert e.target_name == pred.label
    others = [k for k in range(3) if k != e.target_class]
    chosen = explain(predictor.model, case, "relevance", target=others[0], class_names=predictor.class_names)
    assert chosen.target_class == others[0] and chosen.target_name == predictor.class_names[others[0]]
    # relevance depends on the class; raw attention cannot
    assert not np.allclose(chosen.image_model, e.image_model)
    a0 = explain(predictor.model, case, "attention", target=0)
    a1 = explain(predictor.model, case, "attention", target=1)
    np.testing.assert_array_equal(a0.image_model, a1.image_model)


def test_occlusion_word_and_field_scores_are_drops_of_log_probability(setup):
    """A word's (field's) occlusion score is log p(class) minus log p(class) with all its pieces set to [MASK]."""
    predictor, _, case = setup
    model, cfg = predictor.model, predictor.cfg
    e = explain(model, case, "occlusion", target=2, **FAST)
    img, ids, mask = predictor.tensors(case)
    with torch.no_grad():
        base = torch.log_softmax(model(img, ids, mask).double(), -1)[0, 2]
        drops = []
        for w in range(len(case.text.words)):
            hidden = ids.clone()
            hidden[0, [i for i, tw in enumerate(case.text.token_word) if tw == w]] = cfg.mask_token_id
            drops.append(float(base - torch.log_softmax(model(img, hidden, mask).double(), -1)[0, 2]))
        field_drops = []
        for name in e.field_relevance:
            hidden = ids.clone()
            hidden[0, [i for i, f in enumerate(case.text.token_field) if f == name]] = cfg.mask_token_id
            field_drops.append(float(base - torch.log_softmax(model(img, hidden, mask).double(), -1)[0, 2]))
    # float32 forwards in batches of 4 against one at a time, then divided by the largest drop: ~1e-5 apart
    np.testing.assert_allclose(e.word_relevance, unit_max(np.array(drops)), atol=5e-5)
    positive = np.clip(field_drops, 0, None)  # whole fields hidden at once: shares of the positive drops
    np.testing.assert_allclose(list(e.field_relevance.values()), positive / positive.sum(), atol=5e-5)


def test_frozen_pretrained_text_still_gets_relevance(tmp_path, setup):
    """With frozen embeddings and blocks (as the packaged MiniLM is), the first attention maps need a gradient
    path all the same; without it the words would get nothing."""
    _, _, case = setup
    model = AlifuseModel(preset("tiny", text_trainable_layers=0)).eval()
    frozen = [model.text_encoder.embeddings, *(b.attn for b in model.text_encoder.blocks)]
    assert not any(p.requires_grad for m in frozen for p in m.parameters())
    e = explain(model, case, "relevance")
    assert max(e.word_relevance) == pytest.approx(1.0)
    assert len({round(v, 6) for v in e.word_relevance}) > 3


@pytest.mark.parametrize("method", ["relevance", "attention"])
def test_a_mean_read_out_cnn_stem_model_gets_a_full_image_map(setup, tmp_path, method):
    """The heads read the mean patch token: the map comes from the patch rows, and must still vary over the grid."""
    _, _, case = setup
    predictor = _make_predictor(tmp_path, image_pool="mean", patch_stem="cnn", stem_widths=(8,))
    e = explain(predictor.model, case, method, **FAST)
    assert e.image_model.shape == (16, 16, 16) and np.isfinite(e.image_model).all()
    assert e.image_model.max() == pytest.approx(1.0) and e.image_model.std() > 0.01


def test_single_modality_models(setup):
    _, _, case = setup
    img_only = explain(AlifuseModel(preset("tiny", modalities=("image",))).eval(), case)
    assert img_only.image_model.max() == pytest.approx(1.0)
    assert img_only.words == [] and img_only.word_relevance == [] and img_only.field_relevance == {}
    txt_only = explain(AlifuseModel(preset("tiny", modalities=("text",))).eval(), case, "occlusion", **FAST)
    assert not txt_only.image_model.any() and not txt_only.image_original.any()
    assert len(txt_only.word_relevance) == len(case.text.words)


def test_bad_method_and_target_are_named(setup):
    predictor, _, case = setup
    with pytest.raises(AlifuseInputError, match="method: unknown explanation method 'gradcam'"):
        explain(predictor.model, case, "gradcam")
    with pytest.raises(AlifuseInputError, match="target: class 3 is out of range 0-2"):
        explain(predictor.model, case, target=3)
    with pytest.raises(AlifuseInputError, match="n_steps"):
        explain(predictor.model, case, "integrated_gradients", n_steps=0)


# -- cost and the two attention paths --

def test_relevance_costs_one_forward_and_one_backward(setup, monkeypatch):
    predictor, _, case = setup
    model = predictor.model
    calls = {"forward": 0, "backward": 0}

    def count_forward(*_):
        calls["forward"] += 1

    hooks = [model.image_encoder.register_forward_hook(count_forward)]
    real_grad, real_backward = torch.autograd.grad, torch.autograd.backward

    def grad(*a, **k):
        calls["backward"] += 1
        return real_grad(*a, **k)

    def backward(*a, **k):
        calls["backward"] += 1
        return real_backward(*a, **k)

    monkeypatch.setattr(torch.autograd, "grad", grad)
    monkeypatch.setattr(torch.autograd, "backward", backward)
    try:
        explain(model, case, "relevance")
    finally:
        for h in hooks:
            h.remove()
    assert calls == {"forward": 1, "backward": 1}
    assert all(p.grad is None for p in model.parameters()), "an explanation must not leave weight gradients"


def test_explicit_attention_path_matches_the_fast_one_and_predict_stays_fast(setup):
    predictor, _, case = setup
    model = predictor.model
    img, ids, mask = predictor.tensors(case)
    with torch.no_grad():
        fast = model(img, ids, mask)
        with explaining(model):
            slow = model(img, ids, mask)
    torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-5)
    before = predictor.probabilities(case)
    model.train()
    explain(model, case, "relevance")
    assert model.training, "explain must hand the model back in the mode it got it"
    model.eval()
    attn = [m for m in model.modules() if hasattr(m, "attn_map")]
    assert attn and all(not m.explain and m.attn_map is None and m.attn_grad is None for m in attn)
    np.testing.assert_array_equal(predictor.probabilities(case), before)


# -- progress and cancellation --

@pytest.mark.parametrize("method", METHODS)
def test_progress_is_monotone_and_ends_at_one(setup, method):
    predictor, _, case = setup
    seen: list[float] = []
    explain(predictor.model, case, method, progress=lambda f, msg: seen.append(f), **FAST)
    assert seen[0] == 0.0 and seen[-1] == 1.0
    assert all(a <= b for a, b in zip(seen, seen[1:]))
    if method in ("integrated_gradients", "occlusion", "guided"):
        assert len([f for f in seen if 0.0 < f < 0.9]) >= 3, "no progress from inside the loops"


@pytest.mark.parametrize("method", ["integrated_gradients", "occlusion", "guided"])
def test_cancel_stops_early(setup, method):
    predictor, _, case = setup
    model = predictor.model
    runs = {"n": 0}
    hook = model.image_encoder.register_forward_hook(lambda *_: runs.__setitem__("n", runs["n"] + 1))
    try:
        many = {"n_steps": 16, "batch_size": 2}  # 8 IG chunks / 33 occlusion batches per image
        explain(model, case, method, **many)
        full, runs["n"] = runs["n"], 0
        asked = {"n": 0}

        def cancel() -> bool:
            asked["n"] += 1
            return asked["n"] >= 3

        with pytest.raises(ExplanationCancelled):
            explain(model, case, method, cancel=cancel, **many)
    finally:
        hook.remove()
    assert runs["n"] < full / 2, f"cancelled run still made {runs['n']} of {full} image passes"
    assert not model.training and all(m.attn_map is None for m in model.modules() if hasattr(m, "attn_map"))


# -- files --

def test_saved_files_line_up_with_the_input(setup, tmp_path):
    predictor, _, case = setup
    e = explain(predictor.model, case, "relevance", class_names=predictor.class_names)
    paths = save_explanation(e, case, tmp_path / "out")
    assert [p.name for p in paths] == ["relevance.nii.gz", "words.json", "fields.json"]
    img = nib.load(paths[0])
    assert img.shape == SHAPE
    np.testing.assert_allclose(img.affine, AFFINE, atol=1e-5)
    np.testing.assert_allclose(np.asarray(img.dataobj), e.image_original)
    words = json.loads(paths[1].read_text())
    assert words["method"] == "relevance" and words["target_name"] == e.target_name
    assert [w["word"] for w in words["words"]] == case.text.words
    assert [w["field"] for w in words["words"]] == case.text.word_field
    assert [w["relevance"] for w in words["words"]] == pytest.approx(e.word_relevance)
    fields = json.loads(paths[2].read_text())
    assert fields["fields"] == pytest.approx(e.field_relevance)


def test_saving_into_a_file_is_refused(setup, tmp_path):
    predictor, _, case = setup
    e = explain(predictor.model, case, "attention")
    (tmp_path / "taken").write_text("x")
    with pytest.raises(AlifuseInputError, match="taken: exists and is not a folder"):
        save_explanation(e, case, tmp_path / "taken")


def test_image_maps_drop_the_uniform_floor_of_attention_rollout():
    """A map that is high everywhere with one peak must show the peak, not a tinted brain."""
    import numpy as np

    from engine.explain.base import unit_range

    x = np.full((4, 4, 4), 0.8)
    x[1, 2, 3] = 1.0
    u = unit_range(x)
    assert u.max() == 1.0 and u[1, 2, 3] == 1.0 and np.count_nonzero(u) == 1
    assert not unit_range(np.full((2, 2, 2), 0.5)).any()  # flat: nothing stands out
