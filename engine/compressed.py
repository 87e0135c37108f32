"""Decompression with a bound: never trust what a compressed stream will expand to, or that it is whole.

A few KB of deflate or bzip2 can expand to gigabytes, and nibabel reads a compressed image only as far as its data
goes (no CRC, no end checked). Every stream a reader decompresses itself, and every compressed image before its
data is used, goes through here, in steps of at most ``_CHUNK`` output bytes, and stops with one line naming the
file as soon as the output passes its limit: memory stays bounded whatever the stream holds.
"""
from __future__ import annotations

import bz2
import zlib
from pathlib import Path
from typing import Any, BinaryIO

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
            raise AlifuseInputError(f"{where}: {what} ends early (file truncated?)") \
                from EOFError("compressed data ended before the end-of-stream marker was reached")
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


class _Stream:
    """One member (gzip), stream (bzip2) or frame (zstd) being decompressed, ``_CHUNK`` output bytes at a time."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        if kind == "gzip":
            self._d: Any = zlib.decompressobj(31)
        elif kind == "bzip2":
            self._d = bz2.BZ2Decompressor()
        else:
            self._d = _zstd_module().ZstdDecompressor()
        self._full = False  # zlib: the last step filled its bound, so output may still be held back

    @property
    def eof(self) -> bool:
        return bool(self._d.eof)

    @property
    def unused(self) -> bytes:
        return bytes(self._d.unused_data)

    @property
    def wants_input(self) -> bool:
        if self.kind == "gzip":
            return not self._d.unconsumed_tail and not self._full
        return bool(self._d.needs_input)

    def step(self, data: bytes) -> int:
        """Decompress ``data`` (and what is held back); the number of bytes it gave."""
        if self.kind == "gzip":
            out = len(self._d.decompress(self._d.unconsumed_tail + data, _CHUNK))
            self._full = out == _CHUNK
            return out
        return len(self._d.decompress(data, _CHUNK))


_MAGIC = {"gzip": b"\x1f\x8b", "bzip2": b"BZh", "zstd": b"\x28\xb5\x2f\xfd"}


def _zstd_module() -> Any:
    """The zstd module nibabel reads ``.zst`` with (``compression.zstd`` or ``backports.zstd``), or None."""
    try:
        from nibabel._compression import HAVE_ZSTD, zstd
    except ImportError:  # an older nibabel that reads no .zst
        return None
    return zstd if HAVE_ZSTD else None


def _why_damaged(kind: str, exc: BaseException) -> str:
    text = str(exc)
    if kind == "gzip":
        return ("its CRC-32 check fails" if "data check" in text else
                "its length check fails" if "length check" in text else "its compressed data is corrupt")
    if kind == "bzip2":  # libbzip2 reports a block's failed CRC and corrupt data alike
        return "its compressed data or a block's CRC check is corrupt"
    return "its checksum fails" if "checksum" in text.lower() else "its compressed data is corrupt"


def compression_of(head: bytes) -> str | None:
    """"gzip", "bzip2" or "zstd" when ``head`` (a file's first bytes) starts such a stream, else None."""
    return next((kind for kind, magic in _MAGIC.items() if head.startswith(magic)), None)


def require_decoder(path: Path) -> None:
    """One line naming ``path`` when it is compressed in a way this Python cannot read (zstd without its module)."""
    with open(path, "rb") as fh:
        if compression_of(fh.read(4)) == "zstd" and _zstd_module() is None:
            raise AlifuseInputError(f"{quote_path(path)}: reading a .zst image needs the Python package "
                                    f"backports.zstd, which is not installed")


def check_stream(path: Path, limit: int, diagnose: bool = False) -> None:
    """A gzip, bzip2 or zstd file is read to its end once, in bounded memory: every member's checks (gzip's CRC-32
    and length, bzip2's block CRCs, zstd's checksum when it has one) must pass, and nothing but further members (or
    zero padding) may follow. Otherwise one line naming ``path``: a damaged file is never read into a quietly wrong
    volume. Reading stops once the output passes ``limit`` bytes: an error, or with ``diagnose`` (looking for why
    a file could not be read at all) the end of the search. Any other file is left alone."""
    where = quote_path(path)
    with open(path, "rb") as fh:
        kind = compression_of(fh.read(4))
        if kind is None:
            return
        require_decoder(path)
        fh.seek(0)
        s, total, pending = _Stream(kind), 0, b""
        errors: tuple[type[BaseException], ...] = (zlib.error, OSError, EOFError)
        if kind == "zstd":
            errors += (_zstd_module().ZstdError,)
        while True:
            data = b""
            if s.wants_input:
                data, pending = pending or fh.read(1 << 16), b""
                if not data:
                    raise AlifuseInputError(f"{where}: the {kind} stream ends early (file truncated?)") \
                        from EOFError("compressed file ended before the end-of-stream marker was reached")
            try:
                total += s.step(data)
            except errors as exc:
                raise AlifuseInputError(f"{where}: the {kind} stream is damaged ({_why_damaged(kind, exc)}); the file "
                                        f"cannot be trusted") from exc
            if total > limit:
                if diagnose:
                    return
                raise AlifuseInputError(f"{where}: decompresses to more than its header declares ({limit:,} bytes; "
                                        f"two files joined, or trailing data); refused")
            if not s.eof:
                continue
            rest = s.unused
            while len(rest) < len(_MAGIC[kind]):  # enough to tell another member from the end
                more = fh.read(1 << 16)
                if not more:
                    break
                rest += more
            if rest.startswith(_MAGIC[kind]):  # another member: gzip, bzip2 and zstd all allow several
                s, pending = _Stream(kind), rest
                continue
            _only_padding(fh, rest, where, kind)
            return


def _only_padding(fh: BinaryIO, rest: bytes, where: str, kind: str) -> None:
    """Nothing but zero bytes from ``rest`` on to the end of ``fh``."""
    while rest:
        if rest.strip(b"\0"):
            raise AlifuseInputError(f"{where}: data after the end of the {kind} stream (trailing garbage, or two "
                                    f"files joined); the file is damaged")
        rest = fh.read(1 << 16)
