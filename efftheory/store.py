"""A resumable, append-only store for sweep results (one directory per sweep).

Layout of the directory:

- ``manifest.json``: ``{"format": ..., "sweep": {"grid": ..., "fixed": ..., "cell": ...}}``,
  the grid, every fixed setting and the cell function; written once, atomically.
- ``results.jsonl``: one JSON object per finished cell (see :func:`efftheory.sweep._record`),
  appended, flushed and fsynced as each cell finishes. A crash can only leave the last line
  half written.

Opening a directory again with the same sweep reuses every valid line; a half-written last
line, an unreadable line, a line for a cell not in the grid or a repeated cell is dropped
(the file is rewritten atomically without it) and that cell runs again. Opening it with a
different sweep raises :class:`~efftheory.errors.InputError` naming the first difference.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from efftheory.files import write_bytes
from efftheory.errors import InputError
from efftheory.phases import PHASES

FORMAT = "efftheory-phase-sweep/1"
MANIFEST = "manifest.json"
RESULTS = "results.jsonl"


def _normal(obj):
    """The object as it reads back from JSON (tuples -> lists, exact float repr)."""
    return json.loads(json.dumps(obj))


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
    """The result directory of one sweep; see the module docstring.

    Attributes:
        path: the directory.
        finished: ``{(ix, iy): record}`` of the valid lines found when opened.
        dropped: number of lines (including a half-written last one) removed when opened.
    """

    def __init__(self, path: Path, finished: dict, dropped: int):
        self.path = path
        self.finished = finished
        self.dropped = dropped

    @classmethod
    def open(cls, directory, sweep: dict, grid) -> "ResultStore":
        """Create or reopen ``directory`` for ``sweep`` (``manifest_for(...)``) over ``grid``."""
        path = Path(directory)
        sweep = _normal(sweep)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise InputError(f"--out {str(path)!r} is not a directory") from None
        except OSError as err:
            raise InputError(f"--out {str(path)!r} cannot be created: {err.strerror}") from None
        if not os.access(path, os.W_OK):
            raise InputError(f"--out {str(path)!r} is not writable")
        cls._check_manifest(path, sweep)
        finished, dropped = cls._load(path / RESULTS, grid)
        return cls(path, finished, dropped)

    @staticmethod
    def _check_manifest(path: Path, sweep: dict) -> None:
        manifest = path / MANIFEST
        if manifest.exists():
            try:
                stored = json.loads(manifest.read_text())
                old = stored["sweep"]
            except (ValueError, KeyError, TypeError):
                raise InputError(f"--out {str(path)!r} has an unreadable {MANIFEST}; use another directory") from None
            diff = _first_difference(old, sweep)
            if diff:
                raise InputError(f"--out {str(path)!r} holds a different sweep ({diff}); use another directory")
            return
        if (path / RESULTS).exists():
            raise InputError(f"--out {str(path)!r} has {RESULTS} but no {MANIFEST}; use another directory")
        text = json.dumps({"format": FORMAT, "sweep": sweep}, indent=1) + "\n"
        write_bytes(manifest, text.encode())

    @staticmethod
    def _load(results: Path, grid) -> tuple[dict, int]:
        if not results.exists():
            return {}, 0
        data = results.read_bytes()
        *lines, tail = data.split(b"\n")  # tail is b"" unless the last line was cut short
        expected = {(ix, iy): _normal(s) for ix, iy, s in grid.cells()}
        finished, kept, dropped = {}, [], int(tail.strip() != b"")
        for line in lines:
            rec = _parse(line, expected)
            if rec is None or (rec["ix"], rec["iy"]) in finished:
                dropped += int(line.strip() != b"")
                continue
            finished[(rec["ix"], rec["iy"])] = rec
            kept.append(line + b"\n")
        if dropped:
            write_bytes(results, b"".join(kept))
        return finished, dropped

    def append(self, record: dict) -> None:
        """Append one finished cell as a JSON line; flushed and fsynced before returning."""
        line = json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n"
        with open(self.path / RESULTS, "a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())


def _parse(line: bytes, expected: dict) -> dict | None:
    """A valid record for a cell of the grid, or None."""
    try:
        rec = json.loads(line)
    except ValueError:
        return None
    if not isinstance(rec, dict):
        return None
    key = (rec.get("ix"), rec.get("iy"))
    needed = ("t_train", "t_test", "t_rqi", "steps_run", "phase", "gap", "settings")
    if key not in expected or rec.get("settings") != expected[key] or any(k not in rec for k in needed):
        return None
    if rec["phase"] not in PHASES:
        return None
    return rec


def read_sweep(directory) -> tuple[dict, list[dict]]:
    """``(manifest["sweep"], records)`` of a result directory, without validating against a grid."""
    path = Path(directory)
    try:
        sweep = json.loads((path / MANIFEST).read_text())["sweep"]
    except (OSError, ValueError, KeyError, TypeError):
        raise InputError(f"{str(path)!r} is not a sweep directory (no readable {MANIFEST})") from None
    records = []
    if (path / RESULTS).exists():
        for line in (path / RESULTS).read_bytes().split(b"\n"):
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict) and "ix" in rec:
                records.append(rec)
    return sweep, records
