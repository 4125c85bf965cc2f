"""Numba's kernel cache wherever efftheory is installed: beside the source when that is writable,
else a per-user directory, else no cache and one warning line; a user's NUMBA_CACHE_DIR wins."""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

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


def test_writable_package_caches_in_tree(tmp_path):
    (tmp_path / "pkg").mkdir()
    assert _numba_cache.choose({"HOME": str(tmp_path)}, package_dir=tmp_path / "pkg") == ("in-tree", None)


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
    assert choice == ("per-user", tmp_path / "home" / ".cache" / "efftheory" / "numba")
    assert xdg == ("per-user", tmp_path / "xdg" / "efftheory" / "numba")


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
    import pytest

    if _numba_cache.choose()[0] != "in-tree":
        pytest.skip("numba does not cache beside the sources here")
    # the package was imported by this test session, so the in-tree cache carries the stamp
    stamp = _numba_cache.PACKAGE_DIR / "__pycache__" / _numba_cache.FINGERPRINT
    assert stamp.read_text().strip() == _numba_cache.sources_fingerprint()
