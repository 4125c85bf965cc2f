"""Writing files so that nothing a user asked to save is lost or half-written.

Every writer goes to a temporary file beside the target, is flushed to disk, gets the
permissions a plain ``open`` would give (mode 0666 less the umask), and is then renamed over
the target in one step: a crash leaves the previous file, never a partial one.

Only regular files are ever created or replaced. A target that exists and is anything else (a
directory, a device such as /dev/null, a FIFO, a socket) is refused with an
:class:`~efftheory.errors.InputError`: a rename would put a file where the device was. A
symlink is written through: the regular file it leads to is replaced and the link stays.
Temporary names are short (``.efftheory-XXXXXXXX.tmp``), so any legal target name works.
"""

from __future__ import annotations

import json
import math
import os
import stat
import tempfile
from pathlib import Path

import numpy as np

from efftheory.errors import InputError

#: the atomic rename (its own name, so that a test can make this one rename fail without
#: touching os.replace for everything else in the process)
_rename = os.replace

#: temporary files are named TMP_PREFIX + 8 random characters + ".tmp": 27 bytes, far below any
#: file system's name limit (255 on Linux), whatever the length of the target's own name
TMP_PREFIX = ".efftheory-"

# what a non-regular file is called in a refusal
_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def file_kind(mode: int) -> str:
    """What a non-regular ``st_mode`` is, in words ("a FIFO (named pipe)", "a directory", ...)."""
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def write_target(path: str | os.PathLike, name: str = "path") -> Path:
    """The regular file a write to ``path`` creates or replaces: ``path`` itself, or where its
    symlinks lead. InputError (starting with ``name`` and the path) if ``path`` exists and is
    not a regular file (after following links): a device, FIFO, socket or directory."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode  # follows links, /dev/stdout's included
    except FileNotFoundError:
        mode = None
    except OSError as err:
        raise InputError(f"{name} {str(path)!r}: cannot be examined ({err.strerror})") from None
    if mode is not None and not stat.S_ISREG(mode):
        if stat.S_ISDIR(mode):
            raise InputError(f"{name} {str(path)!r} is a directory, not a file")
        raise InputError(f"{name} {str(path)!r} is {file_kind(mode)}, not a regular file; "
                         "give the path of a file to create or replace")
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def _temporary(directory: Path) -> str:
    fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=".tmp", dir=directory)
    os.close(fd)
    return tmp


def check_writable_file(path: str | os.PathLike, name: str = "path") -> Path:
    """Return ``path`` as a Path if :func:`atomic_write` can write it, else raise InputError.

    ``path`` must be a regular file or not exist (:func:`write_target`), and the directory of
    the file it names must exist and accept a new file: that is tried for real (a temporary
    file is created and removed there), because permission bits say nothing for root or on
    read-only and pseudo file systems (/proc, /sys). ``name`` (e.g. "--plot") starts the message.
    """
    path = Path(path)
    shown = f"{name} {str(path)!r}"
    if str(path) in ("", "."):
        raise InputError(f"{name} is empty; give a file name")
    parent = write_target(path, name).parent
    if not parent.is_dir():
        raise InputError(f"{shown}: directory {str(parent)!r} does not exist")
    try:
        tmp = _temporary(parent)
    except OSError as err:
        raise InputError(f"{shown}: cannot write in directory {str(parent)!r} ({err.strerror})") from None
    os.unlink(tmp)
    return path


def atomic_write(path: str | os.PathLike, write) -> None:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then rename it into place.

    ``write`` must write to exactly the path it is given. Any exception removes the temporary
    file and leaves an existing file at ``path`` untouched. ``path`` must be a regular file or
    not exist; a symlink is followed and the file it leads to replaced (:func:`write_target`).
    """
    target = write_target(path)
    tmp = _temporary(target.parent)
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        write_target(target)  # again, just before the rename: nothing may have appeared in between
        _rename(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name one file: equal after resolving links, or hard links of one inode."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist yet
        return False


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
