"""Files a user names: regular files only, with a size cap, refused at once (never a hang); error lines stay one
short printable line whatever text or file name they carry."""
from __future__ import annotations

import io
import os
import sys

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from engine.cli_common import MAX_ERROR_LINE, error_line, fail
from engine.errors import AlifuseInputError, quote, quote_path
from engine.safe_files import check_regular, open_regular, read_regular, read_regular_tail
from tests.hang_guard import finishes

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")


@needs_fifo
def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    for fn in (check_regular, open_regular, read_regular, read_regular_tail):
        with pytest.raises(AlifuseInputError, match=r"pipe\.json: the thing is a named pipe \(FIFO\)"):
            finishes(lambda fn=fn: fn(fifo, 1000, "the thing"))


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_devices_and_folders_and_links_to_them_are_refused(tmp_path):
    link = tmp_path / "zero.nii"
    link.symlink_to("/dev/zero")
    for path, kind in (("/dev/zero", "a character device"), (link, "a character device"), (tmp_path, "a folder")):
        with pytest.raises(AlifuseInputError, match=f"is {kind}, not a regular file"):
            finishes(lambda path=path: read_regular(path, 1 << 20, "the record"))


def test_missing_file_is_named():
    with pytest.raises(AlifuseInputError, match="nope.json: the record not found"):
        check_regular("nope.json", 10, "the record")


@settings(max_examples=30, deadline=None)
@given(size=st.integers(0, 3000), cap=st.integers(0, 3000))
def test_the_size_cap_holds_exactly(tmp_path_factory, size, cap):
    path = tmp_path_factory.mktemp("cap", numbered=True) / "f.bin"
    path.write_bytes(b"x" * size)
    if size <= cap:
        assert read_regular(path, cap) == b"x" * size
        assert check_regular(path, cap) == size
    else:
        with pytest.raises(AlifuseInputError, match="more than the"):
            read_regular(path, cap)


@settings(max_examples=30, deadline=None)
@given(size=st.integers(0, 3000), cap=st.integers(0, 3000))
def test_a_tail_read_gives_the_last_bytes_of_any_size(tmp_path_factory, size, cap):
    path = tmp_path_factory.mktemp("tail", numbered=True) / "log.jsonl"
    data = bytes(i % 251 for i in range(size))
    path.write_bytes(data)
    assert read_regular_tail(path, cap) == (data[max(0, size - cap):], size)


@settings(max_examples=80, deadline=None)
@given(text=st.text(max_size=5000), limit=st.integers(2, 80))
def test_quote_is_short_and_has_no_control_characters(text, limit):
    for q in (quote(text, limit), quote_path(text, limit)):
        assert len(q) <= limit
        assert not any(ord(c) < 32 or 127 <= ord(c) < 160 or c in "\u2028\u2029" for c in q)
    if len(text) <= limit and text.isprintable():
        assert quote(text, limit) == text


@settings(max_examples=80, deadline=None)
@given(message=st.text(max_size=3000))
@example(message="0" * 17 + "\x1f" + "\u0100" * 200)  # found by hypothesis: escapes spelled after the cut were 601
def test_error_line_is_one_printable_line_in_any_terminal_encoding(message):
    for encoding in ("utf-8", "ascii", "latin-1"):
        fake = io.TextIOWrapper(io.BytesIO(), encoding=encoding)
        saved, sys.stderr = sys.stderr, fake
        try:
            line = error_line(message)
        finally:
            sys.stderr = saved
        line.encode(encoding)  # printable in that encoding: no UnicodeEncodeError
        assert line.startswith("alifuse: error: ") and len(line) <= MAX_ERROR_LINE
        assert "\n" not in line and "\r" not in line and "\x1b" not in line


def test_fail_prints_a_newline_in_a_file_name_escaped_on_an_ascii_terminal(monkeypatch):
    fake = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    monkeypatch.setattr(sys, "stderr", fake)
    with pytest.raises(SystemExit) as code:
        fail("bad\nname…\x1b[2J.nii: not found")
    assert code.value.code == 2
    fake.flush()
    out = fake.buffer.getvalue().decode("ascii")
    assert out == "alifuse: error: bad\\nname\\u2026\\x1b[2J.nii: not found\n"


@pytest.mark.timeout(120)  # a hang guard, not a speed test: a hang would never end
def test_read_is_quick_on_a_file_at_the_cap(tmp_path):
    path = tmp_path / "big.bin"
    path.write_bytes(b"\0" * (1 << 20))
    assert len(read_regular(path, 1 << 20)) == 1 << 20
