"""Errors a user can cause: every one names what is wrong and where."""
from __future__ import annotations


class AlifuseInputError(ValueError):
    """Bad user input (file, field or option). Commands print it as one line and exit 2.

    The message must name the file, field or option and say what is wrong with it.
    """
