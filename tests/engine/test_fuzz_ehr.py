"""Fuzzing the record parser: any JSON-like object through validate_ehr, any bytes through load_ehr.

The only acceptable outcomes are a validated record or an AlifuseInputError, quickly. Inputs that still
escaped as other exceptions are tested below.
"""
from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.ehr import FIELD_SPECS, load_ehr, validate_ehr
from engine.errors import AlifuseInputError

FUZZ = settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])

# Huge numbers: integers up to 400 digits (beyond float range), floats to 1.8e308, NaN and infinities.
huge_ints = st.integers(min_value=-10 ** 400, max_value=10 ** 400)  # beyond float range too
scalars = (st.none() | st.booleans() | huge_ints | st.integers(-5, 200)
           | st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([0.5, 29.0, 1e308, -0.0, 5e-324])
           | st.text() | st.sampled_from(["F", " male ", "LEFT", "", "  ", "NaN", "Infinity", "29"]))
json_like = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                         | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
field_names = st.sampled_from(list(FIELD_SPECS)) | st.text(max_size=12)
records = st.dictionaries(field_names, json_like, max_size=8)


def _ok_or_input_error(fn, *args):
    """Run fn; return the record or the AlifuseInputError; anything else fails the test."""
    try:
        return fn(*args)
    except AlifuseInputError as exc:
        assert str(exc), "an error must say what is wrong"
        return exc


@FUZZ
@given(records)
def test_validate_ehr_accepts_or_names_the_problem(obj):
    out = _ok_or_input_error(validate_ehr, obj, "case.json")
    if isinstance(out, AlifuseInputError):
        assert str(out).startswith("case.json: ")
        return
    # what passes is clean: known fields only, finite numbers, normalised choices, no blank values
    assert set(out) <= set(FIELD_SPECS)
    for name, v in out.items():
        spec = FIELD_SPECS[name]
        if spec.kind in ("integer", "number"):
            assert isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            assert spec.minimum <= v <= spec.maximum
        elif spec.kind == "choice":
            assert v in spec.choices
        else:
            assert isinstance(v, str) and v.strip()


@FUZZ
@given(json_like)
def test_validate_ehr_on_any_top_level_value(obj):
    out = _ok_or_input_error(validate_ehr, obj)
    assert isinstance(out, (dict, AlifuseInputError))
    if not isinstance(obj, dict):
        assert isinstance(out, AlifuseInputError) and "expected an object" in str(out)


@pytest.fixture(scope="module")
def scratch():
    with tempfile.TemporaryDirectory() as d:
        yield Path(d)


def _load_bytes(folder: Path, data: bytes):
    path = folder / "case.json"
    path.write_bytes(data)
    out = _ok_or_input_error(load_ehr, path)
    if isinstance(out, AlifuseInputError):
        assert str(out).startswith(str(path))
    return out


@FUZZ
@given(st.binary(max_size=300))
def test_load_ehr_on_arbitrary_bytes(scratch, data):
    _load_bytes(scratch, data)


