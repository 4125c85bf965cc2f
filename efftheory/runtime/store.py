"""A resumable, append-only, locked store for sweep results (one directory per sweep).

Layout of the directory:

- ``manifest.json``: ``{"format": ..., "digest": ..., "sweep": {...}}``, the sweep (grid,
  fixed settings, seeds, cell function) and its :func:`digest`; written once, atomically.
- ``results.jsonl``: one JSON object per finished run (a cell and a seed, see
  :func:`efftheory.experiments.sweep.engine.run_sweep`), each stamped with the manifest's digest and appended,
  flushed and fsynced as it finishes.
- ``.lock``: the lock file. A store holds an exclusive ``flock`` on it from :meth:`ResultStore.open`
  to :meth:`ResultStore.close`, so two runs never write into one directory at once.

Nothing is ever rewritten. Opening reads the complete lines only (a line cut short by a crash
has no newline and is ignored) and keeps every *valid* line: one that parses, carries this
manifest's digest, names a run the caller expects with the values it expects, holds only
possible values (step counts whole numbers in [0, budget], accuracies and RQI in [0, 1], a known
phase) and is the first valid line of its run. Every other line is left in place, counted in
``dropped`` and ignored, and its run is computed again and appended. Before the first append a
newline is added if the file does not end with one, so a new line never continues a cut one.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import math
import os
from pathlib import Path

from efftheory.errors import InputError
from efftheory.runtime.files import write_bytes
from efftheory.models.phases import PHASES

FORMAT = "efftheory-phase-sweep/2"
MANIFEST = "manifest.json"
RESULTS = "results.jsonl"
LOCK = ".lock"

#: the fields that name a run: grid cell (ix, iy) and network seed
KEY = ("ix", "iy", "seed")
STEP_FIELDS = ("t_train", "t_test", "t_rqi")  # None (never reached) or a step in [0, budget]
FRACTION_FIELDS = ("final_train_acc", "final_test_acc", "final_rqi")  # None or in [0, 1]


def _normal(obj):
    """The object as it reads back from JSON (tuples -> lists, exact float repr)."""
    return json.loads(json.dumps(obj))


def digest(sweep: dict) -> str:
    """First 16 hex digits of the SHA-256 of the sweep's canonical JSON (sorted keys, no spaces)."""
    text = json.dumps(_normal(sweep), sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _first_difference(old, new, path: str = "") -> str | None:
    """Dotted path and values of the first place two JSON objects differ, or None."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in list(old) + [k for k in new if k not in old]:
            diff = _first_difference(old.get(key), new.get(key), f"{path}.{key}" if path else key)
            if diff:
                return diff
        return None
    if old != new:
        return f"{path}: {old!r} there, {new!r} here"
    return None


class ResultStore:
    """The locked result directory of one sweep; see the module docstring.

    Use as a context manager (or call :meth:`close`) to release the lock.

    Attributes:
        path: the directory.
        digest: the manifest's digest, stamped on every appended line.
        finished: ``{(ix, iy, seed): record}`` of the valid lines found when opened.
        dropped: lines ignored when opened (invalid, foreign, repeated or cut short).
    """

    def __init__(self, path: Path, digest_: str, finished: dict, dropped: int, lock_fd: int, newline_needed: bool):
        self.path = path
        self.digest = digest_
        self.finished = finished
        self.dropped = dropped
        self._lock_fd = lock_fd
        self._newline_needed = newline_needed

    @classmethod
    def open(cls, directory, sweep: dict, expected: dict, budget: int, *, wait: bool = False) -> "ResultStore":
        """Lock, create or reopen ``directory`` for ``sweep`` and read its valid lines.

        ``expected`` maps every run key ``(ix, iy, seed)`` to the fields its line must hold
        exactly (e.g. ``{"settings": {...}, "split_seed": 3}``); ``budget`` is the step budget.
        Raises :class:`InputError` if the directory is in use by another run (unless ``wait``:
        then it waits for the lock), cannot be used, or holds a different sweep.
        """
        path = Path(directory)
        sweep = _normal(sweep)
        _make_directory(path)
        lock_fd = _lock(path, wait)
        try:
            dig = _check_manifest(path, sweep)
            lines, cut = _complete_lines(path / RESULTS)
            finished, dropped = _valid_lines(lines, dig, expected, budget)
        except BaseException:
            os.close(lock_fd)
            raise
        return cls(path, dig, finished, dropped + int(cut), lock_fd, cut)

    def append(self, record: dict) -> dict:
        """Append one run, stamped with the digest, as a JSON line; fsynced before returning.

        Returns the stamped record (what reading the line back gives)."""
        record = {**record, "digest": self.digest}
        line = json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n"
        data = ("\n" if self._newline_needed else "") + line
        fd = os.open(self.path / RESULTS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            os.write(fd, data.encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        self._newline_needed = False
        return record

    def close(self) -> None:
        """Release the lock (idempotent)."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> "ResultStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _make_directory(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise InputError(f"--out {str(path)!r} is not a directory") from None
    except OSError as err:
        raise InputError(f"--out {str(path)!r} cannot be created: {err.strerror}") from None
    if not os.access(path, os.W_OK):
        raise InputError(f"--out {str(path)!r} is not writable")


def _lock(path: Path, wait: bool) -> int:
    """An fd holding an exclusive flock on ``path/.lock``; refused at once unless ``wait``."""
    try:
        fd = os.open(path / LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as err:
        raise InputError(f"--out {str(path)!r}: cannot open its lock file {LOCK} ({err.strerror})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except OSError as err:
        os.close(fd)
        if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise InputError(f"--out {str(path)!r} is in use by another sweep (wait for it with --wait)") from None
        raise InputError(f"--out {str(path)!r}: cannot lock {LOCK} ({err.strerror})") from None
    except BaseException:  # Ctrl-C while waiting
        os.close(fd)
        raise
    return fd


def _check_manifest(path: Path, sweep: dict) -> str:
    """The digest of ``sweep`` after writing its manifest, or checking the one there matches."""
    manifest, dig = path / MANIFEST, digest(sweep)
    if manifest.exists() or manifest.is_symlink():
        try:
            stored = json.loads(manifest.read_text())
            fmt, old = stored["format"], stored["sweep"]
        except OSError as err:
            raise InputError(f"--out {str(path)!r}: cannot read {MANIFEST} ({err.strerror}); use another directory") from None
        except (ValueError, KeyError, TypeError):
            raise InputError(f"--out {str(path)!r} has an unreadable {MANIFEST}; use another directory") from None
        if fmt != FORMAT:
            raise InputError(f"--out {str(path)!r} holds a sweep of format {fmt!r}, not {FORMAT!r}; use another directory")
        diff = _first_difference(old, sweep)
        if diff:
            raise InputError(f"--out {str(path)!r} holds a different sweep ({diff}); use another directory")
        return dig
    if (path / RESULTS).exists():
        raise InputError(f"--out {str(path)!r} has {RESULTS} but no {MANIFEST}; use another directory")
    text = json.dumps({"format": FORMAT, "digest": dig, "sweep": sweep}, indent=1) + "\n"
    write_bytes(manifest, text.encode())
    return dig


def _complete_lines(results: Path) -> tuple[list[bytes], bool]:
    """The newline-terminated lines of ``results`` and whether a cut line follows them."""
    try:
        data = results.read_bytes()
    except FileNotFoundError:
        return [], False
    except OSError as err:
        raise InputError(f"cannot read {str(results)!r} ({err.strerror})") from None
    *lines, tail = data.split(b"\n")
    return lines, tail != b""


def _valid_lines(lines: list[bytes], dig: str, expected: dict, budget: int) -> tuple[dict, int]:
    """``({key: record}, number of lines ignored)``: the first valid line of every run."""
    finished, dropped = {}, 0
    for line in lines:
        rec = _parse(line)
        if rec is None or _key(rec) in finished or _problem(rec, dig, expected, budget):
            dropped += int(line.strip() != b"")
            continue
        finished[_key(rec)] = rec
    return finished, dropped


def _parse(line: bytes) -> dict | None:
    try:
        rec = json.loads(line)
    except ValueError:
        return None
    return rec if isinstance(rec, dict) else None


def _key(rec: dict) -> tuple | None:
    """``(ix, iy, seed)`` of a line, or None unless all three are whole numbers."""
    key = tuple(rec.get(k) for k in KEY)
    return key if all(_whole(v) for v in key) else None


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _step(value, budget: int) -> bool:
    return _whole(value) and 0 <= value <= budget


def _fraction(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and 0 <= value <= 1


def _problem(rec: dict, dig: str, expected: dict, budget: int) -> str | None:
    """Why ``rec`` cannot be a result of this sweep, or None if it can."""
    if rec.get("digest") != dig:
        return "another manifest"
    want = expected.get(_key(rec))
    if want is None:
        return "not a run of this sweep"
    if any(rec.get(field) != value for field, value in want.items()):
        return "values of another run"
    return value_problem(rec, budget)


def value_problem(rec: dict, budget: int) -> str | None:
    """Which result field of ``rec`` holds an impossible value for ``budget`` (None: none does)."""
    if not _step(rec.get("steps_run"), budget):
        return "steps_run"
    if any(rec.get(f, "") is not None and not _step(rec.get(f), budget) for f in STEP_FIELDS):
        return "step counts"
    if any(rec.get(f, "") is not None and not _fraction(rec.get(f)) for f in FRACTION_FIELDS):
        return "fractions"
    if rec.get("phase") not in PHASES:
        return "phase"
    t_train, t_test = rec["t_train"], rec["t_test"]
    if rec.get("gap", "") != (None if t_train is None or t_test is None else t_test - t_train):
        return "gap"
    return None


def read_sweep(directory) -> tuple[dict, list[dict]]:
    """``(manifest["sweep"], records)`` of a result directory: the complete lines that carry the
    manifest's digest, without the checks against a grid that :meth:`ResultStore.open` makes."""
    path = Path(directory)
    try:
        manifest = json.loads((path / MANIFEST).read_text())
        sweep = manifest["sweep"]
    except (OSError, ValueError, KeyError, TypeError):
        raise InputError(f"{str(path)!r} is not a sweep directory (no readable {MANIFEST})") from None
    lines, _ = _complete_lines(path / RESULTS)
    dig = digest(sweep)
    records = [rec for rec in map(_parse, lines) if rec is not None and rec.get("digest") == dig]
    return sweep, records
