"""Leakage refusal that cannot be got round, and --resume that refuses another run's data, seed or damaged files
(issue 14): renamed or blank data set columns, re-spelt ids and copied cohorts are still the training subjects."""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.trainer.conftest import run_command, write_toy_cohort
from trainer.cli_eval import main as eval_main
from trainer.cli_train import main as train_main
from trainer.evaluate import check_no_leakage
from trainer.records import CaseRecord
from trainer.run_files import subject_hashes, training_keys
from trainer.splits import DataLeakageError, assert_disjoint, split_subjects
from trainer.subject_ids import LEGACY_SCHEMES, normalise_id

INVISIBLE = ["\u200b", "\ufeff", "\u200d", "\u2060", "\u00ad", "\u200e", "\ufe0f"]


_run = run_command


def _respell(sid: str, how: int) -> str:
    """One of the ways a copied table spells an id of the same person."""
    spellings = [sid.upper(), f"  {sid}\t", sid.lower(), sid[:2] + INVISIBLE[how % len(INVISIBLE)] + sid[2:],
                 "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in sid),  # full-width forms
                 "\ufeff" + sid.swapcase()]
    return spellings[how % len(spellings)]


ids = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12)


@settings(max_examples=60, deadline=None)
@given(ids, st.integers(0, 50))
def test_normalised_id_is_idempotent_and_ignores_spelling(sid, how):
    n = normalise_id(sid)
    assert normalise_id(n) == n
    if sid.isascii():
        assert normalise_id(_respell(sid, how)) == n


@settings(max_examples=30, deadline=None)
@given(st.lists(st.from_regex(r"[A-Za-z]{1,3}-[0-9]{1,3}", fullmatch=True), min_size=4, max_size=12, unique=True),
       st.integers(0, 50), st.integers(0, 3))
def test_spellings_of_one_subject_never_land_in_two_splits(sids, how, seed):
    recs = [CaseRecord(s, "bl", Path(f"{i}.nii"), "NC" if i % 2 else "AD", "x") for i, s in enumerate(sids)]
    recs += [CaseRecord(_respell(s, how + i), "m12", Path(f"{i}b.nii"), r.label, "X ")
             for i, (s, r) in enumerate(zip(sids, recs))]
    splits = split_subjects(recs, (0.5, 0.5), seed=seed)
    assert_disjoint(splits)
    where = {normalise_id(r.subject_id): name for name, rs in splits.items() for r in rs}
    assert all(where[normalise_id(r.subject_id)] == name for name, rs in splits.items() for r in rs)
    with pytest.raises(DataLeakageError, match="is in both"):
        assert_disjoint({"train": recs[:1], "test": [recs[len(sids)]]})


def _info(train_records, data_spec=None):
    return SimpleNamespace(provenance=training_keys(train_records, data_spec))


