"""How much a prediction rests on each modality: the numbers are the model's own outputs with the MRI or the
record hidden, a modality the model ignores is called out, and the figures reach the saved files."""
from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
import torch

from engine.config import preset
from engine.explain import explain, save_explanation
from engine.explain.reliance import WEAK_SHIFT, hidden_record, modality_reliance
from engine.model import AlifuseModel
from engine.predict import Predictor
from tests.engine.test_explain import AFFINE, EHR, _brain, _make_predictor

NAMES = ["NC", "MCI", "AD"]
#: "No shift" in float32: the whole case and the hidden copies go through one batched forward, and a GEMM may
#: round rows of one batch differently (other kernel paths for other rows; 1.8e-08 seen on an Intel Xeon), so
#: equal rows agree to float32 rounding (~1e-7 relative), not bit for bit. Far below WEAK_SHIFT (0.02).
FLOAT32_ZERO = 1e-6


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> tuple[Predictor, object]:
    d = tmp_path_factory.mktemp("reliance")
    nib.save(nib.Nifti1Image(_brain(), AFFINE), d / "t1.nii.gz")
    predictor = _make_predictor(d)
    _, case = predictor.predict(d / "t1.nii.gz", EHR)
    return predictor, case


def _probs(model, img, ids, mask) -> np.ndarray:
    with torch.no_grad():
        return torch.softmax(model(img, ids, mask).double(), -1)[0].numpy()


def test_the_figures_are_the_models_outputs_with_each_modality_hidden(setup):
    predictor, case = setup
    model, (img, ids, mask) = predictor.model, predictor.tensors(case)
    r = modality_reliance(model, img, ids, mask, class_names=NAMES)
    whole = _probs(model, img, ids, mask)
    np.testing.assert_allclose(r.probabilities, whole, atol=1e-6)
    assert r.target_class == int(whole.argmax())
    np.testing.assert_allclose(r.without_image, _probs(model, torch.zeros_like(img), ids, mask), atol=1e-6)
    masked = ids.clone()
    n = int(mask.sum())
    masked[0, 1:n - 1] = model.cfg.mask_token_id  # everything between [CLS] and [SEP]
    np.testing.assert_allclose(r.without_record, _probs(model, img, masked, mask), atol=1e-6)
    for modality, q in (("image", r.without_image), ("record", r.without_record)):
        assert r.shift(modality) == pytest.approx(0.5 * np.abs(whole - np.asarray(q)).sum(), abs=1e-6)
        assert 0.0 <= r.shift(modality) <= 1.0


def test_hiding_the_record_keeps_the_special_tokens_and_padding():
    cfg = preset("tiny")
    ids = torch.tensor([[cfg.cls_token_id, 2000, 2001, cfg.sep_token_id, cfg.pad_token_id]])
    mask = torch.tensor([[1, 1, 1, 1, 0]])
    hidden = hidden_record(ids, mask, cfg)
    assert hidden.tolist() == [[cfg.cls_token_id, cfg.mask_token_id, cfg.mask_token_id, cfg.sep_token_id,
                                cfg.pad_token_id]]
    assert hidden_record(ids[:, [0, 3, 4]], mask[:, [0, 3, 4]], cfg) is None, "nothing a person wrote: nothing to hide"


def _fusion_without(predictor: Predictor, ignored: str) -> AlifuseModel:
    """A copy of the model whose fusion MLP does not read ``ignored``'s feature; the other's weights x3, so that
    it clearly moves the untrained tiny model."""
    model = AlifuseModel(preset("tiny")).eval()
    model.load_state_dict(predictor.model.state_dict())
    d = model.cfg.img_dim
    with torch.no_grad():
        w = model.fusion[0].weight
        (w[:, :d] if ignored == "image" else w[:, d:]).zero_()
        (w[:, d:] if ignored == "image" else w[:, :d]).mul_(3.0)
    return model


def test_a_model_that_ignores_the_mri_is_called_out(setup):
    """Hiding the MRI then moves nothing, and the clinician reads that the prediction does not rest on it -
    and nothing of the kind about the record, which does move it."""
    predictor, case = setup
    r = modality_reliance(_fusion_without(predictor, "image"), *predictor.tensors(case), class_names=NAMES)
    assert r.shift("image") == pytest.approx(0.0, abs=FLOAT32_ZERO) and r.weak("image")
    assert r.shift("record") > WEAK_SHIFT and not r.weak("record")
    lines = r.lines()
    name, p = NAMES[r.target_class], r.probabilities[r.target_class]
    assert lines[0] == (f"Without the MRI: {name} {p:.1%} → {r.without_image[r.target_class]:.1%} (unchanged); "
                        "the prediction moves by 0.0%.")
    assert lines[1].startswith("Without the record: ")
    assert lines[2:] == ["This prediction hardly depends on the MRI: its map shows where the model looked, "
                         "not what it decided from."]


def test_a_model_that_ignores_the_record_is_called_out(setup):
    predictor, case = setup
    r = modality_reliance(_fusion_without(predictor, "record"), *predictor.tensors(case), class_names=NAMES)
    assert r.shift("record") == pytest.approx(0.0, abs=FLOAT32_ZERO) and r.weak("record")
    assert r.lines()[-1] == ("This prediction hardly depends on the record: its map shows where the model looked, "
                             "not what it decided from.")


def test_single_modality_models_report_only_what_they_read(setup):
    predictor, case = setup
    img, ids, mask = predictor.tensors(case)
    image_only = modality_reliance(AlifuseModel(preset("tiny", modalities=("image",))).eval(), img, ids, mask)
    assert image_only.without_record is None and image_only.shift("record") is None
    assert image_only.without_image is not None and len(image_only.lines()) in (1, 2)
    assert all("record" not in ln for ln in image_only.lines())
    text_only = modality_reliance(AlifuseModel(preset("tiny", modalities=("text",))).eval(), img, ids, mask)
    assert text_only.without_image is None and not text_only.weak("image")
    assert text_only.lines()[0].startswith("Without the record:")
    with pytest.raises(ValueError, match="modality 'ehr'"):
        text_only.shift("ehr")


def test_the_model_is_handed_back_in_its_mode_and_class_names_must_fit(setup):
    predictor, case = setup
    model = predictor.model
    model.train()
    try:
        modality_reliance(model, *predictor.tensors(case))
        assert model.training
    finally:
        model.eval()
    with pytest.raises(ValueError, match="2 class names for a model with 3 classes"):
        modality_reliance(model, *predictor.tensors(case), class_names=["a", "b"])


def test_explain_on_request_carries_it_into_the_summary_and_the_files(setup, tmp_path):
    predictor, case = setup
    plain = explain(predictor.model, case, "relevance", class_names=NAMES)
    assert plain.reliance is None and "reliance" not in plain.summary()
    e = explain(predictor.model, case, "relevance", class_names=NAMES, reliance=True)
    assert e.reliance.target_class == e.target_class, "the figures are for the class the map explains"
    np.testing.assert_array_equal(e.image_model, plain.image_model)
    paths = save_explanation(e, case, tmp_path / "out")
    assert [p.name for p in paths] == ["relevance.nii.gz", "words.json", "fields.json", "reliance.json"]
    saved = json.loads(paths[3].read_text())
    assert saved == e.summary()["reliance"]
    assert saved["target_name"] == e.target_name
    assert saved["without_image"]["shift"] == pytest.approx(e.reliance.shift("image"), abs=1e-6)
    assert saved["without_record"]["probabilities"][e.target_name] == pytest.approx(
        e.reliance.without_record[e.target_class], abs=1e-6)
    assert saved["weak_below"] == WEAK_SHIFT
