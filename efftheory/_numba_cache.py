"""Where numba keeps the kernels it compiles (``@njit(cache=True)``), wherever efftheory lives.

Numba caches beside the source (``efftheory/__pycache__``) when it can write there. When it
cannot (a system-wide or read-only install), :func:`configure` points ``NUMBA_CACHE_DIR`` to a
per-user directory, ``$XDG_CACHE_HOME/efftheory/numba`` or ``~/.cache/efftheory/numba``; when
that is not writable either, numba compiles without caching (every process compiles again) and
one warning line says so on stderr. A ``NUMBA_CACHE_DIR`` set by the user is always respected.

:func:`configure` must run before numba first reads its configuration, i.e. before
``import numba``: the package calls it first thing in ``efftheory/__init__.py``.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ENV = "NUMBA_CACHE_DIR"
# Set once the no-cache warning was given, so that worker processes (which inherit the
# environment) do not repeat it.
_WARNED = "_EFFTHEORY_NUMBA_NO_CACHE_WARNED"

PACKAGE_DIR = Path(__file__).resolve().parent


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
    if writable_dir(package_dir / "__pycache__"):
        return "in-tree", None
    per_user = user_cache_dir(environ)
    if writable_dir(per_user):
        return "per-user", per_user
    return "none", None


def configure(environ=os.environ, stderr=None) -> str:
    """Apply :func:`choose` to ``environ`` (and to numba, if it is already imported); return the choice."""
    choice, directory = choose(environ)
    if choice == "per-user":
        environ[ENV] = str(directory)
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
    """Make ``cache=True`` fall back to no cache where numba finds no writable cache location
    (it would otherwise raise RuntimeError when the module defining the kernel is imported)."""
    from numba.core.caching import NullCache
    from numba.core.dispatcher import Dispatcher

    if getattr(Dispatcher.enable_caching, "_efftheory_fallback", False):
        return
    original = Dispatcher.enable_caching

    def enable_caching(self):
        try:
            original(self)
        except RuntimeError:  # "cannot cache function ...: no locator available"
            self._cache = NullCache()

    enable_caching._efftheory_fallback = True
    Dispatcher.enable_caching = enable_caching
