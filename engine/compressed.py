"""Decompression with a bound: never trust what a compressed stream will expand to.

A few KB of deflate or bzip2 can expand to gigabytes. Every stream a reader decompresses itself goes through
here, in chunks of at most ``_CHUNK`` output bytes, and stops with one line naming the file as soon as the output
passes its limit: memory stays bounded whatever the stream holds.
"""
from __future__ import annotations

import zlib
from pathlib import Path
from typing import BinaryIO

from engine.errors import AlifuseInputError, quote_path

_CHUNK = 1 << 20  # output bytes per step: a bomb's ratio (1000:1 for deflate, far more for bzip2) never matters


def _gib(n: int) -> str:
    return f"{n / (1 << 30):.3g} GiB"


def inflate_raw(fh: BinaryIO, limit: int, path: Path | str, what: str,
                limit_text: str = "the most an image may take in memory") -> bytes:
    """The raw deflate stream (no zlib or gzip wrapper) read from ``fh`` to its end, inflated to at most ``limit``
    bytes. Zero padding may follow the stream; anything else, a truncated or corrupt stream, or more than
    ``limit`` bytes is one line naming ``path``, ``what`` the stream is and the limit (``limit_text``)."""
    where = quote_path(path)
    d = zlib.decompressobj(-zlib.MAX_WBITS)
    out = bytearray()
    while not d.eof:
        data = d.unconsumed_tail or fh.read(1 << 16)
        try:
            piece = d.decompress(data, _CHUNK)  # b"" in drains output held back by the bound
        except zlib.error as exc:
            raise AlifuseInputError(f"{where}: {what} is damaged (its compressed data is corrupt)") from exc
        if not data and not piece and not d.eof:
            raise AlifuseInputError(f"{where}: {what} ends early (file truncated?)")
        out += piece
        if len(out) > limit:
            raise AlifuseInputError(f"{where}: {what} inflates to more than {_gib(limit)} (at most {limit_text}); "
                                    f"refused while inflating")
    rest = d.unused_data
    while True:
        if rest.strip(b"\0"):
            raise AlifuseInputError(f"{where}: data after the end of {what} (trailing garbage); the file is damaged")
        rest = fh.read(1 << 16)
        if not rest:
            break
    return bytes(out)  # BytesIO shares a bytes object's buffer; a bytearray it would copy again
