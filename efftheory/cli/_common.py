"""What every command shares: argument types, errors, JSON, progress bars, safe writes.

Commands are modules with ``add_arguments(parser)`` and ``run(args, ui) -> (result, text)``:
``result`` is the JSON object printed under ``--json``, ``text`` the readable summary.
Only the cli package reads argv or prints.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from efftheory.errors import InputError
from efftheory.files import atomic_write, save_npz  # noqa: F401  (re-exported for commands)


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr and exit status 2."""

    def error(self, message: str):  # noqa: D401 - argparse API
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


# ---------------------------------------------------------------- argument types


def _typed(convert, check, what):
    def parse(text: str):
        try:
            value = convert(text)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not check(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
        return value

    parse.__name__ = what  # argparse names the type in some messages
    return parse


positive_int = _typed(int, lambda v: v > 0, "a positive integer")
nonnegative_int = _typed(int, lambda v: v >= 0, "a non-negative integer")
positive_float = _typed(float, lambda v: math.isfinite(v) and v > 0, "a positive number")
nonnegative_float = _typed(float, lambda v: math.isfinite(v) and v >= 0, "a non-negative number")
fraction = _typed(float, lambda v: math.isfinite(v) and 0 < v <= 1, "a fraction in (0, 1]")


def int_list(text: str) -> list[int]:
    """``"5,10,15"`` -> [5, 10, 15]."""
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers") from None
    if not values:
        raise argparse.ArgumentTypeError(f"{text!r} is an empty list")
    return values


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout, nothing else")


# ---------------------------------------------------------------- output


def jsonable(obj):
    """Plain Python types for json.dumps: numpy scalars and arrays, NaN/inf -> None."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        value = float(obj)
        return value if math.isfinite(value) else None
    return obj


def dumps(result: dict) -> str:
    return json.dumps(jsonable(result), indent=None, separators=(", ", ": "))


class UI:
    """How a command talks to the user while it works (progress bars on stderr)."""

    def __init__(self, json_mode: bool, stream=None):
        self.stream = stream if stream is not None else sys.stderr
        self.show_progress = (not json_mode) and hasattr(self.stream, "isatty") and self.stream.isatty()

    @contextmanager
    def progress(self, total: int | None, desc: str):
        """Yield ``update(n)``; draws a tqdm bar on stderr only for an interactive terminal."""
        if not self.show_progress:
            yield lambda n=1: None
            return
        from tqdm import tqdm

        with tqdm(total=total, desc=desc, file=self.stream, leave=False, dynamic_ncols=True) as bar:
            yield bar.update


# ---------------------------------------------------------------- files


def check_output_path(path: str | os.PathLike | None, option: str) -> Path | None:
    """Refuse, before any long work, an output path that cannot be written."""
    if path is None:
        return None
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise InputError(f"{option} {str(path)!r} is a directory, not a file")
    if not parent.is_dir():
        raise InputError(f"{option} {str(path)!r}: directory {str(parent)!r} does not exist")
    if not os.access(parent, os.W_OK):
        raise InputError(f"{option} {str(path)!r}: directory {str(parent)!r} is not writable")
    return path


def save_figure(fig, path: str | os.PathLike, dpi: int = 130) -> None:
    """Save a matplotlib figure atomically (PNG by the path's suffix)."""
    fmt = Path(path).suffix.lstrip(".") or "png"
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=dpi, format=fmt, bbox_inches="tight"))
