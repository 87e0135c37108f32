"""What every ``alifuse-*`` command shares: one-line errors, exit codes, device choice."""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Callable, NoReturn

from engine.errors import AlifuseInputError, one_line
from engine.run_format import DEVICE_AUTO, DEVICE_CPU, DEVICE_CUDA, DEVICE_NAMES

if TYPE_CHECKING:
    import torch


class ArgumentParser(argparse.ArgumentParser):
    """argparse with the project's error format: one line ``alifuse: error: ...`` and exit 2."""

    def error(self, message: str) -> NoReturn:
        fail(message)


#: the longest error line a command prints (the what and where; a user's own text is quoted shorter still)
MAX_ERROR_LINE = 600


def error_line(message: str) -> str:
    """``alifuse: error: <message>`` as one printable line: control characters escaped (a file name with a
    newline or an ANSI escape cannot break or colour the terminal), cut at ``MAX_ERROR_LINE`` characters, and
    spelled so that the terminal's encoding (ASCII too) can print it."""
    encoding = getattr(sys.stderr, "encoding", None) or "utf-8"
    try:
        "".encode(encoding)
    except LookupError:
        encoding = "ascii"

    def spelled(text: str) -> str:
        return text.encode(encoding, "backslashreplace").decode(encoding)

    # cut after spelling: an ASCII terminal writes one character as up to ten (\U0001f600), so a line cut first
    # could come out longer than MAX_ERROR_LINE
    ellipsis = "…" if spelled("…") == "…" else "..."
    line = spelled(f"alifuse: error: {one_line(message)}")
    if len(line) <= MAX_ERROR_LINE:
        return line
    out: list[str] = []
    used = 0
    for ch in f"alifuse: error: {one_line(message)}":
        piece = spelled(ch)
        if used + len(piece) > MAX_ERROR_LINE - len(ellipsis):
            break
        out.append(piece)
        used += len(piece)
    return "".join(out) + ellipsis


#: the largest --seed: numpy, torch and the per-epoch seeds derived from it (seed * 100003 + epoch) all fit
MAX_SEED = 2**32 - 1


def seed_type(text: str) -> int:
    """argparse ``type`` of every ``--seed``: a whole number from 0 to ``MAX_SEED`` (-1 or 2**70 is one line)."""
    try:
        v = int(text.strip(), 10) if text.strip().lstrip("+").isdigit() else None
    except ValueError:
        v = None
    if v is None or not 0 <= v <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"'{one_line(text)[:40]}' is not a seed: use a whole number from 0 to "
                                         f"{MAX_SEED}")
    return v


def fail(message: str, code: int = 2) -> NoReturn:
    print(error_line(message), file=sys.stderr)
    raise SystemExit(code)


def run_cli(main: Callable[[], int | None]) -> int:
    """Run ``main``; bad input -> one line and exit 2; a bug -> one line and exit 1 (traceback with ALIFUSE_DEBUG=1)."""
    try:
        return int(main() or 0)
    except AlifuseInputError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail("interrupted", 130)
    except BrokenPipeError:  # the reader (e.g. `| head`) went away: not an error of ours
        sys.stderr.close()
        return 0
    except Exception as exc:  # noqa: BLE001 - last line of defence of a command-line tool
        if os.environ.get("ALIFUSE_DEBUG"):
            raise
        fail(f"internal error: {type(exc).__name__}: {exc} (set ALIFUSE_DEBUG=1 for the traceback)", 1)


def prepare_out_dir(out: str | os.PathLike, option: str = "--out") -> Path:
    """Make sure ``out`` is a folder this process can write into (created if missing), before any work is done.

    A path under a file (``/dev/null/x``), in a pseudo file system (``/proc/x``, ``/sys/x``), a read-only folder or
    a full disk is bad input: one ``AlifuseInputError`` naming the option and the folder, never a traceback after a
    minute of computing. The check writes and removes one empty probe file.
    """
    path = Path(out)
    what = f"{option} {path}"
    try:
        if path.exists() and not path.is_dir():
            raise AlifuseInputError(f"{what}: exists and is not a folder")
        path.mkdir(parents=True, exist_ok=True)
    except AlifuseInputError:
        raise
    except OSError as exc:
        raise AlifuseInputError(f"{what}: the folder cannot be created ({_why_not(exc)})") from None
    if not path.is_dir():  # mkdir "succeeded" on something that is not a folder
        raise AlifuseInputError(f"{what}: is not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".alifuse-write-check-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise AlifuseInputError(f"{what}: the folder is not writable ({_why_not(exc)})") from None
    return path


def _why_not(exc: OSError) -> str:
    """The reason of an OSError in words; the errno's text, else the message."""
    import errno

    if exc.errno == errno.ENOENT:
        return "a parent folder does not exist or cannot hold folders"
    if exc.errno == errno.ENOTDIR:
        return "a part of the path is a file, not a folder"
    return exc.strerror or type(exc).__name__


#: OpenMP's wait policy for the interactive commands (viewer, predict, bench), unless the user set one
INTERACTIVE_OMP_WAIT_POLICY = "PASSIVE"


def prefer_sleeping_threads() -> bool:
    """Let torch's idle OpenMP threads sleep rather than spin, unless ``OMP_WAIT_POLICY`` is set already.

    On a laptop running other programs, spinning threads fight them for the cores and every parallel region
    waits for the slowest: measured on 2 cores beside 4 busy processes, demo explain took 1.6-6.3 s spinning
    and 1.0-1.6 s sleeping (idle: 0.31 s vs 0.36 s). OpenMP reads the variable once, when torch loads, so this
    must run first: returns False, changing nothing, if torch is already imported.
    """
    if "torch" in sys.modules:
        return False
    os.environ.setdefault("OMP_WAIT_POLICY", INTERACTIVE_OMP_WAIT_POLICY)
    return True


def resolve_device(name: str) -> "torch.device":
    """auto | cpu | cuda[:N] -> a device that exists, or an error naming --device."""
    import torch  # here, not at import: the viewer draws its first image before torch is needed

    if name == DEVICE_AUTO:
        return torch.device(DEVICE_CUDA if torch.cuda.is_available() else DEVICE_CPU)
    if name == DEVICE_CPU:
        return torch.device(DEVICE_CPU)
    if name.startswith(DEVICE_CUDA):
        if not torch.cuda.is_available():
            raise AlifuseInputError(f"--device {name}: no CUDA GPU is available on this machine")
        return torch.device(name)
    raise AlifuseInputError(f"--device {name}: use {', '.join(DEVICE_NAMES[:-1])} or {DEVICE_NAMES[-1]}")


def resolve_device_name(name: str) -> str:
    """``resolve_device`` as a string, without importing torch for ``cpu``.

    The viewer checks ``--device`` before its window opens; importing torch (over a second) just to
    spell "cpu" would delay the first image. auto and cuda need torch to know what this machine has.
    """
    if name == DEVICE_CPU:
        return DEVICE_CPU
    return str(resolve_device(name))
