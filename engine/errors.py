"""Errors a user can cause: every one names what is wrong and where."""
from __future__ import annotations

import re


class AlifuseInputError(ValueError):
    """Bad user input (file, field or option). Commands print it as one line and exit 2.

    The message must name the file, field or option and say what is wrong with it.
    """


#: control characters (C0, DEL, C1) and the Unicode line/paragraph separators: never printed raw
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def one_line(text: str) -> str:
    """``text`` with every control character escaped (a newline becomes ``\\n``, ESC ``\\x1b``): one printable line."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), str(text))


def quote(value: object, limit: int = 40) -> str:
    """A user-given key, value or name as an error message may show it: control characters escaped, at most
    ``limit`` characters (the start, then ``…``), so a 300 KB value or a name with a newline stays one short line."""
    text = one_line(value if isinstance(value, str) else repr(value))
    return text if len(text) <= limit else text[:limit - 1] + "…"


def quote_path(path: object, limit: int = 120) -> str:
    """A file name for a message: control characters escaped; a long one keeps its end (the file's own name)."""
    text = one_line(str(path))
    return text if len(text) <= limit else "…" + text[-(limit - 1):]
