"""One way from an image and a record to the model's tensors: Predict and Explain read the same image tensor,
and a case whose image lives only on the model's device is never copied to the host on the way."""
from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import torch

from engine.case_inputs import CaseInputs, model_inputs, prepare_case
from engine.checkpoint import save_checkpoint
from engine.config import preset
from engine.ehr import validate_ehr
from engine.ehr_text import encode_for_model
from engine.explain import explain
from engine.imageio import load_volume
from engine.model import AlifuseModel
from engine.predict import Predictor

SHAPE = (20, 24, 18)
EHR = {"age": 74, "sex": "female", "mmse": 24, "summary": "Forgetful for two years."}


@pytest.fixture(scope="module")
def predictor_and_scan(tmp_path_factory):
    d = tmp_path_factory.mktemp("case_inputs")
    rng = np.random.default_rng(0)
    nib.save(nib.Nifti1Image((rng.random(SHAPE) * 100).astype(np.float32), np.diag([1.2, 1.0, 1.5, 1.0])),
             d / "t1.nii.gz")
    torch.manual_seed(0)
    save_checkpoint(AlifuseModel(preset("tiny")), d / "tiny.safetensors", ["NC", "MCI", "AD"], {"trained": True})
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield Predictor(d / "tiny.safetensors", "cpu"), d / "t1.nii.gz"
    torch.set_num_threads(before)


def test_predict_and_explain_read_one_image_tensor(predictor_and_scan):
    predictor, scan = predictor_and_scan
    _, case = predictor.predict(scan, EHR)
    img, ids, mask = predictor.tensors(case)
    x = model_inputs(predictor.model, case)
    # the same memory: the image was put on the model's device once, at prepare time
    assert img.data_ptr() == x.img.data_ptr() == case.device_image.data_ptr()
    assert torch.equal(ids, x.ids) and torch.equal(mask, x.mask)
    assert case.image.shape == (predictor.cfg.image_size,) * 3  # still readable on the host (figures, checks)


def test_a_device_only_case_is_explained_without_a_host_copy(predictor_and_scan):
    """As a GPU case arrives from Predict: the image only as a tensor on the device. Explain reads it there, and
    gives the same map as the case built from the host array."""
    predictor, scan = predictor_and_scan
    host = prepare_case(load_volume(scan), EHR, predictor.cfg, predictor.tokenizer, "cpu")
    on_device = CaseInputs(host.volume, None, host.mapping, host.text, host.ehr, host.device_image.clone())
    a = explain(predictor.model, on_device, "relevance", class_names=predictor.class_names)
    assert on_device._image is None  # nothing was copied down to the host on the way
    b = explain(predictor.model, host, "relevance", class_names=predictor.class_names)
    np.testing.assert_allclose(a.image_original, b.image_original, atol=1e-6)
    assert a.word_relevance == b.word_relevance


def test_a_case_of_another_grid_is_refused_by_name(predictor_and_scan):
    predictor, scan = predictor_and_scan
    host = prepare_case(load_volume(scan), EHR, preset("tiny", image_size=8), predictor.tokenizer, "cpu")
    with pytest.raises(ValueError, match="does not fit the model's"):
        model_inputs(predictor.model, host)


def test_a_model_reads_the_record_in_the_text_format_it_was_trained_on(predictor_and_scan, tmp_path):
    """text_format travels in the checkpoint: Predict and the what-if batches write CDR-SB 10.5 as the model's
    format does ("10.5" for 1, "10½" for 2); the record is the same."""
    from engine.ehr_text import encode_ehr

    old, scan = predictor_and_scan
    torch.manual_seed(0)
    save_checkpoint(AlifuseModel(preset("tiny", text_format=2)), tmp_path / "v2.safetensors", ["NC", "MCI", "AD"])
    new = Predictor(tmp_path / "v2.safetensors", "cpu")
    record = dict(EHR, cdr_sb=10.5)
    assert "10½" in new.prepare(scan, record).text.text and "10.5" in old.prepare(scan, record).text.text
    assert "##½" in new.prepare(scan, record).text.tokens
    img = np.zeros((new.cfg.image_size,) * 3, np.float32)
    batched = new.record_probabilities([record], img)[0]
    by_format = {}
    for f in (1, 2):
        enc = encode_ehr(record, new.tokenizer, new.cfg.max_tokens, new.cfg.summary_max_words, text_format=f)
        with torch.no_grad():
            logits = new.model(torch.from_numpy(img)[None], enc.input_ids[None], enc.attention_mask[None])
        by_format[f] = torch.softmax(logits.double(), -1)[0].numpy()
    np.testing.assert_allclose(batched, by_format[2], atol=1e-6)
    assert np.abs(by_format[1] - by_format[2]).max() > 1e-6  # the format is what the model read


