"""Where numba keeps the kernels it compiles (``@njit(cache=True)``), wherever efftheory lives.

Never inside the package: a cache written into an installed package directory outlives
``pip uninstall`` (pip removes only the files it installed) and the folder it leaves behind,
``site-packages/efftheory/__pycache__``, then shadows any later install of efftheory (Python takes
it for a namespace package and ``import efftheory`` finds nothing in it). So :func:`configure`
points ``NUMBA_CACHE_DIR`` to a per-user directory, one sub-directory per installed copy of the
package: ``$XDG_CACHE_HOME/efftheory/numba/<copy>`` or ``~/.cache/efftheory/numba/<copy>``, where
``<copy>`` names the package directory (:func:`copy_key`), so that two installs, or two checkouts,
never share or clean each other's kernels. When no such directory is writable, numba compiles
without caching (every process compiles again) and one warning line says so on stderr. A
``NUMBA_CACHE_DIR`` set by the user is always respected.

:func:`configure` must run before numba first reads its configuration, i.e. before
``import numba``: the package calls it first thing in ``efftheory/__init__.py``.

Numba decides whether a cached kernel is still valid from the timestamp of the one file that
defines it. A kernel that calls njit functions of another module (the network's training loop
calls the metric kernels of ``efftheory.theories.linear.metrics``) compiles their code into itself, and would keep
running the old code after only that other module changed. So the cache is tied to a
fingerprint of every source file of the package that uses numba (:func:`sources_fingerprint`): when it differs
from the one stored beside the cache, every cached kernel of this copy is removed and compiled
again on first use (:func:`drop_stale_kernels`).

Compiling every kernel takes the better part of a minute, which a user would otherwise sit through
in silence: the first compilation of an efftheory kernel in a process writes one line on stderr
(:func:`announce_compilation`). With a warm cache numba loads every kernel from disk, nothing
compiles and nothing is written. Without a cache the warning above says it instead, once.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from pathlib import Path

ENV = "NUMBA_CACHE_DIR"
# The NUMBA_CACHE_DIR this module chose, passed on to child processes beside it: a value equal to
# it was not set by the user, so a child that imports another copy of efftheory chooses again.
_CHOSEN = "_EFFTHEORY_NUMBA_CACHE_DIR"
# Set once the no-cache warning / the compiling line was given, so that worker processes (which
# inherit the environment) do not repeat it.
_WARNED = "_EFFTHEORY_NUMBA_NO_CACHE_WARNED"
_ANNOUNCED = "_EFFTHEORY_NUMBA_COMPILING_ANNOUNCED"

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # the efftheory package (this module is in runtime/)
#: the file beside the cache that holds the fingerprint of the sources it was compiled from
FINGERPRINT = "efftheory-sources.sha256"
#: seconds to compile the kernels one command uses (``efftheory simulate`` or ``efftheory train``) on
#: an idle machine: benchmarks/bench_compile.py measured 17 s of CPU time for each (numba compiles on
#: one thread, so CPU time is the idle wall time; a loaded machine takes longer: 172-182 s at load 15)
COMPILE_SECONDS = 20
_LISTENING = False  # whether announce_compilation's listener is installed in this process


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


def copy_key(package_dir: Path = PACKAGE_DIR) -> str:
    """The name of one installed copy's cache: its parent folder's name and a hash of its path
    (e.g. ``site-packages-3f2a9c1d0b7e``), readable and unique per copy."""
    digest = hashlib.sha256(str(package_dir).encode()).hexdigest()[:12]
    return f"{package_dir.parent.name or 'root'}-{digest}"


def choose(environ=os.environ, package_dir: Path = PACKAGE_DIR) -> tuple[str, Path | None]:
    """Where numba should cache: ("user-set", None), ("per-user", dir) or ("none", None).
    Never inside ``package_dir``."""
    if environ.get(ENV) and environ.get(ENV) != environ.get(_CHOSEN):
        return "user-set", None
    per_user = user_cache_dir(environ) / copy_key(package_dir)
    if writable_dir(per_user):
        return "per-user", per_user
    return "none", None


def sources_fingerprint(package_dir: Path = PACKAGE_DIR) -> str:
    """SHA-256 over the relative path and bytes of every ``*.py`` file of the package that uses
    numba, in order (only those can hold code a kernel compiles in; editing the others, the
    command line or the plots, keeps the compiled kernels). This module uses numba but holds no
    kernel: it is left out too."""
    digest = hashlib.sha256()
    for path in sorted(package_dir.rglob("*.py")):
        source = path.read_bytes()
        if b"numba" not in source or path.resolve() == Path(__file__).resolve():
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
    if choice == "per-user":
        environ[ENV] = environ[_CHOSEN] = str(directory)
        drop_stale_kernels(directory, directory)
        _reload_numba_config()
    elif choice == "none":
        _compile_without_cache()
        if not environ.get(_WARNED):
            environ[_WARNED] = "1"
            (stderr or sys.stderr).write(
                f"efftheory: warning: numba cannot cache compiled kernels ({user_cache_dir(environ)} is not "
                f"writable; set {ENV} to a writable directory), so they are compiled again in every process "
                f"(about {COMPILE_SECONDS} s)\n"
            )
    return choice


def compiling_line() -> str:
    """The one line written when efftheory's kernels start to compile."""
    return (f"efftheory: compiling efftheory's kernels once (cached for later runs), about {COMPILE_SECONDS} s "
            "on an idle machine\n")


def announce_compilation(environ=os.environ, stderr=None) -> None:
    """Write :func:`compiling_line` on stderr when numba first compiles a kernel of efftheory in
    this process (numba's "numba:compile" event fires only on a cache miss, so a warm cache
    stays silent); at most once per process tree (child processes inherit the mark). Installs
    its listener once per process; later calls do nothing."""
    global _LISTENING
    if _LISTENING:
        return
    _LISTENING = True
    from numba.core import event

    class _Announcer(event.Listener):
        def on_start(self, ev):
            dispatcher = ev.data.get("dispatcher")
            module = getattr(getattr(dispatcher, "py_func", None), "__module__", "") or ""
            if not module.startswith("efftheory") or environ.get(_ANNOUNCED):
                return
            environ[_ANNOUNCED] = "1"
            out = stderr or sys.stderr
            out.write(compiling_line())
            out.flush()

        def on_end(self, ev):
            pass

    event.register("numba:compile", _Announcer())


def _reload_numba_config() -> None:
    """Numba reads NUMBA_CACHE_DIR when imported; tell it again if that already happened."""
    if "numba" in sys.modules:
        from numba.core import config

        config.reload_config()


def _compile_without_cache() -> None:
    """Make ``cache=True`` compile without a cache: numba would otherwise fall back to caching
    beside the source, inside the package (see the module's docstring), or raise RuntimeError
    when the module defining the kernel is imported and no location is writable."""
    from numba.core.caching import NullCache
    from numba.core.dispatcher import Dispatcher

    if getattr(Dispatcher.enable_caching, "_efftheory_no_cache", False):
        return

    def enable_caching(self):
        self._cache = NullCache()

    enable_caching._efftheory_no_cache = True
    Dispatcher.enable_caching = enable_caching
