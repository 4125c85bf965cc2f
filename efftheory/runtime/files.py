"""Writing files so that nothing a user asked to save is lost or half-written.

Every writer goes to a temporary file beside the target, is flushed to disk, gets the
permissions a plain ``open`` would give (mode 0666 less the umask), and is then renamed over
the target in one step: a crash leaves the previous file, never a partial one.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np

from efftheory.errors import InputError

#: the atomic rename (its own name, so that a test can make this one rename fail without
#: touching os.replace for everything else in the process)
_rename = os.replace


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_writable_file(path: str | os.PathLike, name: str = "path") -> Path:
    """Return ``path`` as a Path if :func:`atomic_write` can write it, else raise InputError.

    The parent directory must exist and accept a new file: that is tried for real (a temporary
    file is created and removed beside the target), because permission bits say nothing for
    root or on read-only and pseudo file systems (/proc, /sys). ``name`` (e.g. "--plot")
    starts the message.
    """
    path = Path(path)
    parent = path.parent
    shown = f"{name} {str(path)!r}"
    if path.is_dir():
        raise InputError(f"{shown} is a directory, not a file")
    if not parent.is_dir():
        raise InputError(f"{shown}: directory {str(parent)!r} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    except OSError as err:
        raise InputError(f"{shown}: cannot write in directory {str(parent)!r} ({err.strerror})") from None
    os.close(fd)
    os.unlink(tmp)
    return path


def atomic_write(path: str | os.PathLike, write) -> None:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then rename it into place.

    ``write`` must write to exactly the path it is given. Any exception removes the temporary
    file and leaves an existing file at ``path`` untouched.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        _rename(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Atomically replace ``path`` with ``data``."""
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


def save_npz(path: str | os.PathLike, arrays: dict, compressed: bool = False) -> None:
    """Atomically write ``arrays`` as an NPZ at exactly ``path`` (no '.npz' is appended)."""
    savez = np.savez_compressed if compressed else np.savez

    def write(tmp: str) -> None:
        with open(tmp, "wb") as fh:  # a file object: numpy appends '.npz' only to names
            savez(fh, **arrays)

    atomic_write(path, write)


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


def write_json(path, obj, indent: int | None = 1) -> None:
    """``obj`` (numpy values allowed, NaN and inf as null) as JSON at ``path``, atomically."""
    text = json.dumps(jsonable(obj), indent=indent)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text + "\n"))


def save_figure(fig, path, dpi: int = 130) -> None:
    """A matplotlib figure at ``path``, atomically, in the format of the suffix (PNG without one)."""
    fmt = Path(path).suffix.lstrip(".").lower() or "png"
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=dpi, format=fmt, bbox_inches="tight"))
