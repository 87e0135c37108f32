"""engine.wordpiece answers as transformers' BertTokenizerFast over the same files, without importing transformers."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.config import preset
from engine.ehr_text import encode_ehr
from engine.errors import AlifuseInputError
from engine.minilm import load_tokenizer, minilm_dir
from engine.wordpiece import WordPieceTokenizer


@pytest.fixture(scope="module")
def reference():
    from transformers import BertTokenizerFast

    return BertTokenizerFast.from_pretrained(str(minilm_dir()), local_files_only=True)


TEXTS = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300) | st.sampled_from([
    "The MMSE score is 26. The patient reports forgetting names.",
    "Ça été l'Œuvre: naïve café, Straße, 記憶障害, ¿qué?",
    "  double  spaces\tand\nnew lines  ", "", "[CLS] [MASK] literal specials [SEP]", "x" * 400,
])


@settings(max_examples=150, deadline=None)
@given(text=TEXTS, max_length=st.integers(3, 80))
def test_same_answers_as_transformers(reference, text, max_length):
    ours = load_tokenizer()
    for kwargs in ({"add_special_tokens": False, "return_offsets_mapping": True},  # encode_ehr's word costs
                   {"max_length": max_length, "truncation": True, "padding": "max_length",  # and its encoding
                    "return_offsets_mapping": True, "return_special_tokens_mask": True}):
        got, want = ours(text, **kwargs), reference(text, verbose=False, **kwargs)
        for key in got:
            assert list(map(tuple, got[key])) == list(map(tuple, want[key])) if key == "offset_mapping" \
                else got[key] == want[key], key
    ids = ours(text)["input_ids"]
    assert ours.convert_ids_to_tokens(ids) == reference.convert_ids_to_tokens(ids)


def test_special_tokens_agree_with_the_model_config(reference):
    ours, cfg = load_tokenizer(), preset("demo")
    assert ours.num_special_tokens_to_add(pair=False) == reference.num_special_tokens_to_add(pair=False) == 2
    assert (ours.pad_token_id, ours.cls_token_id, ours.sep_token_id, ours.mask_token_id) == \
        (cfg.pad_token_id, cfg.cls_token_id, cfg.sep_token_id, cfg.mask_token_id)
    assert ours.vocab_size == reference.vocab_size == cfg.vocab_size


def test_an_ehr_encodes_alike_with_either_tokenizer(reference):
    ehr = {"age": 74, "sex": "female", "mmse": 24, "cdr": 0.5, "education_years": 12,
           "summary": "Daughter reports she forgets appointments and repeats questions; Ça va. " * 6}
    ours = encode_ehr(ehr, load_tokenizer(), 70, 40)
    theirs = encode_ehr(ehr, reference, 70, 40)
    assert torch.equal(ours.input_ids, theirs.input_ids) and torch.equal(ours.attention_mask, theirs.attention_mask)
    assert (ours.tokens, ours.words, ours.token_word, ours.text) == \
        (theirs.tokens, theirs.words, theirs.token_word, theirs.text)


def test_loading_it_does_not_import_transformers():
    code = ("import sys\nfrom engine.minilm import load_tokenizer\n"
            "t = load_tokenizer()\nprint(t('memory')['input_ids'], 'transformers' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-1500:]
    assert out.stdout.strip() == "[101, 3638, 102] False"


def test_a_folder_without_a_tokenizer_is_named(tmp_path):
    (tmp_path / "tokenizer.json").write_text("{not json")
    with pytest.raises(AlifuseInputError, match="tokenizer.json: not a readable tokenizer"):
        WordPieceTokenizer(tmp_path)


def test_options_without_a_length_use_the_model_maximum_and_odd_options_are_refused(reference):
    ours, long_text = load_tokenizer(), "memory " * 700
    for kwargs in ({"truncation": True}, {"padding": "max_length"}, {"truncation": "do_not_truncate"},
                   {"truncation": "longest_first", "max_length": 9}, {"padding": "longest"}):
        assert ours(long_text if "truncation" in kwargs else "memory", **kwargs)["input_ids"] == \
            reference(long_text if "truncation" in kwargs else "memory", verbose=False, **kwargs)["input_ids"], kwargs
    with pytest.raises(ValueError, match="not supported"):
        ours("memory", padding="to_the_moon")


def test_it_survives_pickling_for_spawned_workers():
    import pickle

    ours = load_tokenizer()
    copy = pickle.loads(pickle.dumps(ours))
    text = "The CDR score is 0.5; she repeats questions."
    assert copy(text, max_length=12, truncation=True, padding="max_length") == \
        ours(text, max_length=12, truncation=True, padding="max_length")
