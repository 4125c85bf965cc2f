"""A resumable, append-only, locked store for sweep results (one directory per sweep).

Layout of the directory:

- ``manifest.json``: ``{"format": ..., "digest": ..., "sweep": {...}}``, the sweep (grid,
  fixed settings, seeds, cell function) and its :func:`digest`; written once, atomically.
- ``results.jsonl``: one JSON object per finished run (a cell and a seed, see
  :func:`efftheory.experiments.sweep.engine.run_sweep`), each stamped with the manifest's digest and appended,
  flushed and fsynced as it finishes.
- ``.lock``: the lock file. A store holds an exclusive ``flock`` on it from :meth:`ResultStore.open`
  to :meth:`ResultStore.close`, so two runs never write into one directory at once.

All three must be regular files (a symlink to one is followed); anything else there (a FIFO, a
device, a directory) is refused without being read or written, so nothing can block the sweep.

Nothing is ever rewritten. Opening reads the complete lines only (a line cut short by a crash
has no newline and is ignored) and keeps every *valid* line (:func:`parse_line`,
:func:`value_problem`): at most :data:`MAX_LINE` bytes and :data:`MAX_DEPTH` levels of nesting,
one JSON object with no repeated key and no NaN, carrying this manifest's digest, naming a run
the caller expects with the values it expects, holding only the fields a record has, each of
its type and in its range (step counts whole numbers with t_train, t_test <= steps_run <=
budget, accuracies and RQI in [0, 1], seconds >= 0), a phase equal to the one the phase rule
gives for its t_train, t_test and the gap G (:func:`efftheory.phases.phase_of`; only
"diverged" cannot be recomputed), ended early only when both accuracies were reached, and the
first valid line of its run. Every other line is left in place, counted in ``dropped`` and
ignored, and its run is computed again and appended. Before the first append a newline is
added if the file does not end with one, so a new line never continues a cut one.

An append writes all of its bytes or none: a short write is continued, and a failed one (a
full disk, an I/O error) is cut back to where the line began before :class:`StoreWriteError`
(one line, exit status 2 on the command line) is raised, so the file always ends on a complete
line and every run stored before it is kept for the next resume.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import math
import os
import re
import stat
from pathlib import Path

from efftheory.errors import InputError, WriteError
from efftheory.phases import DEFAULT_GAP, PHASES, phase_of
from efftheory.runtime.files import file_kind, write_bytes

FORMAT = "efftheory-phase-sweep/2"
MANIFEST = "manifest.json"
RESULTS = "results.jsonl"
LOCK = ".lock"

#: the fields that name a run: grid cell (ix, iy) and network seed
KEY = ("ix", "iy", "seed")
STEP_FIELDS = ("t_train", "t_test", "t_rqi")  # None (never reached) or a step in [0, budget]
FRACTION_FIELDS = ("final_train_acc", "final_test_acc", "final_rqi")  # None or in [0, 1]
#: every field a result line holds (besides the run's own fields, e.g. settings and split_seed);
#: ``arithmetic`` and ``shared_from`` may be absent
RESULT_FIELDS = (*KEY, *STEP_FIELDS, "steps_run", *FRACTION_FIELDS, "phase", "gap", "seconds", "digest")
OPTIONAL_FIELDS = ("arithmetic", "shared_from")

#: the longest result line read (a record is about 400 bytes); longer lines are ignored unread
MAX_LINE = 1 << 16
#: the deepest nesting of arrays and objects a result line may have (a record has 2)
MAX_DEPTH = 8
#: the largest manifest read, and its deepest nesting
MAX_MANIFEST = 1 << 22
MAX_MANIFEST_DEPTH = 16

_CHUNK = 1 << 20

#: the system call that appends (its own name, so that a test can make it write short or fail
#: without touching os.write for everything else in the process)
_write = os.write


class StoreWriteError(WriteError):
    """A finished run could not be appended (full disk, I/O error); nothing partial was left."""


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


# ---------------------------------------------------------------- bounded JSON

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = re.compile(rb"[^\[\]{}]")


def _depth(data: bytes, limit: int) -> int:
    """The nesting depth of the arrays and objects in JSON text ``data``, counted up to
    ``limit + 1`` (brackets inside strings do not count). Needs no recursion."""
    depth = deepest = 0
    for char in _NOT_BRACKET.sub(b"", _STRING.sub(b"", data)):
        depth += 1 if char in b"[{" else -1
        deepest = max(deepest, depth)
        if deepest > limit:
            break
    return deepest


def _no_repeats(pairs):
    obj = {}
    for key, value in pairs:
        if key in obj:
            raise ValueError(f"repeated key {key!r}")
        obj[key] = value
    return obj


def _no_constant(name):
    raise ValueError(f"{name} is not JSON")


def parse_json(data: bytes, max_bytes: int, max_depth: int):
    """JSON text ``data`` parsed with bounds: ValueError if it is longer than ``max_bytes``,
    nested deeper than ``max_depth``, not JSON, has NaN or infinities, or repeats a key in an
    object (JSON leaves repeats undefined; a repeated field could hide a forged one)."""
    if len(data) > max_bytes:
        raise ValueError(f"longer than {max_bytes} bytes")
    if _depth(data, max_depth) > max_depth:
        raise ValueError(f"nested deeper than {max_depth}")
    return json.loads(data, object_pairs_hook=_no_repeats, parse_constant=_no_constant)


def parse_line(line: bytes) -> dict | None:
    """One result line as a dict, or None if it is not a bounded JSON object (:func:`parse_json`)."""
    try:
        rec = parse_json(line, MAX_LINE, MAX_DEPTH)
    except (ValueError, RecursionError):
        return None
    return rec if isinstance(rec, dict) else None


# ---------------------------------------------------------------- regular files only


def _refuse(path: Path, mode: int, what: str) -> InputError:
    return InputError(f"{what} {str(path.parent)!r}: cannot read {path.name}: it is {file_kind(mode)}, not a "
                      "regular file; use another directory")


def _open_regular(path: Path, flags: int, what: str = "--out") -> int:
    """An fd of the regular file ``path`` (created if ``flags`` say so). Anything else is refused
    before it is opened, and again after (non-blocking, so a FIFO put there in between cannot
    block): InputError naming it."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as err:
        raise InputError(f"{what} {str(path.parent)!r}: cannot read {path.name} ({err.strerror})") from None
    if mode is not None and not stat.S_ISREG(mode):
        raise _refuse(path, mode, what)
    try:
        fd = os.open(path, flags | os.O_NONBLOCK | os.O_CLOEXEC, 0o666)
    except OSError as err:
        raise InputError(f"{what} {str(path.parent)!r}: cannot read {path.name} ({err.strerror})") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise _refuse(path, mode, what)
    return fd


