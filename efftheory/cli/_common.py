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
import re
import sys
from contextlib import contextmanager
from pathlib import Path

from efftheory.errors import InputError
from efftheory.runtime import files
from efftheory.runtime.files import atomic_write, check_writable_file, jsonable, save_npz  # noqa: F401  (re-exported for commands)

# A value that starts with '-' and then a digit, '.digit', 'inf' or 'nan' is a (negative) number,
# never an option: argparse's own pattern misses scientific notation, so '--lr -1e-3' would be
# "expected one argument" instead of reaching the type check. Lists ('-1,2') count too.
_NEGATIVE_NUMBER = re.compile(r"^-(\d|\.\d|inf|nan)", re.IGNORECASE)

# "argument --lr: must be positive, got -0.001" (argparse's wording of a type error) is said
# "--lr must be positive, got -0.001".
_TYPE_ERROR = re.compile(r"^argument (\S+): (must be .*)$", re.DOTALL)


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr and exit status 2, and which reads
    any value starting with '-' and a digit (``-1e-3``, ``-2``, ``-.5``) as a value, not an option."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = _NEGATIVE_NUMBER

    def error(self, message: str):  # noqa: D401 - argparse API
        message = _TYPE_ERROR.sub(r"\1 \2", " ".join(str(message).split()))
        message = _foreign_options(message)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


def _foreign_options(message: str) -> str:
    """"unrecognized arguments: --layers 2" says whose option --layers is, when it is another
    model's (``train``'s options depend on the model)."""
    if not message.startswith("unrecognized arguments:"):
        return message
    from efftheory.cli._model_options import foreign_option

    hints = [foreign_option(word) for word in message.split(":", 1)[1].split() if word.startswith("--")]
    hints = [h for h in hints if h]
    return "; ".join(hints) if hints else message


# ---------------------------------------------------------------- argument types
#
# Every number on the command line goes through one of these. A type error reads
# "--OPTION must be REQUIREMENT, got VALUE" (the parsed number, or the text if it is none).


def _real(text: str) -> float | None:
    """``text`` as a float ('1e-3', '-2', 'inf'), or None if it is not a number."""
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _whole(text: str) -> int | float | None:
    """``text`` as an int when it is a whole number ('100000', '1e5'); the float when it is a
    number with a fraction or no finite value ('2.5', 'inf'), so the caller can show it; else None."""
    try:
        return int(text)
    except (TypeError, ValueError):
        pass
    value = _real(text)
    if value is not None and math.isfinite(value) and value == int(value):
        return int(value)
    return value


def _show(text: str, value) -> str:
    """How a refused value is named: the number read (-0.001 for '-1e-3', 0 for '0.0'), or the
    text as given when it is not a finite number."""
    if value is None or not math.isfinite(value):
        return repr(text)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(value)


def _number_type(parse, check, requirement: str):
    """An argparse ``type``: ``parse`` the text, then refuse it unless ``check(value)``."""

    def convert(text: str):
        value = parse(text)
        if value is None or not check(value):
            raise argparse.ArgumentTypeError(f"must be {requirement}, got {_show(text, value)}")
        return value

    convert.__name__ = requirement  # argparse names the type in some messages
    return convert


def _is_int(value) -> bool:
    return isinstance(value, int)


def _finite(value) -> bool:
    return math.isfinite(value)


integer = _number_type(_whole, _is_int, "a whole number")
"""Any whole number, written ``12``, ``-3`` or ``1e5`` (not ``2.5``)."""
positive_int = _number_type(_whole, lambda v: _is_int(v) and v > 0, "a positive integer")
"""A whole number >= 1 (``1e5`` is 100000)."""
nonnegative_int = _number_type(_whole, lambda v: _is_int(v) and v >= 0, "a non-negative integer")
"""A whole number >= 0."""
positive_float = _number_type(_real, lambda v: _finite(v) and v > 0, "positive")
"""A finite number > 0."""
nonnegative_float = _number_type(_real, lambda v: _finite(v) and v >= 0, ">= 0")
"""A finite number >= 0."""
fraction = _number_type(_real, lambda v: _finite(v) and 0 < v <= 1, "a fraction in (0, 1]")
"""A number in (0, 1]."""
thread_count = _number_type(_whole, lambda v: _is_int(v) and 1 <= v <= (os.cpu_count() or 1),
                            f"a whole number from 1 to this machine's {os.cpu_count() or 1} cores")
