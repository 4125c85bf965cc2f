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


def positive_number(value, name: str) -> float:
    """``value`` as a float if it is a finite real number > 0; InputError naming it otherwise."""
    import math
    import numbers

    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    require(ok and math.isfinite(float(value)) and float(value) > 0, f"{name} must be a positive number, got {value!r}")
    return float(value)


class WriteError(InputError):
    """A file could not be written whole (a full disk, an I/O error); nothing half-written was
    left and what was there before is kept. The command line reports it like bad input: one
    line on stderr, exit status 2."""


def check_int(name: str, value, low: int) -> None:
    """Refuse ``value`` unless it is an integer (not a bool) >= ``low``."""
    import numbers

    require(
        isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= low,
        f"{name} must be an integer >= {low}, got {value!r}",
    )


def check_float(name: str, value, positive: bool) -> None:
    """Refuse ``value`` unless it is a finite real number (not a bool), > 0 if ``positive`` else >= 0."""
    import math
    import numbers

    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > 0 if positive else value >= 0)
    require(ok, f"{name} must be a {'positive' if positive else 'non-negative'} number, got {value!r}")
