"""EHR -> sentences -> word-pieces, keeping for every word-piece the word and the EHR field it came from.

As in the paper, each present field becomes one sentence ("The MMSE score is 29."), the doctor's
summary is cut at ``summary_max_words`` words, and the whole text at the token budget. The
provenance (token -> word -> field) lets explanations highlight words and sum relevance per field.

Words are the text's space-separated words (``" ".join(words) == text``), so "29." is one word; the
fast tokenizer's character offsets map each word-piece to its word.
"""
from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

from engine.ehr import EHR_PARTS, FIELD_SPECS, SCORE_PART, score_values, validate_ehr
from engine.errors import AlifuseInputError

if TYPE_CHECKING:  # torch is imported where tensors are made: the viewer's record preview needs no torch
    import torch

__all__ = [
    "TEXT_FORMATS", "TextEncoding", "ehr_to_sentences", "encode_ehr", "encode_for_model", "collate_text",
    "word_relevance", "field_relevance", "parts_fields",
]

# One clinical sentence per field; {v} is the value as a person writes it.
_TEMPLATES: dict[str, str] = {
    "age": "The age is {v} {years}.",
    "sex": "The sex is {v}.",
    "education_years": "The education is {v} {years}.",
    "handedness": "The handedness is {v}.",
    "mmse": "The MMSE score is {v}.",
    "cdr": "The CDR score is {v}.",
    "cdr_sb": "The CDR sum of boxes is {v}.",
    "logical_memory_delayed": "The delayed logical memory score is {v}.",
    "ses": "The socioeconomic status is {v}.",
}


#: The ways of writing a record a model can have been trained on (its config's ``text_format``).
#: 1: every number as a person writes it ("The CDR sum of boxes is 10.5."). The tokenizer reads "10.5." as
#:    "10", ".", "5", ".": a sentence that seems to end at 10 and a 5 after it; models trained on it read
#:    CDR-SB 10.5 as more impaired than 11 (docs/RESULTS.md, the record audit).
#: 2: as 1, but CDR-SB's half points written with a half sign: "10½" is read "10", "##½", the integer part
#:    first and alone, the half as one mark after it.
#: 3: as 1, but CDR-SB always with one decimal ("11.0", "10.5", "0.0"): every value is read as the same three
#:    word-pieces, whole number, ".", tenths, so a half point is no longer the only value with a tail.
TEXT_FORMATS: tuple[int, ...] = (1, 2, 3)


def _half_marked(x: object) -> str | None:
    """10.5 -> "10½", 0.5 -> "0½"; None for a value that is not a whole number and a half."""
    if isinstance(x, (int, float)) and not isinstance(x, bool) and x >= 0 and float(x) % 1 == 0.5:
        return f"{int(x)}½"
    return None


def _one_decimal(x: object) -> str | None:
    """11 -> "11.0", 10.5 -> "10.5"; None for a value that is not a number."""
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return f"{float(x):.1f}"
    return None


#: text format -> field -> how that format writes the field's value (None: as a person writes numbers)
_WRITERS: dict[int, dict[str, Callable[[object], str | None]]] = {
    1: {}, 2: {"cdr_sb": _half_marked}, 3: {"cdr_sb": _one_decimal}}


def _number_text(x: object) -> str:
    """74 not 74.0; 0.5 stays 0.5; at most two decimals (ages like 74.25)."""
    if isinstance(x, float):
        if x.is_integer():
            return str(int(x))
        return f"{x:.2f}".rstrip("0").rstrip(".")
    return str(x)


def parts_fields(exclude_parts: Iterable[str]) -> set[str]:
    """The fields of the named EHR parts; an unknown part name is an error naming it."""
    if isinstance(exclude_parts, str):  # "summary" must not become {"s", "u", ...}
        exclude_parts = (exclude_parts,)
    fields: set[str] = set()
    for part in exclude_parts:
        if part not in EHR_PARTS:
            raise AlifuseInputError(f"exclude_parts: unknown EHR part {part!r} (use {', '.join(EHR_PARTS)})")
        fields.update(EHR_PARTS[part])
    return fields