def test_rules_and_legacy_schemes(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("x\n")
    train = [CaseRecord(f"S{i}", "bl", None, "NC", "adni") for i in range(4)]
    info = _info(train, str(table))
    with pytest.raises(DataLeakageError, match="2 subject"):  # re-spelt ids, same data set
        check_no_leakage([CaseRecord("s0\u200b", "bl", None, "NC", " ADNI"), CaseRecord("\uff33\uff11", "bl", None,
                                                                                       "NC", "adni")], info, "x")
    renamed = [CaseRecord("s2", "bl", None, "NC", "t")]  # data set column left blank: the table's name
    with pytest.raises(DataLeakageError, match="by subject id in the training table"):
        check_no_leakage(renamed, info, "t", data_spec=str(table))
    other = tmp_path / "other.csv"
    other.write_text("x\n")
    check_no_leakage(renamed, info, "other", data_spec=str(other))  # another table's s2 is another person
    check_no_leakage([CaseRecord("S9", "bl", None, "NC", "adni")], info, "x")
    for scheme in LEGACY_SCHEMES:  # older checkpoints: exact keys, as they were written
        old = SimpleNamespace(provenance={"train_subjects_sha256": subject_hashes(train, scheme),
                                          "train_subjects_scheme": scheme})
        with pytest.raises(DataLeakageError):
            check_no_leakage(train[:1], old, "x")
    bare = SimpleNamespace(provenance={"train_subjects_sha256": subject_hashes(train, LEGACY_SCHEMES[1])})
    with pytest.raises(DataLeakageError):
        check_no_leakage([CaseRecord("S1", "bl", None, "NC", "renamed")], bare, "x")


def _legacy(train, scheme: str | None) -> SimpleNamespace:
    """The metadata a checkpoint written before normalised keys holds: only the old-style hashed id list (and,
    from the data set scheme on, the name of its scheme)."""
    prov = {"train_subjects_sha256": subject_hashes(train, scheme or LEGACY_SCHEMES[1])}
    if scheme is not None:
        prov["train_subjects_scheme"] = scheme
    return SimpleNamespace(provenance=prov)


legacy_ids = st.from_regex(r"[A-Za-z]{1,4}[-_][0-9]{1,4}[A-Za-z]{0,3}", fullmatch=True)


@settings(max_examples=60, deadline=None)
@given(st.lists(legacy_ids, min_size=1, max_size=5, unique_by=normalise_id), st.integers(0, 50),
       st.sampled_from([None, *LEGACY_SCHEMES]), st.sampled_from(["ADNI", "oasis", "Aibl"]), st.booleans())
def test_a_legacy_checkpoint_refuses_respelt_ids(sids, how, scheme, dataset, respell_dataset):
    """An old checkpoint holds hashes of the ids as its table spelt them; a copy of the data with the ids
    lower- or upper-cased, full-width, or with an invisible character or spaces added is still refused, and so is
    the exact id. An id that normalises to another one is another subject."""
    train = [CaseRecord(s, "bl", None, "NC", dataset) for s in sids]
    info = _legacy(train, scheme)
    shown = dataset.upper() if respell_dataset else dataset
    for i, sid in enumerate(sids):
        for spelt in (sid, _respell(sid, how + i)):
            with pytest.raises(DataLeakageError, match="1 subject"):
                check_no_leakage([CaseRecord(spelt, "m12", None, "AD", shown)], info, "copy")
    other = sids[0] + "9"
    if normalise_id(other) not in {normalise_id(s) for s in sids}:
        check_no_leakage([CaseRecord(other, "bl", None, "NC", dataset)], info, "held out")


def test_a_legacy_checkpoint_refuses_every_case_mix_of_a_short_id():
    info = _legacy([CaseRecord("sub-OAS10001", "bl", None, "NC", "oasis")], LEGACY_SCHEMES[0])
    for spelt in ("SUB-oas10001", "sUb-OaS10001", "sub-oas10001\u200b", "\uff53\uff55\uff42-OAS10001"):
        with pytest.raises(DataLeakageError):
            check_no_leakage([CaseRecord(spelt, "bl", None, "NC", "OASIS")], info, "copy")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    d = tmp_path_factory.mktemp("leak")
    cohort = write_toy_cohort(d / "toy", 12).parent
    out = d / "run"
    code = train_main([str(a) for a in ["--data", cohort, "--out", out, "--epochs", "1", "--preset", "tiny",
                                        "--batch-size", "2", "--cache", d / "c"]])
    assert code == 0
    return cohort, out


def _variant(cohort: Path, manifest: Path, dataset: str | None, respell: bool) -> Path:
    """A copy of the cohort's manifest (beside it: the same images; elsewhere: copies of them) with the data set
    column renamed or blank and the ids re-spelt."""
    lines = (cohort / "manifest.csv").read_text().splitlines()
    head = lines[0].split(",")
    sid, ds = head.index("subject_id"), head.index("dataset")
    out = [lines[0]]
    for i, line in enumerate(lines[1:]):
        cells = line.split(",")
        cells[ds] = dataset if dataset is not None else ""
        if respell:
            cells[sid] = _respell(cells[sid], i)
        out.append(",".join(cells))
    manifest.parent.mkdir(parents=True, exist_ok=True)
    if manifest.parent != cohort:
        shutil.copytree(cohort / "images", manifest.parent / "images")
    manifest.write_text("\n".join(out) + "\n", encoding="utf-8")
    return manifest


@pytest.mark.parametrize("dataset, respell, copy", [
    ("renamed", False, False), (None, False, False), ("toy", True, False), ("renamed", True, True), (None, True, True),
])
def test_eval_refuses_renamed_blank_respelt_and_copied_training_data(run, tmp_path, capsys, dataset, respell, copy):
    cohort, out = run
    manifest = _variant(cohort, tmp_path / "copy" / "manifest.csv" if copy else cohort / f"{tmp_path.name}.csv",
                        dataset, respell)
    code, io = _run(eval_main, ["--checkpoint", out / "best.safetensors", "--data", manifest, "--bootstrap", "0"],
                    capsys)
    assert code == 2 and "training split" in io.err and io.err.count("\n") == 1, io.err


def test_resume_refuses_other_data_or_seed(run, tmp_path, capsys):
    cohort, out = run
    other = write_toy_cohort(tmp_path / "other", 9, seed=5).parent
    base = ["--out", out, "--resume", "--epochs", "2", "--preset", "tiny", "--batch-size", "2"]
    code, io = _run(train_main, ["--data", other] + base, capsys)
    assert code == 2 and "--data" in io.err and io.err.count("\n") == 1
    code, io = _run(train_main, ["--data", cohort, "--seed", "3"] + base, capsys)
    assert code == 2 and "--seed 3" in io.err and "the run's: 0" in io.err
    code, io = _run(train_main, ["--data", cohort, "--seed", "3", "--folds", "3", "--fold", "1"] + base, capsys)
    assert code == 2 and "--seed 3" in io.err and "--folds 3" in io.err


def _damaged(out: Path, tmp_path: Path, name: str, damage) -> Path:  # noqa: ANN001
    copy = tmp_path / name
    shutil.copytree(out, copy)
    damage(copy)
    return copy


class _NotATensor:
    pass


@pytest.mark.parametrize("name, damage, says", [
    ("truncated", lambda d: (d / "train_state.pt").write_bytes((d / "train_state.pt").read_bytes()[:3000]),
     "truncated or damaged"),
    ("empty", lambda d: (d / "train_state.pt").write_bytes(b""), "truncated or damaged"),
    ("pickled", lambda d: torch.save({"model": _NotATensor()}, d / "train_state.pt"), "never unpickled"),
    ("foreign", lambda d: torch.save({"model": {}, "epoch": 1}, d / "train_state.pt"), "not a state"),
    ("metrics", lambda d: (d / "metrics.jsonl").write_text("[1, 2]\n" + (d / "metrics.jsonl").read_text()),
     "line 1"),
    ("metrics-binary", lambda d: (d / "metrics.jsonl").write_bytes(b"\xff\xfe\n{\"epoch\": 1}\n"), "not UTF-8"),
])
def test_resume_from_damaged_files_is_one_line(run, tmp_path, capsys, name, damage, says):
    cohort, out = run
    copy = _damaged(out, tmp_path, name, damage)
    code, io = _run(train_main, ["--data", cohort, "--out", copy, "--resume", "--epochs", "1", "--preset", "tiny",
                                 "--batch-size", "2", "--cache", tmp_path / "c"], capsys)
    assert code == 2 and says in io.err and io.err.count("\n") == 1, io.err
    assert "weights_only" not in io.err and "internal error" not in io.err


def test_a_cut_last_metrics_line_is_dropped_not_refused(tmp_path):
    from trainer.progress import truncate_metrics

    m = tmp_path / "metrics.jsonl"
    m.write_text('{"epoch": 1}\n{"epoch": 2}\n{"epo')
    truncate_metrics(m, 1)
    assert m.read_text() == '{"epoch": 1}\n'


@pytest.mark.parametrize("argv, names", [
    (["--seed", "-1"], "--seed"), (["--seed", str(2**70)], "--seed"),
    (["--out", "/dev/null/run"], "--out"),
])
def test_train_bad_seed_and_unwritable_out(run, tmp_path, capsys, argv, names):
    cohort, _ = run
    full = ["--data", cohort, "--out", tmp_path / "r", "--preset", "tiny", "--epochs", "1"]
    if "--out" in argv:
        full = full[:2] + full[4:]
    code, io = _run(train_main, full + argv, capsys)
    assert code == 2 and names in io.err and io.err.count("\n") == 1 and "internal" not in io.err, io.err


def test_eval_unwritable_out_is_one_line(run, capsys):
    cohort, out = run
    code, io = _run(eval_main, ["--checkpoint", out / "best.safetensors", "--data", cohort, "--out", "/dev/null/x"],
                    capsys)
    assert code == 2 and "--out" in io.err and io.err.count("\n") == 1


def test_run_json_records_what_resume_compares(run):
    _, out = run
    saved = json.loads((out / "run.json").read_text())
    assert saved["seed"] == 0 and saved["folds"] is None and Path(saved["data_resolved"]).is_absolute()