def _read_regular(path: Path, limit: int, what: str = "--out") -> bytes | None:
    """The bytes of the regular file ``path`` (None if it does not exist); InputError if it is
    not a regular file or longer than ``limit``."""
    if not (path.exists() or path.is_symlink()):
        return None
    fd = _open_regular(path, os.O_RDONLY, what)
    try:
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(limit + 1)
    except OSError as err:
        raise InputError(f"{what} {str(path.parent)!r}: cannot read {path.name} ({err.strerror})") from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise InputError(f"{what} {str(path.parent)!r}: {path.name} is larger than {limit} bytes; use another directory")
    return data


def _write_all(fd: int, data: bytes) -> None:
    """Write every byte of ``data`` (a short write is continued; an error raises OSError)."""
    view = memoryview(data)
    while view:
        n = _write(fd, view)
        if n <= 0:  # no progress and no error: treat as a full device
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        view = view[n:]


# ---------------------------------------------------------------- the store


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
        self.appended = 0
        self._lock_fd = lock_fd
        self._newline_needed = newline_needed

    @classmethod
    def open(cls, directory, sweep: dict, expected: dict, budget: int, *, wait: bool = False,
             gap: float = DEFAULT_GAP, extra: tuple = ()) -> "ResultStore":
        """Lock, create or reopen ``directory`` for ``sweep`` and read its valid lines.

        ``expected`` maps every run key ``(ix, iy, seed)`` to the fields its line must hold
        exactly (e.g. ``{"settings": {...}, "split_seed": 3}``); ``budget`` is the step budget
        and ``gap`` the phase gap G the phases were decided with. ``extra`` names further
        fields a caller's records hold (they are bounded by the parse, not checked). Raises
        :class:`InputError` if the directory is in use by another run (unless ``wait``: then it
        waits for the lock), cannot be used, or holds a different sweep.
        """
        if str(directory) == "":
            raise InputError("--out is empty; give the result directory")
        path = Path(directory)
        sweep = _normal(sweep)
        _make_directory(path)
        lock_fd = _lock(path, wait)
        try:
            dig = _check_manifest(path, sweep)
            lines, cut = _complete_lines(path / RESULTS)
            finished, dropped = _valid_lines(lines, dig, expected, budget, gap, extra)
        except BaseException:
            os.close(lock_fd)
            raise
        return cls(path, dig, finished, dropped + int(cut), lock_fd, cut)

    def append(self, record: dict) -> dict:
        """Append one run, stamped with the digest, as a JSON line; fsynced before returning.

        All of the line is written or none of it: if the write fails (a full disk), the file is
        cut back to where it ended before and :class:`StoreWriteError` is raised.
        Returns the stamped record (what reading the line back gives)."""
        record = {**record, "digest": self.digest}
        line = json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n"
        data = (("\n" if self._newline_needed else "") + line).encode()
        fd = _open_regular(self.path / RESULTS, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            end = os.fstat(fd).st_size
            try:
                _write_all(fd, data)
                os.fsync(fd)
            except OSError as err:
                self._cut_back(fd, end)
                stored = len(self.finished) + self.appended
                raise StoreWriteError(
                    f"--out {str(self.path)!r}: could not store a finished run in {RESULTS} "
                    f"({err.strerror or err}); the {stored} runs stored before it are kept: free space "
                    "and run the same command again to resume") from None
        finally:
            os.close(fd)
        self._newline_needed = False
        self.appended += 1
        return record

    def _cut_back(self, fd: int, end: int) -> None:
        """Cut the results back to ``end`` bytes after a failed append (the file ends on a
        complete line again); if even that fails, the next open ignores the cut line."""
        try:
            os.ftruncate(fd, end)
            os.fsync(fd)
        except OSError:
            self._newline_needed = True

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
    fd = _open_regular(path / LOCK, os.O_RDWR | os.O_CREAT)
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


def _read_manifest(path: Path, what: str = "--out") -> dict | None:
    """The manifest of directory ``path`` (None if there is none), parsed with bounds;
    InputError if it is not a regular file or not ``{"format": str, "sweep": dict, ...}``."""
    data = _read_regular(path / MANIFEST, MAX_MANIFEST, what)
    if data is None:
        return None
    try:
        stored = parse_json(data, MAX_MANIFEST, MAX_MANIFEST_DEPTH)
    except (ValueError, RecursionError):
        stored = None
    if not (isinstance(stored, dict) and isinstance(stored.get("format"), str) and isinstance(stored.get("sweep"), dict)):
        raise InputError(f"{what} {str(path)!r} has an unreadable {MANIFEST}; use another directory")
    return stored


def _check_manifest(path: Path, sweep: dict) -> str:
    """The digest of ``sweep`` after writing its manifest, or checking the one there matches."""
    dig = digest(sweep)
    stored = _read_manifest(path)
    if stored is not None:
        fmt, old = stored["format"], stored["sweep"]
        if fmt != FORMAT:
            raise InputError(f"--out {str(path)!r} holds a sweep of format {fmt!r}, not {FORMAT!r}; use another directory")
        diff = _first_difference(old, sweep)
        if diff:
            raise InputError(f"--out {str(path)!r} holds a different sweep ({diff}); use another directory")
        return dig
    if (path / RESULTS).exists() or (path / RESULTS).is_symlink():
        raise InputError(f"--out {str(path)!r} has {RESULTS} but no {MANIFEST}; use another directory")
    text = json.dumps({"format": FORMAT, "digest": dig, "sweep": sweep}, indent=1) + "\n"
    try:
        write_bytes(path / MANIFEST, text.encode())
    except OSError as err:
        raise StoreWriteError(f"--out {str(path)!r}: could not write {MANIFEST} ({err.strerror or err}); "
                              "nothing was stored") from None
    return dig


def _complete_lines(results: Path) -> tuple[list[bytes | None], bool]:
    """The newline-terminated lines of ``results`` (None for a line longer than
    :data:`MAX_LINE`, which is skipped unread) and whether a cut line follows them. Memory is
    bounded by :data:`MAX_LINE` per line, however long the file or its lines."""
    if not (results.exists() or results.is_symlink()):
        return [], False
    fd = _open_regular(results, os.O_RDONLY)
    lines, pending, skipping = [], b"", False
    try:
        while chunk := os.read(fd, _CHUNK):
            *complete, pending = (pending + chunk).split(b"\n")
            for line in complete:
                lines.append(None if skipping or len(line) > MAX_LINE else line)
                skipping = False
            if len(pending) > MAX_LINE:
                pending, skipping = b"", True
    except OSError as err:
        raise InputError(f"cannot read {str(results)!r} ({err.strerror})") from None
    finally:
        os.close(fd)
    return lines, pending != b"" or skipping


def _valid_lines(lines: list, dig: str, expected: dict, budget: int, gap: float, extra: tuple) -> tuple[dict, int]:
    """``({key: record}, number of lines ignored)``: the first valid line of every run."""
    finished, dropped = {}, 0
    for line in lines:
        rec = None if line is None else parse_line(line)
        if rec is None or _key(rec) in finished or _problem(rec, dig, expected, budget, gap, extra):
            dropped += int(line is None or line.strip() != b"")
            continue
        finished[_key(rec)] = rec
    return finished, dropped


def _key(rec: dict) -> tuple | None:
    """``(ix, iy, seed)`` of a line, or None unless all three are whole numbers."""
    key = tuple(rec.get(k) for k in KEY)
    return key if all(_whole(v) for v in key) else None


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _step(value, budget: int) -> bool:
    return _whole(value) and 0 <= value <= budget


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _fraction(value) -> bool:
    return _number(value) and 0 <= value <= 1


def _problem(rec: dict, dig: str, expected: dict, budget: int, gap: float, extra: tuple) -> str | None:
    """Why ``rec`` cannot be a result of this sweep, or None if it can."""
    if rec.get("digest") != dig:
        return "another manifest"
    want = expected.get(_key(rec))
    if want is None:
        return "not a run of this sweep"
    if any(field not in rec or not _same(rec[field], value) for field, value in want.items()):
        return "values of another run"
    unknown = set(rec) - set(RESULT_FIELDS) - set(OPTIONAL_FIELDS) - set(want) - set(extra)
    if unknown:
        return f"unknown field {sorted(unknown)[0]!r}"
    return value_problem(rec, budget, gap)


def _same(stored, wanted) -> bool:
    """Equal and of the same JSON type, all the way down (``true`` is not ``1``)."""
    if isinstance(wanted, dict):
        return isinstance(stored, dict) and stored.keys() == wanted.keys() and all(
            _same(stored[k], wanted[k]) for k in wanted)
    if isinstance(wanted, list):
        return isinstance(stored, list) and len(stored) == len(wanted) and all(map(_same, stored, wanted))
    if isinstance(wanted, bool) or isinstance(stored, bool):
        return type(stored) is type(wanted) and stored == wanted
    return stored == wanted


def value_problem(rec: dict, budget: int, gap: float = DEFAULT_GAP) -> str | None:
    """Which result field of ``rec`` holds an impossible value for ``budget`` and the phase gap
    ``gap`` (None: none does); see the module docstring for the rules."""
    missing = [f for f in RESULT_FIELDS if f not in rec]
    if missing:
        return f"no {missing[0]}"
    steps_run = rec["steps_run"]
    if not _step(steps_run, budget):
        return "steps_run"
    if any(rec[f] is not None and not _step(rec[f], budget) for f in STEP_FIELDS):
        return "step counts"
    if any(rec[f] is not None and rec[f] > steps_run for f in ("t_train", "t_test")):
        return "a step count beyond steps_run"
    if any(rec[f] is not None and not _fraction(rec[f]) for f in FRACTION_FIELDS):
        return "fractions"
    if not (_number(rec["seconds"]) and rec["seconds"] >= 0):
        return "seconds"
    if not all(rec.get(f) is None or (isinstance(rec[f], str) and len(rec[f]) <= 200) for f in OPTIONAL_FIELDS):
        return "arithmetic or shared_from"
    return _phase_problem(rec, budget, gap)


def _phase_problem(rec: dict, budget: int, gap: float) -> str | None:
    """The phase and gap fields against the phase rule (:func:`efftheory.phases.phase_of`)."""
    phase, t_train, t_test = rec["phase"], rec["t_train"], rec["t_test"]
    if not isinstance(phase, str) or phase not in PHASES:
        return "phase"
    if rec["gap"] != (None if t_train is None or t_test is None else t_test - t_train) or isinstance(rec["gap"], bool):
        return "gap"
    if phase == "diverged":  # the one phase the step counts do not decide
        return None
    if phase != phase_of(t_train, t_test, gap):
        return f"phase {phase!r} where the rule gives {phase_of(t_train, t_test, gap)!r}"
    if rec["steps_run"] < budget and (t_train is None or t_test is None):
        return "ended early with its phase undecided"
    return None


# ---------------------------------------------------------------- reading another sweep's store


def _sweep_problem(sweep: dict) -> str | None:
    """What a phase sweep's manifest part lacks (the fields :func:`read_sweep` relies on)."""
    fixed, grid = sweep.get("fixed"), sweep.get("grid")
    if not isinstance(sweep.get("cell"), str):
        return "no cell function"
    if not (isinstance(fixed, dict) and _whole(fixed.get("steps")) and fixed["steps"] >= 1):
        return "no step budget"
    if not (_number(fixed.get("gap")) and fixed["gap"] >= 0):
        return "no phase gap"
    seeds = fixed.get("seeds")
    if not (isinstance(seeds, list) and seeds and all(_whole(s) and s >= 0 for s in seeds)):
        return "no seeds"
    if not (isinstance(fixed.get("network"), dict) and _whole(fixed.get("seed"))):
        return "no network settings"
    axes = [grid.get(a) if isinstance(grid, dict) else None for a in ("x", "y")]
    if not all(isinstance(a, dict) and isinstance(a.get("name"), str) and _whole(a.get("n")) for a in axes):
        return "no grid"
    return None


def _sweep_record_problem(rec: dict, sweep: dict) -> str | None:
    """Why a line of another sweep's store cannot be one of its runs (None: it can)."""
    fixed, grid = sweep["fixed"], sweep["grid"]
    key = _key(rec)
    if key is None or not (0 <= key[0] < grid["x"]["n"] and 0 <= key[1] < grid["y"]["n"]) or key[2] not in fixed["seeds"]:
        return "not a run of that sweep"
    settings = rec.get("settings")
    names = {grid["x"]["name"], grid["y"]["name"]}
    if not (isinstance(settings, dict) and set(settings) == names and all(map(_number, settings.values()))):
        return "settings"
    if not (_whole(rec.get("split_seed")) and rec["split_seed"] >= 0):
        return "split_seed"
    unknown = set(rec) - set(RESULT_FIELDS) - set(OPTIONAL_FIELDS) - {"settings", "split_seed"}
    if unknown:
        return f"unknown field {sorted(unknown)[0]!r}"
    return value_problem(rec, fixed["steps"], fixed["gap"])


def read_sweep(directory, what: str = "sweep directory") -> tuple[dict, list[dict]]:
    """``(manifest["sweep"], records)`` of the result directory of a phase sweep: the first valid
    line of every run it holds, by the checks :meth:`ResultStore.open` makes, with the grid,
    seeds, budget and gap read from its manifest. InputError (one line, starting with ``what``
    and the path, e.g. "--share-from 'DIR'") if the directory holds no such manifest; damaged
    lines are left out."""
    path = Path(directory)
    manifest = _read_manifest(path, what) if path.is_dir() else None
    if manifest is None:
        raise InputError(f"{what} {str(path)!r} is not a sweep directory (no readable {MANIFEST})")
    sweep = manifest["sweep"]
    why = _sweep_problem(sweep)
    if why:
        raise InputError(f"{what} {str(path)!r}: its {MANIFEST} is damaged ({why}); it cannot be read")
    lines, _ = _complete_lines(path / RESULTS)
    dig, records, seen = digest(sweep), [], set()
    for rec in (parse_line(line) for line in lines if line is not None):
        if rec is None or rec.get("digest") != dig or _sweep_record_problem(rec, sweep) or _key(rec) in seen:
            continue
        seen.add(_key(rec))
        records.append(rec)
    return sweep, records
