"""EHR validation and loading: what a user sees when a case file is right or wrong."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.ehr import EHR_PARTS, FIELD_SPECS, load_ehr, validate_ehr
from engine.errors import AlifuseInputError

FULL = {
    "subject_id": "002_S_0295", "age": 74, "sex": "female", "education_years": 16, "handedness": "right",
    "mmse": 29, "cdr": 0.5, "cdr_sb": 2.5, "logical_memory_delayed": 12, "ses": 2,
    "summary": "Reports mild forgetfulness over two years.",
}


def _write(tmp_path: Path, content: str | bytes, name: str = "case.json") -> Path:
    p = tmp_path / name
    if isinstance(content, bytes):
        p.write_bytes(content)
    else:
        p.write_text(content, encoding="utf-8")
    return p


def test_full_record_loads_unchanged(tmp_path):
    p = _write(tmp_path, json.dumps(FULL))
    assert load_ehr(p) == FULL


def test_normalisation():
    got = validate_ehr({"sex": "F", "handedness": "Left", "mmse": 29.0, "cdr": 1.0, "age": 70.5,
                        "summary": "  Line one.\n\tLine   two. ", "subject_id": 1234})
    assert got == {"sex": "female", "handedness": "left", "mmse": 29, "cdr": 1, "age": 70.5,
                   "summary": "Line one. Line two.", "subject_id": "1234"}
    assert type(got["mmse"]) is int and type(got["cdr"]) is int
    assert validate_ehr({"sex": "MALE"})["sex"] == "male"
    assert validate_ehr({"sex": "m"})["sex"] == "male"


def test_missing_values_stay_missing():
    got = validate_ehr({"age": None, "mmse": None, "summary": "   ", "sex": ""})
    assert got == {}


def test_fields_come_back_in_fixed_order():
    shuffled = dict(reversed(list(FULL.items())))
    assert list(validate_ehr(shuffled)) == list(FIELD_SPECS)


def test_parts_cover_every_clinical_field_once():
    fields = [f for part in EHR_PARTS.values() for f in part]
    assert sorted(fields) == sorted(set(FIELD_SPECS) - {"subject_id"})
    assert EHR_PARTS["lab_results"] == ("mmse", "cdr", "cdr_sb", "logical_memory_delayed")


@pytest.mark.parametrize("content, field, expected", [
    ('{"mmse": 31}', "mmse", "31 is out of range 0-30"),
    ('{"age": -3}', "age", "-3 is out of range"),
    ('{"age": 0}', "age", "0 is out of range"),
    ('{"age": 121}', "age", "121 is out of range"),
    ('{"cdr": 0.7}', "cdr", "0.7 is not one of 0, 0.5, 1, 2, 3"),
    ('{"mmse": "twenty"}', "mmse", "expected a whole number, got the string 'twenty'"),
    ('{"age": true}', "age", "expected a number, got the boolean true"),
    ('{"mmse": 28.5}', "mmse", "28.5 is not a whole number"),
    ('{"age": NaN}', "age", "NaN is not a valid number"),
    ('{"cdr_sb": 2.3}', "cdr_sb", "2.3 is not a multiple of 0.5"),
    ('{"cdr_sb": 18.5}', "cdr_sb", "18.5 is out of range 0-18"),
    ('{"logical_memory_delayed": 26}', "logical_memory_delayed", "26 is out of range 0-25"),
    ('{"ses": 0}', "ses", "0 is out of range 1-5"),
    ('{"education_years": 31}', "education_years", "31 is out of range 0-30"),
    ('{"sex": "x"}', "sex", "'x' is not one of female, male"),
    ('{"handedness": "both"}', "handedness", "'both' is not one of right, left, ambidextrous"),
    ('{"summary": 5}', "summary", "expected text"),
    ('{"mmse": [29]}', "mmse", "expected a whole number, got a list"),
])
def test_bad_value_names_file_and_field(tmp_path, content, field, expected):
    p = _write(tmp_path, content)
    with pytest.raises(AlifuseInputError) as err:
        load_ehr(p)
    msg = str(err.value)
    assert msg.startswith(f"{p}: field '{field}': "), msg
    assert expected in msg
    assert "\n" not in msg


def test_exact_message_for_mmse_31(tmp_path):
    p = _write(tmp_path, '{"age": 70, "mmse": 31}')
    with pytest.raises(AlifuseInputError) as err:
        load_ehr(p)
    assert str(err.value) == f"{p}: field 'mmse': 31 is out of range 0-30"


def test_unknown_field(tmp_path):
    p = _write(tmp_path, '{"age": 70, "weight": 80}')
    with pytest.raises(AlifuseInputError) as err:
        load_ehr(p)
    assert str(err.value).startswith(f"{p}: field 'weight': unknown field")
    assert "mmse" in str(err.value)  # lists what is allowed


def test_unknown_field_suggests_the_close_name():
    with pytest.raises(AlifuseInputError, match=r"field 'MMSE': unknown field \(did you mean 'mmse'\?"):
        validate_ehr({"MMSE": 29}, source="form")


def test_duplicate_field_is_an_error(tmp_path):
    p = _write(tmp_path, '{"mmse": 29, "mmse": 12}')
    with pytest.raises(AlifuseInputError, match=r"field 'mmse': given twice"):
        load_ehr(p)


def test_syntax_error_gives_line_and_column(tmp_path):
    p = _write(tmp_path, '{\n  "age": 70,\n  "mmse": 29\n  "cdr": 0.5\n}')
    with pytest.raises(AlifuseInputError) as err:
        load_ehr(p)
    msg = str(err.value)
    assert msg.startswith(f"{p}: not valid JSON: ")
    assert "line 4, column 3" in msg


def test_non_utf8(tmp_path):
    p = _write(tmp_path, b'{"summary": "caf\xe9"}')
    with pytest.raises(AlifuseInputError) as err:
        load_ehr(p)
    assert str(err.value).startswith(f"{p}: not UTF-8 text (byte 0xe9 at offset 16)")


def test_utf8_bom_is_accepted(tmp_path):
    p = _write(tmp_path, b'\xef\xbb\xbf{"summary": "caf\xc3\xa9"}')
    assert load_ehr(p) == {"summary": "café"}


@pytest.mark.parametrize("content", ["", "  \n"])
def test_empty_file(tmp_path, content):
    p = _write(tmp_path, content)
    with pytest.raises(AlifuseInputError, match=r"EHR file is empty") as err:
        load_ehr(p)
    assert str(err.value).startswith(f"{p}: ")


def test_list_at_top_level(tmp_path):
    p = _write(tmp_path, '[{"age": 70}]')
    with pytest.raises(AlifuseInputError) as err:
        load_ehr(p)
    assert str(err.value) == f"{p}: expected a JSON object of EHR fields at the top level, got a list"


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(AlifuseInputError, match=r"nope\.json: EHR file not found$"):
        load_ehr(tmp_path / "nope.json")
    with pytest.raises(AlifuseInputError, match=r"is a folder"):
        load_ehr(tmp_path)


def test_validate_rejects_non_object_with_source():
    with pytest.raises(AlifuseInputError, match=r"^row 3: expected an object of EHR fields, got the string"):
        validate_ehr("age=70", source="row 3")


def test_empty_object_is_a_valid_empty_record(tmp_path):
    assert load_ehr(_write(tmp_path, "{}")) == {}


def test_field_specs_describe_ranges_for_forms():
    assert FIELD_SPECS["mmse"].kind == "integer" and FIELD_SPECS["mmse"].range_text() == "0-30"
    assert FIELD_SPECS["cdr"].range_text() == "one of 0, 0.5, 1, 2, 3"
    assert FIELD_SPECS["age"].unit == "years" and FIELD_SPECS["age"].range_text() == "1-120"
    assert FIELD_SPECS["sex"].choices == ("female", "male")
    assert all(spec.label for spec in FIELD_SPECS.values())
