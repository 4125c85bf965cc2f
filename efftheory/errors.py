"""Errors that carry a one-line, user-facing message.

Library functions raise :class:`InputError` for bad arguments; the command line turns it
into a one-line message on stderr and exit status 2. It subclasses ``ValueError`` so that
library users can catch it the usual way.
"""

from __future__ import annotations


class InputError(ValueError):
    """A bad argument value; ``str(err)`` is one line that names the value."""


def require(condition: bool, message: str) -> None:
    """Raise :class:`InputError` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise InputError(message)
