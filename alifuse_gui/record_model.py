"""The record form's logic without Qt: what the user typed per field, its validity, and the EHR dict.

Every field holds the *raw* entry (text as typed, or a choice), never silently corrected, so a wrong
value stays visible until the user fixes it. ``None`` (or blank text) means "unknown".
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.ehr import FIELD_SPECS, FieldSpec, load_ehr, validate_ehr
from engine.ehr_text import ehr_to_sentences
from engine.errors import AlifuseInputError

#: The model reads this many words of the doctor's summary (paper: 40).
SUMMARY_WORD_LIMIT = 40


def parse_entry(spec: FieldSpec, entry: Any) -> Any:
    """What the user typed -> the JSON value to validate (numbers from text; blanks -> None)."""
    if entry is None:
        return None
    if isinstance(entry, str):
        text = entry.strip()
        if not text:
            return None
        if spec.kind in ("integer", "number"):
            try:
                x = float(text.replace(",", "."))  # a decimal comma is a common way to type 0,5
            except ValueError:
                return text  # validation names the wrong text
            return int(x) if x.is_integer() and "." not in text and "," not in text else x
        return entry if spec.kind == "text" else text
    return entry


def entry_text(value: Any) -> str:
    """A stored value as the form shows it: 74 not 74.0, None as ''."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class RecordModel:
    """Raw entries of every EHR field (``FIELD_SPECS`` order) with per-field validation."""

    def __init__(self) -> None:
        self._entries: dict[str, Any] = {name: None for name in FIELD_SPECS}

    # -- entries --
    def entry(self, name: str) -> Any:
        return self._entries[self._known(name)]

    def set_entry(self, name: str, entry: Any) -> str | None:
        """Store what the user typed (kept even when invalid); returns its error message or None."""
        self._entries[self._known(name)] = entry
        return self.error(name)

    def entries(self) -> dict[str, Any]:
        return dict(self._entries)

    def clear(self) -> None:
        self._entries = {name: None for name in FIELD_SPECS}

    # -- validation --
    def error(self, name: str) -> str | None:
        """``"field 'mmse': 31 is out of range 0-30"`` or None when the entry is valid or unknown."""
        spec = FIELD_SPECS[self._known(name)]
        value = parse_entry(spec, self._entries[name])
        if value is None:
            return None
        try:
            validate_ehr({name: value}, source="record")
        except AlifuseInputError as exc:
            return str(exc).removeprefix("record: ")
        return None

    def errors(self) -> dict[str, str]:
        """Every invalid field and its message, in field order."""
        return {n: msg for n in FIELD_SPECS if (msg := self.error(n)) is not None}

    def valid_dict(self) -> dict[str, object]:
        """The normalised EHR of the valid, known fields only (invalid ones are left out)."""
        raw = {n: parse_entry(FIELD_SPECS[n], e) for n, e in self._entries.items() if self.error(n) is None}
        return validate_ehr(raw, source="record")

    def to_dict(self) -> dict[str, object]:
        """The normalised EHR; raises ``AlifuseInputError`` naming the first invalid field."""
        errors = self.errors()
        if errors:
            name, msg = next(iter(errors.items()))
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            raise AlifuseInputError(f"record: {msg}{more}")
        return self.valid_dict()

    # -- whole records --
    def set_dict(self, ehr: dict[str, Any], source: str = "record") -> None:
        """Replace every field from an EHR dict; an invalid dict raises and changes nothing."""
        clean = validate_ehr(ehr, source=source)
        self._entries = {name: clean.get(name) for name in FIELD_SPECS}

    def load_json(self, path: str | Path) -> None:
        """Load a record file; a bad file raises ``AlifuseInputError`` (naming it) and keeps the form."""
        self.set_dict(load_ehr(path), source=str(path))

    def save_json(self, path: str | Path) -> Path:
        """Write the (valid) record as a JSON object; unknown fields are left out."""
        record = self.to_dict()
        p = Path(path)
        try:
            p.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            raise AlifuseInputError(f"{p}: cannot write the record ({exc.strerror})") from None
        return p

    # -- what the model reads --
    def summary_word_count(self) -> int:
        entry = self._entries["summary"]
        return len(entry.split()) if isinstance(entry, str) else 0

    def preview(self, summary_max_words: int = SUMMARY_WORD_LIMIT) -> list[tuple[str, str]]:
        """``[(field, sentence)]`` the model will read, from the valid fields only."""
        return ehr_to_sentences(self.valid_dict(), summary_max_words)

    @staticmethod
    def _known(name: str) -> str:
        if name not in FIELD_SPECS:
            raise KeyError(f"unknown EHR field {name!r}")
        return name
