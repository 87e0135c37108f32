"""EHR -> sentences -> word-pieces: the text the model reads and where every word-piece came from."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
import torch

from engine.ehr import EHR_PARTS
from engine.ehr_text import (
    collate_text, ehr_to_sentences, encode_ehr, field_relevance, word_relevance,
)
from engine.errors import AlifuseInputError
from engine.minilm import load_tokenizer

FULL = {
    "subject_id": "002_S_0295", "age": 74, "sex": "female", "education_years": 16, "handedness": "right",
    "mmse": 29, "cdr": 0.5, "cdr_sb": 2.5, "logical_memory_delayed": 12, "ses": 2,
    "summary": "Reports mild forgetfulness over two years.",
}


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer()


def test_sentences_of_a_full_record():
    assert ehr_to_sentences(FULL) == [
        ("age", "The age is 74 years."),
        ("sex", "The sex is female."),
        ("education_years", "The education is 16 years."),
        ("handedness", "The handedness is right."),
        ("mmse", "The MMSE score is 29."),
        ("cdr", "The CDR score is 0.5."),
        ("cdr_sb", "The CDR sum of boxes is 2.5."),
        ("logical_memory_delayed", "The delayed logical memory score is 12."),
        ("ses", "The socioeconomic status is 2."),
        ("summary", "Reports mild forgetfulness over two years."),
    ]


def test_numbers_printed_naturally():
    got = dict(ehr_to_sentences({"age": 74.0, "cdr": 1.0, "cdr_sb": 0.0, "education_years": 1, "mmse": 30.0}))
    assert got["age"] == "The age is 74 years."
    assert got["cdr"] == "The CDR score is 1."
    assert got["cdr_sb"] == "The CDR sum of boxes is 0."
    assert got["education_years"] == "The education is 1 year."
    assert got["mmse"] == "The MMSE score is 30."
    assert dict(ehr_to_sentences({"age": 74.25}))["age"] == "The age is 74.25 years."


def test_format_2_marks_cdr_sb_half_points_and_changes_nothing_else(tok):
    v1, v2 = dict(ehr_to_sentences(FULL)), dict(ehr_to_sentences(FULL, text_format=2))
    assert v2.pop("cdr_sb") == "The CDR sum of boxes is 2½."
    assert v1.pop("cdr_sb") == "The CDR sum of boxes is 2.5."
    assert v1 == v2  # CDR 0.5 and every other field as in format 1
    # the integer part is one word-piece of its own, the half one more; "." is only the sentence's end
    half, whole = (encode_ehr({"cdr_sb": v}, tok, 70, text_format=2) for v in (10.5, 11.0))
    assert half.tokens[-4:] == ["10", "##½", ".", "[SEP]"] and whole.tokens[-3:] == ["11", ".", "[SEP]"]
    assert set(half.token_field) == {None, "cdr_sb"}
    assert encode_ehr({"cdr_sb": 10.5}, tok, 70).tokens[-5:] == ["10", ".", "5", ".", "[SEP]"]
    assert dict(ehr_to_sentences({"cdr_sb": 0.5}, text_format=2))["cdr_sb"] == "The CDR sum of boxes is 0½."
    assert dict(ehr_to_sentences({"cdr_sb": 18}, text_format=2))["cdr_sb"] == "The CDR sum of boxes is 18."


def test_format_3_writes_every_cdr_sb_with_one_decimal_and_changes_nothing_else(tok):
    v1, v3 = dict(ehr_to_sentences(FULL)), dict(ehr_to_sentences(FULL, text_format=3))
    assert v3.pop("cdr_sb") == "The CDR sum of boxes is 2.5."
    assert v1.pop("cdr_sb") == "The CDR sum of boxes is 2.5."
    assert v1 == v3  # CDR 0.5 and every other field as in format 1
    # whole and half points cost the same word-pieces: whole number, ".", tenths, then the sentence's "."
    half, whole, zero = (encode_ehr({"cdr_sb": v}, tok, 70, text_format=3) for v in (10.5, 11.0, 0))
    assert half.tokens[-5:] == ["10", ".", "5", ".", "[SEP]"] and whole.tokens[-5:] == ["11", ".", "0", ".", "[SEP]"]
    assert zero.text.endswith("The CDR sum of boxes is 0.0.") and set(zero.token_field) == {None, "cdr_sb"}
    assert encode_ehr({"cdr_sb": 11.0}, tok, 70).tokens[-3:] == ["11", ".", "[SEP]"]  # format 1 unchanged


@pytest.mark.parametrize("bad", [0, 4, True, "2", None])
def test_an_unknown_text_format_is_refused_by_name(bad):
    with pytest.raises(AlifuseInputError, match="text_format"):
        ehr_to_sentences(FULL, text_format=bad)


def test_sparse_record_invents_nothing(tok):
    sparse = {"subject_id": "S1", "age": 81, "cdr": 0, "mmse": None}
    assert ehr_to_sentences(sparse) == [("age", "The age is 81 years."), ("cdr", "The CDR score is 0.")]
    enc = encode_ehr(sparse, tok, 70)
    assert "MMSE" not in enc.text and "mm" not in enc.tokens
    for word in ("sex", "education", "summary", "handedness", "socioeconomic"):
        assert word not in enc.text.lower()
    assert set(enc.word_field) == {"age", "cdr"}


def test_summary_cut_at_40_words():
    summary = " ".join(f"w{i}" for i in range(100))
    got = dict(ehr_to_sentences({"summary": summary}))["summary"]
    assert got.split() == [f"w{i}" for i in range(40)]
    assert dict(ehr_to_sentences({"summary": summary}, summary_max_words=5))["summary"] == "w0 w1 w2 w3 w4"
    assert len(dict(ehr_to_sentences({"summary": summary}, summary_max_words=None))["summary"].split()) == 100


def test_subject_id_never_in_text(tok):
    enc = encode_ehr(FULL, tok, 128)
    assert "002" not in enc.text and "0295" not in enc.text
    assert "subject_id" not in enc.word_field
    assert not any("0295" in t for t in enc.tokens)


def test_token_budget_cuts_summary_and_keeps_structured(tok):
    # 'memory' is one word-piece, so the budget can be filled to the last token
    ehr = dict(FULL, summary=" ".join(["memory"] * 300))
    enc = encode_ehr(ehr, tok, 70, summary_max_words=400)
    assert enc.input_ids.shape == (70,) and enc.input_ids.dtype == torch.int64
    assert int(enc.attention_mask.sum()) == 70  # the budget is used to the last token
    assert enc.tokens[0] == "[CLS]" and enc.tokens[-1] == "[SEP]"
    assert int(enc.input_ids[-1]) == tok.sep_token_id
    assert enc.truncated
    assert "The MMSE score is 29." in enc.text
    assert "The socioeconomic status is 2." in enc.text  # every structured sentence survived
    assert enc.text.endswith(". memory memory memory")   # the cut fell between words
    assert enc.text == " ".join(enc.words)


def test_cut_at_word_boundary_when_summary_words_are_long(tok):
    # 'hippocampal' costs several word-pieces: a word that does not fit whole is dropped whole
    ehr = {"mmse": 24, "summary": "hippocampal atrophy " * 30}
    enc = encode_ehr(ehr, tok, 20)
    assert enc.truncated and len(enc.tokens) <= 20
    assert enc.text.startswith("The MMSE score is 24.")
    whole = tok(enc.text)["input_ids"]
    assert whole == enc.input_ids[: len(whole)].tolist()  # the kept text re-tokenizes to the same ids
    last = enc.words[-1]
    assert last in ("hippocampal", "atrophy")


def test_whole_structured_sentences_dropped_when_budget_tiny(tok):
    enc = encode_ehr({"age": 74, "mmse": 29, "cdr": 0.5}, tok, 10)
    # 8 pieces of budget: "The age is 74 years." costs 6, "The MMSE score is 29." 7, the CDR one 9
    assert enc.text == "The age is 74 years."
    assert enc.truncated
    # a summary word fills what the skipped sentences left, but never displaces a sentence that fits
    enc = encode_ehr({"age": 74, "mmse": 29, "summary": "forgetful since spring"}, tok, 10)
    assert enc.text == "The age is 74 years. forgetful"  # 'forget', '##ful': 8 pieces in all


def test_no_truncation_flag_when_it_fits(tok):
    enc = encode_ehr(FULL, tok, 128)
    assert not enc.truncated
    assert enc.text == " ".join(s for _, s in ehr_to_sentences(FULL))
    n = len(enc.tokens)
    assert enc.attention_mask.tolist() == [1] * n + [0] * (128 - n)
    assert set(enc.input_ids[n:].tolist()) == {tok.pad_token_id}


def test_every_word_piece_maps_to_its_word_and_field(tok):
    enc = encode_ehr(FULL, tok, 128)
    n = len(enc.tokens)
    assert len(enc.token_word) == len(enc.token_field) == n
    assert enc.token_word[0] == enc.token_word[-1] == -1 and enc.token_field[0] is None
    # 'MMSE' is split into 'mm', '##se': both map to the word 'MMSE' and the field 'mmse'
    i = enc.tokens.index("mm")
    assert enc.tokens[i + 1] == "##se"
    assert enc.words[enc.token_word[i]] == enc.words[enc.token_word[i + 1]] == "MMSE"
    assert enc.token_field[i] == enc.token_field[i + 1] == "mmse"
    # each word's pieces, glued back, spell the word (lower-cased)
    for w, word in enumerate(enc.words):
        pieces = [t.removeprefix("##") for t, tw in zip(enc.tokens, enc.token_word) if tw == w]
        assert "".join(pieces) == word.lower(), word
        assert enc.word_field[w] in {f for f, _ in ehr_to_sentences(FULL)}
    assert [enc.token_field[k] for k, t in enumerate(enc.tokens) if t == "forget"] == ["summary"]


def test_word_and_field_relevance_sums(tok):
    enc = encode_ehr(FULL, tok, 128)
    n = len(enc.tokens)
    scores = torch.arange(n, dtype=torch.float32) / 10
    total_real = float(scores[1:-1].sum())  # [CLS] and [SEP] carry no word
    words = word_relevance(scores, enc)
    assert len(words) == len(enc.words)
    assert sum(words) == pytest.approx(total_real)
    fields = field_relevance(scores, enc)
    assert list(fields) == [f for f, _ in ehr_to_sentences(FULL)]
    assert sum(fields.values()) == pytest.approx(total_real)
    i = enc.tokens.index("mm")
    assert words[enc.token_word[i]] == pytest.approx(float(scores[i] + scores[i + 1]))
    assert word_relevance(scores, enc, "max")[enc.token_word[i]] == pytest.approx(float(scores[i + 1]))
    assert word_relevance(scores, enc, "mean")[enc.token_word[i]] == pytest.approx(float(scores[i:i + 2].mean()))
    # scores over the padded length give the same answer as scores over the real tokens
    padded = torch.cat([scores, torch.full((128 - n,), 99.0)])
    assert word_relevance(padded, enc) == pytest.approx(words)
    with pytest.raises(ValueError, match="token scores"):
        word_relevance([1.0, 2.0], enc)


@pytest.mark.parametrize("part", list(EHR_PARTS))
def test_exclude_parts_removes_exactly_those_fields(tok, part):
    kept = [f for f, _ in ehr_to_sentences(FULL, exclude_parts=[part])]
    assert kept == [f for f, _ in ehr_to_sentences(FULL) if f not in EHR_PARTS[part]]
    enc = encode_ehr(FULL, tok, 128, exclude_parts=(part,))
    assert set(enc.word_field) == set(kept)


def test_exclude_parts_accepts_a_single_name_and_rejects_unknown():
    assert [f for f, _ in ehr_to_sentences(FULL, exclude_parts="summary")][-1] == "ses"
    with pytest.raises(AlifuseInputError, match=r"exclude_parts: unknown EHR part 'labs'"):
        ehr_to_sentences(FULL, exclude_parts=["labs"])


def test_invalid_ehr_rejected_before_text():
    with pytest.raises(AlifuseInputError, match=r"field 'mmse': 31 is out of range 0-30"):
        ehr_to_sentences({"mmse": 31})


def test_empty_record_is_just_special_tokens(tok):
    enc = encode_ehr({}, tok, 16)
    assert enc.tokens == ["[CLS]", "[SEP]"] and enc.words == [] and enc.text == "" and not enc.truncated


def test_collate(tok):
    a, b = encode_ehr(FULL, tok, 70), encode_ehr({"mmse": 12}, tok, 70)
    ids, mask = collate_text([a, b])
    assert ids.shape == mask.shape == (2, 70) and ids.dtype == mask.dtype == torch.int64
    assert torch.equal(ids[1], b.input_ids) and int(mask[1].sum()) == len(b.tokens)
    with pytest.raises(ValueError, match="different lengths"):
        collate_text([a, encode_ehr(FULL, tok, 32)])


def test_bad_budget_named(tok):
    with pytest.raises(AlifuseInputError, match=r"^max_tokens: 2 "):
        encode_ehr(FULL, tok, 2)


def test_a_word_longer_than_the_budget_is_cut_inside_and_reported(tok):
    enc = encode_ehr({"summary": "Pneumonoultramicroscopicsilicovolcanoconiosis"}, tok, 5)
    assert len(enc.tokens) == 5 and enc.tokens[-1] == "[SEP]" and enc.truncated
    assert "Pneumonoultramicroscopicsilicovolcanoconiosis".startswith(enc.text) and enc.text
    assert enc.token_word[1:-1] == [0, 0, 0] and enc.token_field[1:-1] == ["summary"] * 3


_value = st.one_of(st.none(), st.integers(0, 18), st.sampled_from([0.5, 1.0, 2.5]))
_ehr = st.fixed_dictionaries({}, optional={
    "age": st.integers(1, 120), "sex": st.sampled_from(["F", "male"]), "mmse": st.integers(0, 30),
    "cdr": st.sampled_from([0, 0.5, 1, 2, 3]), "cdr_sb": st.sampled_from([0, 0.5, 17.5]), "ses": st.integers(1, 5),
    "education_years": _value, "summary": st.text(
        alphabet=st.sampled_from(list("abcdefghij é.,-0123456789") + ["ß", "脑", "\n"]), max_size=200),
})


@settings(max_examples=60, deadline=None)
@given(ehr=_ehr, max_tokens=st.integers(3, 80), exclude=st.sets(st.sampled_from(list(EHR_PARTS))))
def test_provenance_holds_for_any_record_and_budget(tok, ehr, max_tokens, exclude):
    enc = encode_ehr(ehr, tok, max_tokens, exclude_parts=exclude)
    n = len(enc.tokens)
    assert enc.input_ids.shape == (max_tokens,) and 2 <= n <= max_tokens
    assert enc.tokens[0] == "[CLS]" and enc.tokens[-1] == "[SEP]"
    assert enc.text == " ".join(enc.words) and len(enc.word_field) == len(enc.words)
    assert all(-1 <= w < len(enc.words) for w in enc.token_word)
    assert not set(enc.word_field) & {f for p in exclude for f in EHR_PARTS[p]}
    full = encode_ehr(ehr, tok, 512, summary_max_words=40, exclude_parts=exclude)
    assert enc.truncated == (enc.text != full.text)
    again = tok(enc.text)["input_ids"]
    if len(again) <= max_tokens:  # the text the encoding reports is the text the ids spell
        assert again == enc.input_ids[:n].tolist()


def test_a_tokenizer_folder_stands_in_for_the_package(tmp_path, monkeypatch):
    """ALIFUSE_TOKENIZER_DIR: the tokenizer files alone (for a GPU machine without the package) tokenize alike."""
    import shutil

    from engine.minilm import TOKENIZER_DIR_ENV, minilm_dir

    text = "The MMSE score is 26. The patient reports forgetting names."
    packaged = load_tokenizer()(text)["input_ids"]
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(minilm_dir() / name, tmp_path / name)
    monkeypatch.setenv(TOKENIZER_DIR_ENV, str(tmp_path))
    load_tokenizer.cache_clear()
    try:
        assert load_tokenizer()(text)["input_ids"] == packaged
        (tmp_path / "tokenizer.json").unlink()
        load_tokenizer.cache_clear()
        with pytest.raises(AlifuseInputError, match=f"{TOKENIZER_DIR_ENV}=.*no tokenizer.json"):
            load_tokenizer()
    finally:
        load_tokenizer.cache_clear()
