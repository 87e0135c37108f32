"""--summary-foreign and --summary-denial: summaries the generator never writes, and the patient's denial of memory
trouble, as training input; the tests' own summaries are not among them, and with P = 0 every case is what it was
before the options existed."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.config import preset
from engine.errors import AlifuseInputError
from engine.minilm import load_tokenizer
from engine.ehr_text import encode_for_model
from tests.model.test_record_reading import AGREEING_SUMMARIES, MEMORY_DENIALS, NEUTRAL_SUMMARIES, TEXTBOOK
from trainer.augment import RecordAugment, case_rng
from trainer.dataset import CaseDataset
from trainer.foreign_summary import DENIALS, POOL, foreign_summary, with_denial, with_foreign_summary
from trainer.records import read_manifest

RECORD = {"subject_id": "s1", "age": 74, "mmse": 24, "cdr": 0.5, "summary": "She forgets appointments."}


def _sentences(text: str) -> set[str]:
    return {s.strip().rstrip(".").lower() for s in text.split(". ") if s.strip()}


def test_no_sentence_of_the_tests_summaries_is_in_the_training_pool():
    """The checks of tests/model judge what the model learned from other text, not text it was shown."""
    tests = [*NEUTRAL_SUMMARIES, *AGREEING_SUMMARIES.values(), *MEMORY_DENIALS,
             *(r["summary"] for _, r in TEXTBOOK if "summary" in r)]
    pool = set().union(*(_sentences(s) for s in POOL))
    assert not pool & set().union(*(_sentences(t) for t in tests))
    # and the pool says nothing of memory, thinking or daily function
    words = " ".join(POOL).lower()
    assert not any(w in words for w in ("memory", "forget", "confus", "cognit", "dementia", "alzheimer", "lost"))
    # nor is any denial: not a sentence of the tests, nor their words for it ("no memory complaints")
    test_text = " ".join(tests).lower()
    assert not set().union(*(_sentences(s) for s in DENIALS)) & set().union(*(_sentences(t) for t in tests))
    assert not any(d.lower().rstrip(".") in test_text for d in DENIALS)
    assert all("memory complaint" not in d.lower() and "independent" not in d.lower() for d in DENIALS)


def test_a_foreign_summary_replaces_the_summary_at_the_asked_rate_and_keeps_the_rest():
    draws = [with_foreign_summary(RECORD, case_rng(5, 1, i), 0.3) for i in range(2000)]
    changed = [d for d in draws if d["summary"] != RECORD["summary"]]
    assert len(changed) / len(draws) == pytest.approx(0.3, abs=0.03)
    for d in changed:
        assert {k: v for k, v in d.items() if k != "summary"} == {k: v for k, v in RECORD.items() if k != "summary"}
        assert 1 <= len([s for s in POOL if s in d["summary"]]) <= 3
    assert with_foreign_summary({"mmse": 24}, case_rng(0, 0, 0), 0.999)["summary"]  # a record without one gets one
    assert len({foreign_summary(np.random.default_rng(i)) for i in range(50)}) > 40


def test_a_denial_is_added_at_the_asked_rate_before_or_after_the_summary_and_keeps_the_rest():
    draws = [with_denial(RECORD, case_rng(5, 1, i), 0.3) for i in range(2000)]
    changed = [d for d in draws if d["summary"] != RECORD["summary"]]
    assert len(changed) / len(draws) == pytest.approx(0.3, abs=0.03)
    placed = {"before": 0, "after": 0}
    for d in changed:
        assert {k: v for k, v in d.items() if k != "summary"} == {k: v for k, v in RECORD.items() if k != "summary"}
        rest = d["summary"].replace(RECORD["summary"], "", 1).strip()
        assert rest in DENIALS  # the summary kept whole, one denial beside it
        placed["before" if d["summary"].endswith(RECORD["summary"]) else "after"] += 1
    assert min(placed.values()) > len(changed) / 3
    assert {r["summary"] for r in changed} >= {f"{x} {RECORD['summary']}" for x in DENIALS[:3]}
    assert with_denial({"mmse": 24}, case_rng(0, 0, 0), 0.999)["summary"] in DENIALS  # none: it is the summary
    assert with_denial({"mmse": 24, "summary": "  "}, case_rng(0, 0, 0), 0.999)["summary"] in DENIALS


def test_with_zero_every_case_is_as_before_and_the_option_needs_augment_records(toy_cohort, capsys):
    records = read_manifest(toy_cohort / "manifest.csv").records
    cfg = preset("tiny")
    plain = CaseDataset(records, cfg, ["NC", "MCI", "AD"], augment=RecordAugment(field_drop=0.3), seed=2)
    zero = CaseDataset(records, cfg, ["NC", "MCI", "AD"], augment=RecordAugment(field_drop=0.3, summary_foreign=0.0),
                       seed=2)
    some = CaseDataset(records, cfg, ["NC", "MCI", "AD"], augment=RecordAugment(field_drop=0.3, summary_foreign=0.9),
                       seed=2)
    zero2 = CaseDataset(records, cfg, ["NC", "MCI", "AD"],
                        augment=RecordAugment(field_drop=0.3, summary_foreign=0.9, summary_denial=0.0), seed=2)
    denied = CaseDataset(records, cfg, ["NC", "MCI", "AD"],
                         augment=RecordAugment(field_drop=0.3, summary_foreign=0.9, summary_denial=0.8), seed=2)
    for ds in (plain, zero, some, zero2, denied):
        ds.set_epoch(1)
    same = all(torch.equal(plain[i]["ids"], zero[i]["ids"]) for i in range(len(records)))
    differ = sum(not torch.equal(plain[i]["ids"], some[i]["ids"]) for i in range(len(records)))
    assert same and differ >= len(records) // 2
    # --summary-denial 0 leaves every case as it was; 0.8 changes most, by adding word-pieces
    assert all(torch.equal(some[i]["ids"], zero2[i]["ids"]) for i in range(len(records)))
    longer = sum(int(denied[i]["mask"].sum()) > int(some[i]["mask"].sum()) for i in range(len(records)))
    assert longer >= len(records) // 3
    # the foreign text is what the model reads: its word-pieces are in the case's ids
    tok = load_tokenizer()
    ids = encode_for_model({"summary": POOL[0]}, tok, cfg).input_ids
    assert int((ids > 0).sum()) > 3
    from tests.trainer.conftest import run_command
    from trainer.cli_train import main

    for option in ("--summary-foreign", "--summary-denial"):
        for extra, said in (([], f"{option}: needs --augment-records"),
                            (["--augment-records", option, "0.95"], f"{option} 0.95: must be a")):
            code, io = run_command(main, ["--data", toy_cohort, "--out", toy_cohort.parent / "r", "--preset", "tiny",
                                          option, "0.3", *extra], capsys)
            assert code == 2 and said in io.err, io.err
    with pytest.raises(AlifuseInputError, match="record augmentation 'summary_foreign'"):
        RecordAugment(summary_foreign=1.5)
    with pytest.raises(AlifuseInputError, match="record augmentation 'summary_denial'"):
        RecordAugment(summary_denial=-0.1)