"""A whole number of threads, at least 1 and at most the machine's cores."""


def int_list(text: str) -> list[int]:
    """``"5,10,15"`` (or ``"5,1e1"``) -> [5, 10, 15]; every entry a whole number."""
    values = [_whole(part) for part in text.split(",") if part.strip()]
    if not values or not all(_is_int(v) for v in values):
        raise argparse.ArgumentTypeError(f"must be a comma-separated list of whole numbers, got {text!r}")
    return values


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout, nothing else")


# ---------------------------------------------------------------- output


def dumps(result: dict) -> str:
    return json.dumps(jsonable(result), indent=None, separators=(", ", ": "))


class UI:
    """How a command talks to the user while it works: a progress bar on a terminal; on a
    stderr that is a file or a pipe (a run in the background, a batch job), a plain line at
    most every :attr:`log_every` seconds with the count, the elapsed time and an estimate of
    the time left; nothing under ``--json``."""

    #: seconds between two progress lines in a log
    log_every = 60.0

    def __init__(self, json_mode: bool, stream=None):
        self.stream = stream if stream is not None else sys.stderr
        self.json_mode = json_mode
        self.show_progress = (not json_mode) and hasattr(self.stream, "isatty") and self.stream.isatty()

    @contextmanager
    def progress(self, total: int | None, desc: str):
        """Yield ``update(n)``: a tqdm bar on a terminal, log lines elsewhere (class docstring)."""
        if self.json_mode or (not self.show_progress and total is None):
            yield lambda n=1: None
            return
        if not self.show_progress:
            yield _LogLines(self.stream, total, desc, self.log_every).update
            return
        from tqdm import tqdm

        with tqdm(total=total, desc=desc, file=self.stream, leave=False, dynamic_ncols=True) as bar:
            yield bar.update


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 300 else f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


class _LogLines:
    """``update(n)`` that writes "desc: done/total (pct), elapsed, about T left" to a log at most
    every ``every`` seconds, and a last line at the end if it wrote any (short work writes
    none). The estimate uses the pace since the first update, so work found already done (a
    resumed sweep reports it in its first update) does not make it optimistic."""

    def __init__(self, stream, total: int, desc: str, every: float):
        import time

        self.clock = time.monotonic
        self.stream, self.total, self.desc, self.every = stream, total, desc, every
        self.start = self.clock()
        self.last = self.start
        self.done = 0
        self.first = None  # (time, done) at the first update
        self.wrote = False

    def update(self, n: int = 1) -> None:
        self.done += n
        now = self.clock()
        if self.first is None:
            self.first = (now, self.done)
            return
        finished = self.done >= self.total
        if now - self.last < self.every and not (finished and self.wrote):
            return
        self.last, self.wrote = now, True
        t0, n0 = self.first
        pace = (now - t0) / (self.done - n0) if self.done > n0 else None
        left = "" if pace is None or finished else f", about {_duration(pace * (self.total - self.done))} left"
        self.stream.write(f"{self.desc}: {self.done}/{self.total} ({self.done / self.total:.0%}), "
                          f"{_duration(now - self.start)} elapsed{left}\n")
        self.stream.flush()


# ---------------------------------------------------------------- files


def figure_formats() -> list[str]:
    """File suffixes (without the dot) matplotlib can write a figure as: png, pdf, svg, ..."""
    from matplotlib.backend_bases import FigureCanvasBase

    return sorted(FigureCanvasBase.get_supported_filetypes())


