"""Numba's kernel cache wherever efftheory is installed: never inside the package, a per-user
directory per installed copy, else no cache and one warning line; a user's NUMBA_CACHE_DIR wins;
one line on stderr when the kernels compile into an empty cache, nothing once it is warm."""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from efftheory.runtime import numba_cache as _numba_cache
from tests.conftest import ROOT

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def _read_only_dir(path: Path) -> Path:
    """Make ``path`` (a directory tree) unwritable: chmod a-w, and, for root, whom permission bits
    do not stop, a regular file where a subdirectory would have to be created."""
    if IS_ROOT:
        (path / "__pycache__").write_text("not a directory")  # numba's in-tree cache location
    for sub in [path, *[p for p in path.rglob("*") if p.is_dir()]]:
        sub.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
    return path


def _unwritable_home(tmp_path: Path) -> Path:
    """A HOME under which ~/.cache cannot be created (a read-only directory; for root, a file)."""
    if IS_ROOT:
        home = tmp_path / "home-file"
        home.write_text("HOME is a file: nothing can be created under it")
        return home
    home = tmp_path / "home"
    home.mkdir()
    return _read_only_dir(home)


def _read_only_package(tmp_path: Path) -> Path:
    """A copy of efftheory (without caches) in a read-only directory; returns its sys.path entry."""
    site = tmp_path / "site"
    shutil.copytree(ROOT / "efftheory", site / "efftheory", ignore=shutil.ignore_patterns("__pycache__"))
    _read_only_dir(site / "efftheory")
    return site


def _restore(tmp_path: Path) -> None:
    for p in [tmp_path, *tmp_path.rglob("*")]:
        if p.is_dir() and not p.is_symlink():
            p.chmod(stat.S_IRWXU)