def test_what_if_batches_give_each_record_its_own_answer_in_the_order_asked(predictor_and_scan):
    """record_probabilities encodes the scan once and reads the records shortest first, each batch cut to its
    longest: every row is still the answer Predict gives that record alone, in the order the records were given."""
    predictor, scan = predictor_and_scan
    long_summary = "Forgetful for two years; gets lost driving; needs help with the bills. " * 3
    records = [dict(EHR, summary=long_summary), {"age": 60}, dict(EHR, mmse=29, summary=""),
               {"age": 81, "sex": "male", "mmse": 17, "cdr": 2}, dict(EHR, summary=long_summary[:40]), {}]
    alone = np.stack([predictor.probabilities(predictor.prepare(scan, r)) for r in records])
    image = predictor.prepare(scan, {}).image
    for batch in (2, 64):
        got = predictor.record_probabilities(records, image, batch=batch)
        assert got.shape == (len(records), len(predictor.class_names))
        np.testing.assert_allclose(got, alone, atol=1e-5)
    # the rows differ from one another, so a shuffled order could not pass the comparison above
    assert min(np.abs(alone[i] - alone[j]).max() for i in range(len(records)) for j in range(i)) > 1e-4
    assert predictor.record_probabilities([], image).shape == (0, len(predictor.class_names))


@pytest.mark.parametrize("options, temperature", [
    pytest.param({"score_knots": 6}, None, id="scores read as numbers"),
    pytest.param({"score_knots": 6}, 1.7, id="calibrated, scores as numbers"),
    pytest.param({"modalities": ("image",)}, None, id="image only"),
    pytest.param({"modalities": ("text",)}, None, id="text only"),
    pytest.param({"image_pool": "mean"}, 1.7, id="mean of the image tokens, calibrated"),
])
def test_what_if_batches_read_the_scan_once_and_each_text_once_for_every_kind_of_model(tmp_path, options,
                                                                                         temperature):
    """A model that reads the scores as numbers sees one text for a whole sweep of a score: record_probabilities
    encodes that text once, and the scan once; each record still gets the answer the model gives it alone."""
    torch.manual_seed(1)
    model = AlifuseModel(preset("tiny", **options))
    if model.score_path is not None:
        with torch.no_grad():
            for p in model.score_path.parameters():
                p.normal_(0.0, 0.5)  # an untrained path is flat: make each score move the answer
    save_checkpoint(model, tmp_path / "m.safetensors", ["NC", "MCI", "AD"], {"trained": True})
    predictor = Predictor(tmp_path / "m.safetensors", "cpu")
    predictor.model.applied_temperature = temperature
    image = np.random.default_rng(2).random((predictor.cfg.image_size,) * 3).astype(np.float32)
    sweep = [dict(EHR, mmse=m, cdr=c) for m in (30, 24, 18, 10) for c in (0.0, 1.0)]
    records = sweep + [{"age": 90}, {}, dict(EHR, summary="Gets lost driving; needs help with the bills. " * 3)]
    texts = [encode_for_model(validate_ehr(r), predictor.tokenizer, predictor.cfg) for r in records]
    alone = []
    for t in texts:
        with torch.no_grad():
            logits = predictor.model(torch.from_numpy(image)[None], t.input_ids[None], t.attention_mask[None],
                                     scores=t.scores[None])
        alone.append(torch.softmax(logits.double(), -1)[0].numpy())
    alone = np.stack(alone)
    calls = {"image": 0, "text": 0}
    for part, name in ((predictor.model.image_encoder, "image"), (predictor.model.text_encoder, "text")):
        if part is not None:
            part.register_forward_hook(lambda m, i, o, name=name: calls.__setitem__(name, calls[name] + len(o)))
    got = predictor.record_probabilities(records, image, batch=2)
    np.testing.assert_allclose(got, alone, atol=1e-5)
    distinct = len({t.text for t in texts})
    assert calls == {"image": int(predictor.cfg.use_image), "text": distinct if predictor.cfg.use_text else 0}
    if predictor.cfg.score_knots:
        assert distinct == 4  # the eight records of the sweep are one text: eight answers from one encoding
        assert np.abs(alone[0] - alone[6]).max() > 1e-3  # MMSE and CDR move the answer