@FUZZ
@given(records, st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1"]), st.integers(0, 40))
def test_load_ehr_on_json_text_encoded_and_truncated(scratch, obj, encoding, cut):
    """Real JSON (with NaN/Infinity literals, unicode escapes), in several encodings, whole or cut short."""
    text = json.dumps(obj, allow_nan=True, ensure_ascii=bool(cut % 2))
    data = text.encode(encoding, errors="replace")
    out = _load_bytes(scratch, data[: len(data) - cut] if cut < len(data) else data)
    if encoding in ("utf-8", "utf-8-sig") and cut == 0 and isinstance(out, dict):
        assert out == validate_ehr(obj)


@pytest.mark.timeout(120)  # a hang guard, not a speed test: a hang would never end
def test_big_inputs_finish_quickly(scratch):
    """No hang: a 5 MB summary, 20 000 unknown fields and a 1 MB field name are refused in well under a few
    seconds, each as one short line; a record file over 1 MB is refused before it is parsed."""
    rec = validate_ehr({"summary": "word " * 10_000, "age": 70})
    assert rec["summary"].startswith("word word") and rec["age"] == 70
    with pytest.raises(AlifuseInputError, match="field 'summary': 5,000,000 characters"):
        validate_ehr({"summary": "word " * 1_000_000, "age": 70})
    with pytest.raises(AlifuseInputError, match="unknown fields") as many:
        validate_ehr({f"k{i}": i for i in range(20_000)})
    assert "and 19,995 more" in str(many.value) and len(str(many.value)) < 400
    with pytest.raises(AlifuseInputError, match="unknown field") as long_name:
        validate_ehr({"x" * 1_000_000: 1})
    assert len(str(long_name.value)) < 400
    path = scratch / "big.json"
    path.write_text(json.dumps({"summary": "é " * 2_000_000}), encoding="utf-8")
    with pytest.raises(AlifuseInputError, match=r"EHR file is 13.4 MB, more than the 1 MB"):
        load_ehr(path)


def test_nan_and_infinity_literals_are_named_errors(scratch):
    for lit, word in (("NaN", "NaN"), ("Infinity", "infinity"), ("-Infinity", "infinity")):
        path = scratch / "lit.json"
        path.write_text('{"mmse": %s}' % lit)
        with pytest.raises(AlifuseInputError, match=f"field 'mmse': {word} is not a valid number"):
            load_ehr(path)


# -- inputs that once escaped as other exceptions (fixed in engine/ehr.py), kept as regression tests --

def test_integer_beyond_float_range_is_an_input_error(scratch):
    path = scratch / "huge.json"
    path.write_text('{"age": 1' + "0" * 400 + "}")
    with pytest.raises(AlifuseInputError, match="age"):
        load_ehr(path)


def test_deeply_nested_json_is_an_input_error(scratch):
    path = scratch / "deep.json"
    path.write_bytes(b"[" * 100_000)
    with pytest.raises(AlifuseInputError):
        load_ehr(path)


def test_error_message_is_one_line_for_a_field_name_with_a_newline():
    with pytest.raises(AlifuseInputError) as exc:
        validate_ehr({"mm\nse": 20})
    assert "\n" not in str(exc.value)


def test_lone_surrogate_in_summary_is_rejected_or_encodable():
    from engine.ehr_text import encode_ehr
    from engine.minilm import load_tokenizer

    try:
        rec = validate_ehr({"summary": "confused \ud800 at times"})
    except AlifuseInputError as exc:
        assert "summary" in str(exc)
        return
    encode_ehr(rec, load_tokenizer(), 48, 40)


# -- hostile records (issue 14): long words, long values, control characters, files that are not files --

@settings(max_examples=40, deadline=None)
@given(word=st.text(st.characters(blacklist_categories=("Zs", "Cc", "Zl", "Zp", "Cs")), min_size=101, max_size=4000),
       before=st.lists(st.sampled_from(["memory", "loss", "since", "2019"]), max_size=5))
def test_a_word_longer_than_100_characters_is_refused_naming_summary(word, before):
    """A 3,600-character "word" must not become one unknown token without a word said."""
    with pytest.raises(AlifuseInputError, match=r"field 'summary': a word of [\d,]+ characters") as exc:
        validate_ehr({"summary": " ".join([*before, word]), "mmse": 20})
    assert len(str(exc.value)) < 300


@settings(max_examples=60, deadline=None)
@given(key=st.text(min_size=1, max_size=3000), value=st.text(max_size=3000),
       field=st.sampled_from(["sex", "handedness", "mmse", "age"]))
def test_error_lines_quote_user_text_short_and_escaped(key, value, field):
    """Whatever key or value a record holds, the error is one line without control characters, and it quotes
    at most a few dozen characters of the user's text."""
    for obj in ({key: 1} if key not in FIELD_SPECS else {}, {field: value}):
        try:
            validate_ehr(obj, "case.json")
        except AlifuseInputError as exc:
            msg = str(exc)
            assert not any(ord(c) < 32 or 127 <= ord(c) < 160 for c in msg), repr(msg)
            assert len(msg) < 400, len(msg)
            assert key[:80] not in msg or len(key) <= 40


def test_ansi_escape_and_bel_in_a_value_are_escaped():
    with pytest.raises(AlifuseInputError) as exc:
        validate_ehr({"sex": "\x1b[31mred\x07"})
    assert "\x1b" not in str(exc.value) and "\\x1b" in str(exc.value) and "\x07" not in str(exc.value)


@pytest.mark.skipif(not hasattr(__import__("os"), "mkfifo"), reason="needs named pipes")
@pytest.mark.timeout(120)  # a hang guard, not a speed test: a hang would never end
def test_a_fifo_or_a_device_as_the_record_is_refused_at_once(scratch):
    import os

    fifo = scratch / "record.json"
    os.mkfifo(fifo)
    for path, kind in ((fifo, "named pipe"), (Path("/dev/zero"), "character device")):
        with pytest.raises(AlifuseInputError, match=f"EHR file is a {kind}"):
            load_ehr(path)