def ehr_to_sentences(
    ehr: dict, summary_max_words: int | None = 40, exclude_parts: Iterable[str] = (), text_format: int = 1
) -> list[tuple[str, str]]:
    """``[(field, sentence)]`` in the fixed field order, present fields only; never the subject ID.

    ``summary_max_words=None`` keeps the whole summary. The EHR is validated first, so a raw dict
    (e.g. from a manifest) gives the same text as its validated copy. ``text_format``: one of
    :data:`TEXT_FORMATS`, the model's ``config.text_format``.
    """
    if summary_max_words is not None and (isinstance(summary_max_words, bool) or summary_max_words < 1):
        raise AlifuseInputError(f"summary_max_words: {summary_max_words!r} must be a positive number of words")
    if text_format not in _WRITERS or isinstance(text_format, bool):
        raise AlifuseInputError(f"text_format: {text_format!r} is not one of {', '.join(map(str, TEXT_FORMATS))}")
    writers = _WRITERS[text_format]
    clean = validate_ehr(ehr)
    drop = parts_fields(exclude_parts) | {"subject_id"}  # an identifier is not clinical information
    out: list[tuple[str, str]] = []
    for name in FIELD_SPECS:
        if name in drop or name not in clean:
            continue
        value = clean[name]
        if name == "summary":
            words = str(value).split()
            if summary_max_words is not None:
                words = words[:summary_max_words]
            out.append((name, " ".join(words)))
        else:
            years = "year" if value == 1 else "years"
            written = (writers[name](value) if name in writers else None) or _number_text(value)
            out.append((name, _TEMPLATES[name].format(v=written, years=years)))
    return out


@dataclass
class TextEncoding:
    """One EHR as the text encoder reads it, with provenance for every real token (n of them)."""

    input_ids: torch.Tensor        # (L,) int64, L = max_tokens, padded with [PAD]
    attention_mask: torch.Tensor   # (L,) int64, 1 = real token
    tokens: list[str]              # (n,) word-pieces of the real tokens, [CLS] ... [SEP]
    words: list[str]               # the words of the text, in order
    token_word: list[int]          # (n,) index into words, -1 for [CLS]/[SEP]
    token_field: list[str | None]  # (n,) EHR field of each token, None for special tokens
    word_field: list[str]          # per word: its field
    text: str                      # the full text the model reads (after truncation)
    truncated: bool                # True if the token budget cut anything
    #: (F,) float32: the record's scores (engine.ehr.SCORE_FIELDS), NaN = missing; a model with
    #: ``config.score_knots`` > 0 reads them as numbers (engine.score_path) and its text leaves them out
    scores: torch.Tensor | None = None


def _word_starts(words: Sequence[str]) -> list[int]:
    starts, pos = [], 0
    for w in words:
        starts.append(pos)
        pos += len(w) + 1
    return starts