@pytest.mark.slow
def test_read_only_package_and_home_still_run_with_one_warning(tmp_path):
    site, home = _read_only_package(tmp_path), _unwritable_home(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "XDG_CACHE_HOME", "PYTHONPATH")}
    env.update(HOME=str(home), PYTHONPATH=str(site), PYTHONDONTWRITEBYTECODE="1")
    try:
        proc = subprocess.run([sys.executable, "-m", "efftheory", "critical", "--p", "5", "--trials", "10", "--json"],
                              capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
        written = [p for p in tmp_path.rglob("*") if p.suffix in (".nbi", ".nbc")]
    finally:
        _restore(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["p"] == 5
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "warning: numba cannot cache" in lines[0] and "NUMBA_CACHE_DIR" in lines[0], proc.stderr
    assert written == []


def test_a_user_set_cache_dir_is_respected(tmp_path):
    env = {"NUMBA_CACHE_DIR": str(tmp_path / "mine"), "HOME": str(tmp_path)}
    assert _numba_cache.choose(env, package_dir=tmp_path / "nowhere") == ("user-set", None)
    assert _numba_cache.configure(env) == "user-set" and env["NUMBA_CACHE_DIR"] == str(tmp_path / "mine")


def test_a_writable_package_still_caches_per_user(tmp_path):
    (tmp_path / "pkg").mkdir()
    choice, directory = _numba_cache.choose({"HOME": str(tmp_path / "home")}, package_dir=tmp_path / "pkg")
    assert choice == "per-user"
    assert directory == tmp_path / "home" / ".cache" / "efftheory" / "numba" / _numba_cache.copy_key(tmp_path / "pkg")
    assert not (tmp_path / "pkg" / "__pycache__").exists()


def test_read_only_package_caches_per_user(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    _read_only_dir(pkg)
    try:
        env = {"HOME": str(tmp_path / "home")}
        choice = _numba_cache.choose(env, package_dir=pkg)
        xdg = _numba_cache.choose({**env, "XDG_CACHE_HOME": str(tmp_path / "xdg")}, package_dir=pkg)
    finally:
        _restore(tmp_path)
    key = _numba_cache.copy_key(pkg)
    assert choice == ("per-user", tmp_path / "home" / ".cache" / "efftheory" / "numba" / key)
    assert xdg == ("per-user", tmp_path / "xdg" / "efftheory" / "numba" / key)


def test_each_installed_copy_has_its_own_cache(tmp_path):
    site, checkout = tmp_path / "venv" / "site-packages" / "efftheory", tmp_path / "src" / "efftheory"
    assert _numba_cache.copy_key(site) != _numba_cache.copy_key(checkout)
    assert _numba_cache.copy_key(site).startswith("site-packages-")
    assert _numba_cache.copy_key(site) == _numba_cache.copy_key(Path(str(site)))  # a pure function of the path


def test_a_cache_dir_chosen_by_a_parent_process_is_chosen_again(tmp_path):
    """A child process inherits NUMBA_CACHE_DIR from the efftheory that started it: when it imports
    another copy of the package, that copy gets its own directory; a user's own value stays."""
    home = tmp_path / "home"
    parent = _numba_cache.user_cache_dir({"HOME": str(home)}) / "other-copy"
    inherited = {"HOME": str(home), "NUMBA_CACHE_DIR": str(parent), _numba_cache._CHOSEN: str(parent)}
    choice, directory = _numba_cache.choose(inherited, package_dir=tmp_path / "pkg")
    assert choice == "per-user" and directory != parent
    users = {"HOME": str(home), "NUMBA_CACHE_DIR": str(tmp_path / "mine"), _numba_cache._CHOSEN: str(parent)}
    assert _numba_cache.choose(users, package_dir=tmp_path / "pkg") == ("user-set", None)


def test_no_writable_place_warns_once(tmp_path, monkeypatch):
    monkeypatch.setattr(_numba_cache, "choose", lambda environ: ("none", None))
    monkeypatch.setattr(_numba_cache, "_compile_without_cache", lambda: None)  # exercised in a subprocess above
    env, err = {"HOME": str(tmp_path)}, io.StringIO()
    assert _numba_cache.configure(env, stderr=err) == "none"
    assert _numba_cache.configure(env, stderr=err) == "none"  # e.g. a worker process
    assert len(err.getvalue().splitlines()) == 1 and "NUMBA_CACHE_DIR" in err.getvalue()


def _fake_package(root: Path) -> Path:
    pkg = root / "pkg"
    (pkg / "sub" / "__pycache__").mkdir(parents=True)
    (pkg / "__pycache__").mkdir()
    (pkg / "a.py").write_text("from numba import njit\nx = 1\n")
    (pkg / "sub" / "b.py").write_text("import numba\ny = 2\n")
    (pkg / "plain.py").write_text("z = 0\n")  # no numba: cannot change a kernel
    return pkg


def _kernels(pkg: Path) -> list[Path]:
    for name in ("__pycache__/a.f-3.py311.nbi", "__pycache__/a.f-3.py311.1.nbc", "sub/__pycache__/b.g-1.py311.nbi"):
        (pkg / name).write_bytes(b"compiled")
    return sorted(pkg.rglob("*.nb[ic]"))


def test_kernels_compiled_from_other_sources_are_dropped(tmp_path):
    pkg = _fake_package(tmp_path)
    stamp_dir = pkg / "__pycache__"
    assert len(_kernels(pkg)) == 3
    # no stamp yet: the cache's sources are unknown, so it is cleared and stamped
    assert _numba_cache.drop_stale_kernels(pkg, stamp_dir, pkg) == 3
    assert not list(pkg.rglob("*.nb[ic]"))
    assert (stamp_dir / _numba_cache.FINGERPRINT).read_text().strip() == _numba_cache.sources_fingerprint(pkg)
    # same sources: the kernels stay
    _kernels(pkg)
    assert _numba_cache.drop_stale_kernels(pkg, stamp_dir, pkg) == 0 and len(list(pkg.rglob("*.nb[ic]"))) == 3
    # another module changed (not the one a kernel lives in): every kernel goes, .pyc and sources stay
    (pkg / "plain.py").write_text("z = 1\n")
    assert _numba_cache.drop_stale_kernels(pkg, stamp_dir, pkg) == 0  # a module without kernels
    (pkg / "sub" / "b.py").write_text("import numba\ny = 3\n")
    (pkg / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"bytecode")
    assert _numba_cache.drop_stale_kernels(pkg, stamp_dir, pkg) == 3
    assert not list(pkg.rglob("*.nb[ic]")) and (pkg / "__pycache__" / "a.cpython-311.pyc").exists()
    assert (pkg / "a.py").read_text() == "from numba import njit\nx = 1\n"


def test_the_fingerprint_sees_content_and_names_not_timestamps(tmp_path):
    pkg = _fake_package(tmp_path)
    first = _numba_cache.sources_fingerprint(pkg)
    os.utime(pkg / "a.py", (0, 0))
    assert _numba_cache.sources_fingerprint(pkg) == first
    (pkg / "a.py").rename(pkg / "c.py")
    assert _numba_cache.sources_fingerprint(pkg) != first


def test_importing_efftheory_stamps_the_cache_with_its_sources():

    if os.environ.get(_numba_cache.ENV) != os.environ.get(_numba_cache._CHOSEN):
        pytest.skip("NUMBA_CACHE_DIR is set by the user here")
    # the package was imported by this test session, so its per-user cache carries the stamp
    stamp = Path(os.environ[_numba_cache.ENV]) / _numba_cache.FINGERPRINT
    assert stamp.read_text().strip() == _numba_cache.sources_fingerprint()
    assert Path(os.environ[_numba_cache.ENV]).name == _numba_cache.copy_key()
    assert not (_numba_cache.PACKAGE_DIR / "__pycache__" / _numba_cache.FINGERPRINT).exists()


def test_the_first_compilation_of_an_efftheory_kernel_says_so_once(monkeypatch, capsys):
    """numba's compile event fires on a cache miss only; the line names the time and appears once."""
    from numba import njit

    monkeypatch.delenv(_numba_cache._ANNOUNCED, raising=False)

    def _kernel(x):
        return x + 1

    def _other(x):
        return x * 2

    def _foreign(x):
        return x - 1

    _kernel.__module__ = _other.__module__ = "efftheory.some_module"
    _foreign.__module__ = "somebody_else"
    assert njit(_foreign)(3) == 2
    assert capsys.readouterr().err == ""  # not a kernel of efftheory
    assert njit(_kernel)(1) == 2 and njit(_other)(2) == 4
    err = capsys.readouterr().err
    assert err == _numba_cache.compiling_line() and err.count("\n") == 1
    assert f"about {_numba_cache.COMPILE_SECONDS} s" in err and "once" in err
    assert os.environ[_numba_cache._ANNOUNCED] == "1"  # inherited by worker processes


@pytest.mark.slow
def test_a_package_compiles_once_into_the_user_cache_and_never_into_itself(tmp_path):
    """The install-order bug: a cache inside an installed package outlives pip uninstall and shadows
    the next install. A writable copy of efftheory run twice: the first run says it compiles, the
    second is silent (warm cache), and not one file appears inside the package."""
    site = tmp_path / "site"
    shutil.copytree(ROOT / "efftheory", site / "efftheory", ignore=shutil.ignore_patterns("__pycache__"))
    env = {k: v for k, v in os.environ.items()
           if k not in ("NUMBA_CACHE_DIR", "PYTHONPATH") and not k.startswith("_EFFTHEORY_")}
    env.update(HOME=str(tmp_path / "home"), XDG_CACHE_HOME=str(tmp_path / "xdg"), PYTHONPATH=str(site),
               PYTHONDONTWRITEBYTECODE="1")
    command = [sys.executable, "-m", "efftheory", "critical", "--p", "5", "--trials", "10", "--json"]
    first, second = (subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
                     for _ in range(2))
    assert first.returncode == 0 and second.returncode == 0, (first.stderr, second.stderr)
    assert first.stderr == _numba_cache.compiling_line(), first.stderr
    assert second.stderr == "", second.stderr
    same = [{k: v for k, v in json.loads(run.stdout).items() if k != "seconds"} for run in (first, second)]
    assert same[0] == same[1]
    cache = tmp_path / "xdg" / "efftheory" / "numba" / _numba_cache.copy_key((site / "efftheory").resolve())
    assert list(cache.rglob("*.nbi")) and (cache / _numba_cache.FINGERPRINT).is_file()
    # (no bytecode either: PYTHONDONTWRITEBYTECODE, so any __pycache__ would be numba's)
    assert [p for p in (site / "efftheory").rglob("*") if p.name == "__pycache__" or p.suffix in (".nbi", ".nbc")] == []
