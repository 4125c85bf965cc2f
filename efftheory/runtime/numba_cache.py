"""Where numba keeps the kernels it compiles (``@njit(cache=True)``), wherever efftheory lives.

Numba caches beside the source (the ``__pycache__`` of each kernel's sub-package, with the
sources' fingerprint in ``efftheory/__pycache__``) when it can write to all of them. When it
cannot (a system-wide or read-only install), :func:`configure` points ``NUMBA_CACHE_DIR`` to a
per-user directory, ``$XDG_CACHE_HOME/efftheory/numba`` or ``~/.cache/efftheory/numba``; when
that is not writable either, numba compiles without caching (every process compiles again) and
one warning line says so on stderr. A ``NUMBA_CACHE_DIR`` set by the user is always respected.

:func:`configure` must run before numba first reads its configuration, i.e. before
``import numba``: the package calls it first thing in ``efftheory/__init__.py``.

Numba decides whether a cached kernel is still valid from the timestamp of the one file that
defines it. A kernel that calls njit functions of another module (the network's training loop
calls the metric kernels of ``efftheory.theories.linear.metrics``) compiles their code into itself, and would keep
running the old code after only that other module changed. So the cache is tied to a
fingerprint of every source file of the package that uses numba (:func:`sources_fingerprint`): when it differs
from the one stored beside the cache, every cached kernel of efftheory is removed and compiled
again on first use (:func:`drop_stale_kernels`).
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from pathlib import Path

ENV = "NUMBA_CACHE_DIR"
# Set once the no-cache warning was given, so that worker processes (which inherit the
# environment) do not repeat it.
_WARNED = "_EFFTHEORY_NUMBA_NO_CACHE_WARNED"

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # the efftheory package (this module is in runtime/)
#: the file beside the cache that holds the fingerprint of the sources it was compiled from
FINGERPRINT = "efftheory-sources.sha256"


def writable_dir(directory: Path) -> bool:
    """True if ``directory`` exists or can be created and takes a new file: numba's own test,
    tried for real (permission bits say nothing for root or on read-only mounts)."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=directory).close()
    except OSError:
        return False
    return True


def user_cache_dir(environ=os.environ) -> Path:
    """The per-user cache: ``$XDG_CACHE_HOME/efftheory/numba``, else ``$HOME/.cache/efftheory/numba``."""
    xdg = environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path(environ.get("HOME") or Path.home()) / ".cache"
    return base / "efftheory" / "numba"


def choose(environ=os.environ, package_dir: Path = PACKAGE_DIR) -> tuple[str, Path | None]:
    """Where numba should cache: ("user-set", None), ("in-tree", None), ("per-user", dir) or ("none", None)."""
    if environ.get(ENV):
        return "user-set", None
    if all(writable_dir(d / "__pycache__") for d in (package_dir, *kernel_dirs(package_dir))):
        return "in-tree", None
    per_user = user_cache_dir(environ)
    if writable_dir(per_user):
        return "per-user", per_user
    return "none", None


def kernel_dirs(package_dir: Path = PACKAGE_DIR) -> list[Path]:
    """The directories of the package that hold a module using numba: numba caches a kernel in
    the ``__pycache__`` beside its module, so an in-tree cache needs every one of them writable
    (and the package's own, which holds the sources' fingerprint)."""
    return sorted({path.parent for path in package_dir.rglob("*.py") if b"numba" in path.read_bytes()})


def sources_fingerprint(package_dir: Path = PACKAGE_DIR) -> str:
    """SHA-256 over the relative path and bytes of every ``*.py`` file of the package that uses
    numba, in order (only those can hold code a kernel compiles in; editing the others, the
    command line or the plots, keeps the compiled kernels)."""
    digest = hashlib.sha256()
    for path in sorted(package_dir.rglob("*.py")):
        source = path.read_bytes()
        if b"numba" not in source:
            continue
        digest.update(path.relative_to(package_dir).as_posix().encode() + b"\0")
        digest.update(source)
    return digest.hexdigest()


def drop_stale_kernels(cache_root: Path, stamp_dir: Path, package_dir: Path = PACKAGE_DIR) -> int:
    """Remove every numba cache file (``*.nbi``, ``*.nbc``) under ``cache_root`` when the sources'
    fingerprint differs from the one stored in ``stamp_dir``; then store the current one.
    Returns the number of files removed. Never raises: a cache that cannot be cleaned is left
    as it is (numba then behaves as it always did)."""
    try:
        current = sources_fingerprint(package_dir)
        stamp = stamp_dir / FINGERPRINT
        if stamp.is_file() and stamp.read_text().strip() == current:
            return 0
        removed = 0
        for pattern in ("*.nbi", "*.nbc"):
            for path in cache_root.rglob(pattern):
                path.unlink(missing_ok=True)
                removed += 1
        stamp_dir.mkdir(parents=True, exist_ok=True)
        temporary = stamp.with_name(f"{FINGERPRINT}.{os.getpid()}.tmp")
        temporary.write_text(current + "\n")
        os.replace(temporary, stamp)  # atomic: parallel imports see the old or the new stamp
        return removed
    except OSError:
        return 0


def configure(environ=os.environ, stderr=None) -> str:
    """Apply :func:`choose` to ``environ`` (and to numba, if it is already imported), drop
    kernels compiled from other sources (:func:`drop_stale_kernels`); return the choice."""
    choice, directory = choose(environ)
    if choice == "in-tree":
        drop_stale_kernels(PACKAGE_DIR, PACKAGE_DIR / "__pycache__")
    elif choice == "per-user":
        environ[ENV] = str(directory)
        drop_stale_kernels(directory, directory)
        _reload_numba_config()
    elif choice == "none":
        _compile_without_cache()
        if not environ.get(_WARNED):
            environ[_WARNED] = "1"
            (stderr or sys.stderr).write(
                f"efftheory: warning: numba cannot cache compiled kernels (neither {PACKAGE_DIR} nor "
                f"{user_cache_dir(environ)} is writable; set {ENV} to a writable directory), so they are "
                "compiled again in every process\n"
            )
    return choice


def _reload_numba_config() -> None:
    """Numba reads NUMBA_CACHE_DIR when imported; tell it again if that already happened."""
    if "numba" in sys.modules:
        from numba.core import config

        config.reload_config()


def _compile_without_cache() -> None:
    """Make ``cache=True`` compile without a cache: where no cache location is writable as a
    whole (:func:`choose`), no kernel is cached, not even one whose own ``__pycache__`` happens to
    take files (numba would otherwise raise RuntimeError for the others when their module is
    imported, and write a partial cache for the rest)."""
    from numba.core.caching import NullCache
    from numba.core.dispatcher import Dispatcher

    if getattr(Dispatcher.enable_caching, "_efftheory_fallback", False):
        return

    def enable_caching(self):
        self._cache = NullCache()

    enable_caching._efftheory_fallback = True
    Dispatcher.enable_caching = enable_caching
