"""Opening a file a user named: regular files only, with a size cap, checked before a byte is read.

A FIFO blocks a reader forever, ``/dev/zero`` never ends, a 50 GB file exhausts memory: every reader of user
files (records, images, checkpoints, manifests, the training cache's hashing) goes through :func:`check_regular`
or :func:`open_regular`, so each of those is one line naming the file, never a hang.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from engine.errors import AlifuseInputError, quote_path

KB, MB, GB = 1 << 10, 1 << 20, 1 << 30

#: caps per kind of file (bytes on disk)
MAX_RECORD_BYTES = 1 * MB          # one EHR JSON: a long narrative is a few KB
MAX_MANIFEST_BYTES = 256 * MB      # a manifest CSV of a large cohort
MAX_IMAGE_BYTES = 4 * GB           # one MRI file (compressed or not); the decoded size is checked separately
MAX_CHECKPOINT_BYTES = 8 * GB      # the paper's model in float32 is 2.3 GB


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def size_text(n: int) -> str:
    """A size in bytes as a person reads it: "1.2 GB", "640 KB", "12 bytes"."""
    for unit, size in (("GB", GB), ("MB", MB), ("KB", KB)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n} bytes"


def _check_stat(st: os.stat_result, path: Path | str, max_bytes: int, what: str) -> int:
    where = quote_path(path)
    if not stat.S_ISREG(st.st_mode):
        raise AlifuseInputError(f"{where}: {what} is {_kind(st.st_mode)}, not a regular file")
    if st.st_size > max_bytes:
        raise AlifuseInputError(f"{where}: {what} is {size_text(st.st_size)}, more than the "
                                f"{size_text(max_bytes)} such a file may be")
    return int(st.st_size)


def check_regular(path: str | Path, max_bytes: int, what: str = "the file") -> int:
    """Refuse (one line naming ``path``) anything but an existing regular file of at most ``max_bytes``;
    returns its size. Links are followed: a link to ``/dev/zero`` is a character device."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise AlifuseInputError(f"{quote_path(path)}: {what} not found") from None
    except OSError as exc:
        raise AlifuseInputError(f"{quote_path(path)}: cannot read {what} ({exc.strerror or exc})") from None
    return _check_stat(st, path, max_bytes, what)


def open_regular(path: str | Path, max_bytes: int, what: str = "the file") -> BinaryIO:
    """Open ``path`` for reading in binary, only if it is a regular file of at most ``max_bytes``.

    Opened without blocking (a FIFO's open would wait for a writer forever) and checked on the open
    descriptor, so a file swapped for a FIFO between a check and the open is refused too.
    """
    check_regular(path, max_bytes, what)
    return _open_checked(path, max_bytes, what)


def _open_checked(path: str | Path, max_bytes: int, what: str) -> BinaryIO:
    """``open_regular`` after its first check: the non-blocking open and the check on the descriptor."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise AlifuseInputError(f"{quote_path(path)}: cannot read {what} ({exc.strerror or exc})") from None
    try:
        _check_stat(os.fstat(fd), path, max_bytes, what)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str | Path, max_bytes: int, what: str = "the file") -> bytes:
    """The bytes of a regular file of at most ``max_bytes`` (a file that grows while read is cut and refused)."""
    with open_regular(path, max_bytes, what) as fh:
        try:
            data = fh.read(max_bytes + 1)
        except OSError as exc:
            raise AlifuseInputError(f"{quote_path(path)}: cannot read {what} ({exc.strerror or exc})") from None
    if len(data) > max_bytes:
        raise AlifuseInputError(f"{quote_path(path)}: {what} is more than the {size_text(max_bytes)} "
                                f"such a file may be")
    return data


def read_regular_tail(path: str | Path, max_bytes: int, what: str = "the file") -> tuple[bytes, int]:
    """The last ``max_bytes`` bytes of a regular file of any size (all of it when smaller) and the file's size.

    For logs that only grow (a training run's metrics.jsonl): their newest lines matter, and a file past any
    cap still shows them instead of nothing. Anything but a regular file is refused as by :func:`open_regular`.
    """
    check_regular(path, 1 << 62, what)  # before the open, as open_regular: opening a device can act on it
    with _open_checked(path, 1 << 62, what) as fh:
        try:
            size = os.fstat(fh.fileno()).st_size
            fh.seek(max(0, size - max_bytes))
            return fh.read(max_bytes), int(size)
        except OSError as exc:
            raise AlifuseInputError(f"{quote_path(path)}: cannot read {what} ({exc.strerror or exc})") from None
