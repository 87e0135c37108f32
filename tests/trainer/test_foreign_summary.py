"""--summary-foreign: summaries the generator never writes, as training input; the tests' own summaries are not
among them, and with P = 0 every case is what it was before the option existed."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.config import preset
from engine.errors import AlifuseInputError
from engine.minilm import load_tokenizer
from engine.ehr_text import encode_for_model
from tests.model.test_record_reading import AGREEING_SUMMARIES, NEUTRAL_SUMMARIES, TEXTBOOK
from trainer.augment import RecordAugment, case_rng
from trainer.dataset import CaseDataset
from trainer.foreign_summary import POOL, foreign_summary, with_foreign_summary
from trainer.records import read_manifest

RECORD = {"subject_id": "s1", "age": 74, "mmse": 24, "cdr": 0.5, "summary": "She forgets appointments."}


def _sentences(text: str) -> set[str]:
    return {s.strip().rstrip(".").lower() for s in text.split(". ") if s.strip()}


def test_no_sentence_of_the_tests_summaries_is_in_the_training_pool():
    """The checks of tests/model judge what the model learned from other text, not text it was shown."""
    tests = [*NEUTRAL_SUMMARIES, *AGREEING_SUMMARIES.values(), *(r["summary"] for _, r in TEXTBOOK if "summary" in r)]
    pool = set().union(*(_sentences(s) for s in POOL))
    assert not pool & set().union(*(_sentences(t) for t in tests))
    # and the pool says nothing of memory, thinking or daily function
    words = " ".join(POOL).lower()
    assert not any(w in words for w in ("memory", "forget", "confus", "cognit", "dementia", "alzheimer", "lost"))


def test_a_foreign_summary_replaces_the_summary_at_the_asked_rate_and_keeps_the_rest():
    draws = [with_foreign_summary(RECORD, case_rng(5, 1, i), 0.3) for i in range(2000)]
    changed = [d for d in draws if d["summary"] != RECORD["summary"]]
    assert len(changed) / len(draws) == pytest.approx(0.3, abs=0.03)
    for d in changed:
        assert {k: v for k, v in d.items() if k != "summary"} == {k: v for k, v in RECORD.items() if k != "summary"}
        assert 1 <= len([s for s in POOL if s in d["summary"]]) <= 3
    assert with_foreign_summary({"mmse": 24}, case_rng(0, 0, 0), 0.999)["summary"]  # a record without one gets one
    assert len({foreign_summary(np.random.default_rng(i)) for i in range(50)}) > 40


def test_with_zero_every_case_is_as_before_and_the_option_needs_augment_records(toy_cohort, capsys):
    records = read_manifest(toy_cohort / "manifest.csv").records
    cfg = preset("tiny")
    plain = CaseDataset(records, cfg, ["NC", "MCI", "AD"], augment=RecordAugment(field_drop=0.3), seed=2)
    zero = CaseDataset(records, cfg, ["NC", "MCI", "AD"], augment=RecordAugment(field_drop=0.3, summary_foreign=0.0),
                       seed=2)
    some = CaseDataset(records, cfg, ["NC", "MCI", "AD"], augment=RecordAugment(field_drop=0.3, summary_foreign=0.9),
                       seed=2)
    for ds in (plain, zero, some):
        ds.set_epoch(1)
    same = all(torch.equal(plain[i]["ids"], zero[i]["ids"]) for i in range(len(records)))
    differ = sum(not torch.equal(plain[i]["ids"], some[i]["ids"]) for i in range(len(records)))
    assert same and differ >= len(records) // 2
    # the foreign text is what the model reads: its word-pieces are in the case's ids
    tok = load_tokenizer()
    ids = encode_for_model({"summary": POOL[0]}, tok, cfg).input_ids
    assert int((ids > 0).sum()) > 3
    from tests.trainer.conftest import run_command
    from trainer.cli_train import main

    for extra, said in (([], "--summary-foreign: needs --augment-records"),
                        (["--augment-records", "--summary-foreign", "0.95"], "--summary-foreign 0.95: must be a")):
        code, io = run_command(main, ["--data", toy_cohort, "--out", toy_cohort.parent / "r", "--preset", "tiny",
                                      "--summary-foreign", "0.3", *extra], capsys)
        assert code == 2 and said in io.err, io.err
    with pytest.raises(AlifuseInputError, match="record augmentation 'summary_foreign'"):
        RecordAugment(summary_foreign=1.5)