def _pieces_per_word(tokenizer, words: list[str]) -> list[int]:
    """Word-pieces each word costs. BERT's tokenizer never merges across spaces, so they add up."""
    if not words:
        return []
    enc = tokenizer(" ".join(words), add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    starts = _word_starts(words)
    counts = [0] * len(words)
    for start, _ in enc["offset_mapping"]:
        counts[bisect_right(starts, start) - 1] += 1
    return counts


def _fit_budget(sentences: list[tuple[str, list[int]]], counts: list[int], budget: int) -> list[int]:
    """Indices of the words kept: whole structured sentences first (in order, skipping any that do
    not fit), then as many leading summary words as the rest of the budget allows."""
    kept: list[int] = []
    used = 0
    for field, idx in sentences:
        if field == "summary":
            continue
        cost = sum(counts[i] for i in idx)
        if used + cost <= budget:  # a half sentence ("The CDR score is") would mislead; drop it whole
            kept.extend(idx)
            used += cost
    for field, idx in sentences:
        if field != "summary":
            continue
        for i in idx:
            if used + counts[i] > budget:
                break
            kept.append(i)
            used += counts[i]
    return sorted(kept)


def encode_ehr(
    ehr: dict, tokenizer, max_tokens: int, summary_max_words: int | None = 40, exclude_parts: Iterable[str] = (),
    text_format: int = 1, scores_as_numbers: bool = False,
) -> TextEncoding:
    """Text of one EHR as ``max_tokens`` ids (padded), cut at word boundaries to fit, summary first.

    ``tokenizer`` must be a fast (Rust) tokenizer: its character offsets give the provenance. The scores are in
    ``scores`` either way; with ``scores_as_numbers`` (a model whose ``config.score_knots`` > 0) they leave the text.
    """
    if not getattr(tokenizer, "is_fast", False):
        raise TypeError("encode_ehr needs a fast tokenizer (offset mapping), e.g. engine.minilm.load_tokenizer()")
    n_special = tokenizer.num_special_tokens_to_add(pair=False)
    if isinstance(max_tokens, bool) or max_tokens < n_special + 1:
        raise AlifuseInputError(f"max_tokens: {max_tokens!r} leaves no room for text (need at least {n_special + 1})")

    exclude_parts = tuple([exclude_parts] if isinstance(exclude_parts, str) else exclude_parts)
    text_parts = exclude_parts + (SCORE_PART,) if scores_as_numbers else exclude_parts
    sentences = ehr_to_sentences(ehr, summary_max_words, text_parts, text_format)
    all_words: list[str] = []
    all_fields: list[str] = []
    spans: list[tuple[str, list[int]]] = []
    for field, sentence in sentences:
        ws = sentence.split(" ")
        spans.append((field, list(range(len(all_words), len(all_words) + len(ws)))))
        all_words.extend(ws)
        all_fields.extend([field] * len(ws))

    counts = _pieces_per_word(tokenizer, all_words)
    kept = _fit_budget(spans, counts, max_tokens - n_special)
    if not kept and all_words:
        # not even one whole word fits: read what the budget allows, cut inside the first word
        kept = list(range(len(all_words)))
    words = [all_words[i] for i in kept]
    word_field = [all_fields[i] for i in kept]
    text = " ".join(words)

    enc = tokenizer(text, max_length=max_tokens, truncation=True, padding="max_length",
                    return_offsets_mapping=True, return_special_tokens_mask=True, verbose=False)
    mask = enc["attention_mask"]
    n_real = sum(mask)
    offsets = enc["offset_mapping"][:n_real]
    special = enc["special_tokens_mask"][:n_real]
    cut_inside = sum(counts[i] for i in kept) > max_tokens - n_special  # the tokenizer cut mid-word
    if cut_inside:
        real_ends = [end for (_, end), s in zip(offsets, special) if not s]
        text = text[: max(real_ends)]
        words = text.split(" ")
        word_field = word_field[: len(words)]

    import torch

    starts = _word_starts(words)
    token_word = [-1 if s else bisect_right(starts, start) - 1 for (start, _), s in zip(offsets, special)]
    return TextEncoding(
        input_ids=torch.tensor(enc["input_ids"], dtype=torch.int64),
        attention_mask=torch.tensor(mask, dtype=torch.int64),
        tokens=tokenizer.convert_ids_to_tokens(enc["input_ids"][:n_real]),
        words=words,
        token_word=token_word,
        token_field=[None if w < 0 else word_field[w] for w in token_word],
        word_field=word_field,
        text=text,
        truncated=len(kept) < len(all_words) or cut_inside,
        scores=torch.tensor(score_values(validate_ehr(ehr), exclude_parts), dtype=torch.float32),
    )


def encode_for_model(ehr: dict, tokenizer, cfg, exclude_parts: Iterable[str] = ()) -> TextEncoding:
    """One EHR as the model of ``cfg`` (an engine.config.AlifuseConfig) reads it: its token budget, summary length,
    text format and, when ``cfg.score_knots`` > 0, the scores as numbers; ``exclude_parts`` as it was trained."""
    return encode_ehr(ehr, tokenizer, cfg.max_tokens, cfg.summary_max_words, exclude_parts, cfg.text_format,
                      cfg.score_knots > 0)


def collate_text(encodings: list[TextEncoding]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack encodings into a batch: ids (B, L) int64 and attention mask (B, L) int64."""
    import torch

    if not encodings:
        raise ValueError("collate_text: no encodings to collate")
    lengths = {int(e.input_ids.shape[0]) for e in encodings}
    if len(lengths) > 1:
        raise ValueError(f"collate_text: encodings have different lengths {sorted(lengths)}; use one max_tokens")
    return torch.stack([e.input_ids for e in encodings]), torch.stack([e.attention_mask for e in encodings])


def _real_scores(token_scores, enc: TextEncoding) -> list[float]:
    """Scores of the n real tokens; accepts n scores or L (padded) scores, list/array/tensor."""
    import torch

    if isinstance(token_scores, torch.Tensor):
        token_scores = token_scores.detach().cpu().reshape(-1).tolist()
    scores = [float(s) for s in token_scores]
    n, full = len(enc.tokens), int(enc.input_ids.shape[0])
    if len(scores) not in (n, full):
        raise ValueError(f"token scores: got {len(scores)}, expected {n} (real tokens) or {full} (padded)")
    return scores[:n]


def word_relevance(token_scores: Sequence[float], enc: TextEncoding, reduce: str = "sum") -> list[float]:
    """Per word (len(enc.words)): sum, mean or max of its word-pieces' scores; special tokens ignored."""
    if reduce not in ("sum", "mean", "max"):
        raise ValueError(f"word_relevance: reduce must be 'sum', 'mean' or 'max', not {reduce!r}")
    per_word: list[list[float]] = [[] for _ in enc.words]
    for s, w in zip(_real_scores(token_scores, enc), enc.token_word):
        if w >= 0:
            per_word[w].append(s)
    if reduce == "sum":
        return [sum(v) for v in per_word]
    if reduce == "mean":
        return [sum(v) / len(v) if v else 0.0 for v in per_word]
    return [max(v) if v else 0.0 for v in per_word]


def field_relevance(token_scores: Sequence[float], enc: TextEncoding) -> dict[str, float]:
    """Summed score per EHR field present in the text, in text order; special tokens ignored."""
    out: dict[str, float] = {f: 0.0 for f in dict.fromkeys(enc.word_field)}
    for s, f in zip(_real_scores(token_scores, enc), enc.token_field):
        if f is not None:
            out[f] += s
    return out