def check_output_path(path: str | os.PathLike | None, option: str, figure: bool | None = None) -> Path | None:
    """Refuse, before any long work, an output path that cannot be written (None passes).

    The directory must exist and take a new file (tried for real). A figure (``figure=True``;
    by default every ``--plot``) must also have a suffix matplotlib writes (no suffix means PNG).
    """
    if path is None:
        return None
    path = Path(path)
    figure = option == "--plot" if figure is None else figure
    if figure and path.suffix:
        formats = figure_formats()
        if path.suffix.lstrip(".").lower() not in formats:
            raise InputError(f"{option} {str(path)!r}: matplotlib cannot write '{path.suffix}' files; "
                             f"use one of {', '.join('.' + f for f in formats)}")
    return check_writable_file(path, option)


def check_distinct_outputs(outputs: dict) -> None:
    """Refuse two output options (``{"--plot": path, "--save": path}``, None for an option not
    given) that name one file: the second write would replace the first."""
    from efftheory.runtime.files import same_file

    given = [(option, path) for option, path in outputs.items() if path is not None]
    for k, (first, a) in enumerate(given):
        for second, b in given[k + 1:]:
            if same_file(a, b):
                raise InputError(f"{first} and {second} name the same file {str(b)!r}; give each its own file")


@contextmanager
def writing(path: str | os.PathLike, option: str):
    """Turn a failure to write ``path`` (full disk, directory gone) into a one-line InputError."""
    try:
        yield
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise InputError(f"{option} {str(path)!r}: could not write the file ({reason}); nothing was written") from None


def save_figure(fig, path: str | os.PathLike, dpi: int = 130, option: str = "--plot") -> None:
    """Save a matplotlib figure atomically, in the format of the path's suffix (PNG without one)."""
    with writing(path, option):
        files.save_figure(fig, path, dpi)


def save_arrays(path: str | os.PathLike, arrays: dict, compressed: bool = False, option: str = "--save") -> None:
    """Write ``arrays`` as an NPZ at exactly ``path``, atomically."""
    with writing(path, option):
        save_npz(path, arrays, compressed=compressed)


def add_task_arguments(parser) -> None:
    """--task and --ordered: the operation table a command works on. The command's own --p
    should default to None: :func:`task_of` requires it for the tasks that need it (add, modadd)
    and not for a group with a fixed order (s3)."""
    from efftheory.tasks import TASKS

    parser.add_argument("--task", choices=tuple(TASKS), default="add",
                        help="; ".join(f"{spec.name}: {spec.summary}" for spec in TASKS.values()) + " (default add)")
    parser.add_argument("--ordered", action="store_true",
                        help="ordered samples (a, b) and (b, a) instead of unordered pairs a <= b "
                             "(s3 is always ordered)")


def task_of(args):
    """The :class:`efftheory.tasks.Task` the options name; validates --p (required unless the
    task fixes it, and then it must be that number if given)."""
    from efftheory.tasks import TASKS, make_task

    name = getattr(args, "task", "add")
    p = getattr(args, "p", None)
    fixed = TASKS[name].fixed_p
    if fixed is not None:
        if p is not None and p != fixed:
            raise InputError(f"--task {name} has {fixed} symbols; --p {p} does not apply (leave --p out)")
    elif p is None:
        raise InputError(f"--p is required for --task {name} (the number of symbols)")
    else:
        check_p(p)
    return make_task(name, p, ordered=getattr(args, "ordered", False))


#: The largest p every command accepts. Measured: ``simulate --p 400 --frac 0.3`` takes 3 min
#: and 242 MB (N = 80,200 samples); the critical-size estimate grows as p^3 per trial beyond.
MAX_P = 400
P_HELP = f"number of symbols (2 to {MAX_P})"


def check_p(p: int | None) -> None:
    """Refuse --p above :data:`MAX_P` with one line (p < 2 is the task's own error; None, a
    missing --p, is :func:`task_of`'s to judge)."""
    if p is not None and p > MAX_P:
        raise InputError(f"--p {p} is too large (max {MAX_P}: larger tables take hours here)")
