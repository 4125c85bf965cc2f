"""The sweep store cannot lose or glue a record: appends are whole or absent (a full disk on a
real small file system, and a write that returns short), every line is validated as a whole,
files that are not regular are refused without blocking, and a property test drives random
appends, crashes, truncations, junk and forged lines and checks that a resume recomputes exactly
the runs without a valid line and ends with the records of an uninterrupted sweep."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import tempfile
import threading
from functools import lru_cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from efftheory.runtime import store as store_module
from efftheory.errors import InputError
from efftheory.runtime.store import LOCK, MANIFEST, RESULTS, StoreWriteError
from efftheory.experiments.sweep.grid import Axis, Grid
from efftheory.experiments.sweep.settings import SweepSettings
from efftheory.experiments.sweep.engine import run_sweep
from efftheory.experiments.sweep.cells import synthetic_cell
from tests.conftest import assert_one_line_error, run_cli

GRID = Grid(Axis.parse("decoder_lr", "1e-5:1e-2:4:log"), Axis.parse("decoder_wd", "0:10:3"))
FIXED = SweepSettings(steps=10_000, seed=3)
CLI_FIXED = SweepSettings(steps=10_000, seed=3, network={"loss": "mse"})  # what CLI_SWEEP runs
CLI_SWEEP = ("phase", "--cell", "synthetic", "--x", "decoder_lr", "--x-range", "1e-5:1e-2:4:log", "--y", "decoder_wd",
             "--y-range", "0:10:3", "--seed", "3", "--jobs", "1")


def _strip(records):
    """Records without the fields that differ between two runs of one sweep (the time it took)."""
    return [None if r is None else {k: v for k, v in r.items() if k != "seconds"} for r in records]


def _sweep(out, settings=FIXED, grid=GRID, **kwargs):
    return run_sweep(grid, settings, out, cell_fn=synthetic_cell, **kwargs)


def _complete_lines(out) -> list[bytes]:
    return (Path(out) / RESULTS).read_bytes().split(b"\n")[:-1]


# ---------------------------------------------------------------- whole lines only


def _record_with(rec: dict, **changes) -> bytes:
    return json.dumps({**rec, **changes}, separators=(",", ":")).encode()


def _forgeries(rec: dict) -> dict:
    """Lines that must never be taken as the run of ``rec`` (a valid record of GRID/FIXED)."""
    text = json.dumps(rec, separators=(",", ":"))
    return {
        "1000 [": b"[" * 1000,
        "deeply nested objects": b'{"a":' * 1000 + b"1" + b"}" * 1000,
        "nested in a field": _record_with(rec, arithmetic=json.loads("[" * 20 + "]" * 20)),
        "arithmetic an object": _record_with(rec, arithmetic={"x": 1}),
        "arithmetic a list": _record_with(rec, arithmetic=[1]),
        "arithmetic a number": _record_with(rec, arithmetic=5),
        "grokking with t_test before t_train": _record_with(rec, t_train=9674, t_test=1025, gap=1025 - 9674,
                                                            steps_run=10_000, phase="grokking"),
        "memorization with t_test set": _record_with(rec, t_train=10, t_test=20, gap=10, steps_run=10_000,
                                                     phase="memorization"),
        "comprehension that never trained": _record_with(rec, t_train=None, t_test=None, gap=None, steps_run=10_000,
                                                         phase="comprehension"),
        "duplicate phase key": text[:-1].encode() + b',"phase":"grokking"}',
        "steps_run below t_train": _record_with(rec, t_train=9674, t_test=9700, gap=26, steps_run=5,
                                                phase="comprehension"),
        "stopped early undecided": _record_with(rec, t_train=100, t_test=None, gap=None, steps_run=500,
                                                phase="memorization"),
        "an unknown field": _record_with(rec, note="hello"),
        "a field missing": json.dumps({k: v for k, v in rec.items() if k != "t_rqi"}).encode(),
        "NaN": text.replace('"final_rqi":', '"final_rqi":NaN,"x":', 1).encode(),
        "seconds negative": _record_with(rec, seconds=-1.0),
        "split_seed true": _record_with(rec, split_seed=True),
        "over 64 KiB": _record_with(rec, arithmetic="x" * 70_000),
    }


def test_every_forged_line_is_ignored_and_its_run_recomputed(tmp_path):
    clean = _sweep(tmp_path / "clean")
    rec = clean.records[5]
    for why, line in _forgeries(rec).items():
        out = tmp_path / why.replace(" ", "_")
        out.mkdir()
        (out / MANIFEST).write_bytes((tmp_path / "clean" / MANIFEST).read_bytes())
        lines = _complete_lines(tmp_path / "clean")
        lines[5] = line
        (out / RESULTS).write_bytes(b"".join(x + b"\n" for x in lines))
        again = _sweep(out)
        assert (again.computed, again.reused, again.dropped) == (1, 11, 1), why
        assert _strip(again.records) == _strip(clean.records), why
        assert again.arithmetics and all(isinstance(n, str) for n in again.arithmetics), why
    assert len(_forgeries(rec)) == N_FORGERIES  # the property test draws from all of them


def test_a_manifest_nested_too_deep_or_too_large_is_one_line(tmp_path):
    for name, data in [("deep", b'{"a":' * 5000 + b"1" + b"}" * 5000), ("list", b"[" * 5000 + b"]" * 5000),
                       ("repeated", b'{"format":"efftheory-phase-sweep/2","sweep":{},"sweep":{}}')]:
        (tmp_path / name).mkdir()
        (tmp_path / name / MANIFEST).write_bytes(data)
        with pytest.raises(InputError, match=f"unreadable {MANIFEST}") as err:
            _sweep(tmp_path / name)
        assert "\n" not in str(err.value)


# ---------------------------------------------------------------- nothing that is not a regular file


@pytest.mark.parametrize("name", [MANIFEST, RESULTS, LOCK])
def test_a_fifo_in_the_store_is_refused_without_blocking(tmp_path, name, cli_error):
    out = tmp_path / "out"
    if name != MANIFEST:
        _sweep(out, CLI_FIXED)  # the store of the CLI's sweep, then a FIFO in it
        (out / name).unlink()
    else:
        out.mkdir()
    os.mkfifo(out / name)
    said = []
    worker = threading.Thread(target=lambda: said.append(cli_error(*CLI_SWEEP, "--out", out,
                                                                    needles=(name, "FIFO", repr(str(out))))),
                              daemon=True)
    worker.start()
    worker.join(60)
    if worker.is_alive():  # blocked on the FIFO: unblock it so the thread can end, then fail
        os.close(os.open(out / name, os.O_RDWR | os.O_NONBLOCK))
        pytest.fail(f"the sweep blocked on a FIFO in place of {name}")
    assert said, "cli_error raised in the thread"


def test_a_device_in_the_store_is_refused(tmp_path):
    import stat

    out = tmp_path / "out"
    _sweep(out)
    (out / RESULTS).unlink()
    try:
        os.mknod(out / RESULTS, stat.S_IFCHR | 0o666, os.makedev(1, 5))  # a zero device: endless reads
    except PermissionError:
        pytest.skip("mknod needs root")
    with pytest.raises(InputError, match="character device"):
        _sweep(out)


def test_empty_out_is_refused(tmp_path, cli_error, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cli_error(*CLI_SWEEP, "--out", "", needles=("--out is empty",))
    assert list(tmp_path.iterdir()) == []  # nothing written into the current directory
    with pytest.raises(InputError, match="--out is empty"):
        _sweep("")


# ---------------------------------------------------------------- appends: all bytes or none


def test_a_short_write_is_continued(tmp_path, monkeypatch):
    real = os.write
    monkeypatch.setattr(store_module, "_write", lambda fd, data: real(fd, bytes(data[:7])))  # 7 bytes a call
    short = _sweep(tmp_path / "short")
    monkeypatch.undo()
    whole = _sweep(tmp_path / "whole")
    assert _strip(short.records) == _strip(whole.records)
    assert [json.loads(x)["ix"] for x in _complete_lines(tmp_path / "short")] == [r["ix"] for r in whole.records]


def test_a_failed_append_is_cut_back_and_the_resume_is_exact(tmp_path, monkeypatch):
    """A write that puts part of a line down and then fails (what a full disk does)."""
    real, calls = os.write, []

    def failing(fd, data):
        calls.append(len(data))
        if len(calls) == 6:  # the sixth append: 30 bytes land, then the disk is full
            real(fd, bytes(data[:30]))
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd, data)

    monkeypatch.setattr(store_module, "_write", failing)
    with pytest.raises(StoreWriteError, match="No space left on device") as err:
        _sweep(tmp_path)
    assert "the 5 runs stored before it are kept" in str(err.value) and "\n" not in str(err.value)
    data = (tmp_path / RESULTS).read_bytes()
    assert data.endswith(b"\n") and data.count(b"\n") == 5  # the cut line is gone
    monkeypatch.undo()
    again = _sweep(tmp_path)
    assert (again.computed, again.reused, again.dropped) == (7, 5, 0)
    assert _strip(again.records) == _strip(_sweep(tmp_path / "ref").records)


def _mount_tmpfs(where: Path, size: str) -> bool:
    where.mkdir()
    try:
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                              capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


@pytest.fixture
def small_disk(tmp_path):
    """A 16 KiB tmpfs (mounted as root; skipped where mounting is impossible: the simulated
    failure above covers that case)."""
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, "16k"):
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True, timeout=30)


def test_a_full_disk_stops_the_sweep_keeps_every_run_and_resumes_exactly(small_disk, tmp_path):
    grid = Grid(Axis.parse("decoder_lr", "1e-5:1e-2:10:log"), Axis.parse("decoder_wd", "0:10:11"))  # 110 runs
    reference = _sweep(tmp_path / "ref", CLI_FIXED, grid=grid)
    out = small_disk / "out"
    args = ("phase", "--cell", "synthetic", "--x", "decoder_lr", "--x-range", "1e-5:1e-2:10:log", "--y", "decoder_wd",
            "--y-range", "0:10:11", "--seed", "3", "--jobs", "1", "--out", out)
    proc = run_cli(*args)
    assert_one_line_error(proc, "No space left on device", "run the same command again to resume")
    data = (out / RESULTS).read_bytes()
    stored = data.count(b"\n")
    assert data.endswith(b"\n") and 0 < stored < 110
    lines = [json.loads(x) for x in data.split(b"\n")[:-1]]
    index = {(r["ix"], r["iy"], r["seed"]): r for r in reference.records}
    assert _strip(lines) == _strip([index[(r["ix"], r["iy"], r["seed"])] for r in lines])  # whole, correct lines
    assert f"the {stored} runs stored before it are kept" in proc.stderr
    subprocess.run(["mount", "-o", "remount,size=1m", str(small_disk)], check=True, capture_output=True)
    again = _sweep(out, CLI_FIXED, grid=grid)
    assert (again.computed, again.reused, again.dropped) == (110 - stored, stored, 0)
    assert _strip(again.records) == _strip(reference.records)


# ---------------------------------------------------------------- the property


class _Crash(Exception):
    """A sweep stopped between two appends."""


def _crash_after(k: int):
    count = {"n": None}

    def progress(n):
        if count["n"] is None:  # the first call reports the runs already stored
            count["n"] = 0
            return
        count["n"] += n
        if count["n"] >= k:
            raise _Crash

    return progress


def _valid_keys(data: bytes, reference: dict) -> set:
    """The oracle: the runs whose complete lines include one equal to the uninterrupted run's
    record (time aside). Written independently of the store's own checks."""
    def once(pairs):
        if len({k for k, _ in pairs}) < len(pairs):
            raise ValueError("a key repeats")
        return dict(pairs)

    keys = set()
    for line in data.split(b"\n")[:-1]:
        try:
            rec = json.loads(line, object_pairs_hook=once)
        except (ValueError, RecursionError):
            continue
        if not isinstance(rec, dict):
            continue
        key = (rec.get("ix"), rec.get("iy"), rec.get("seed"))
        want = reference.get(key) if all(type(v) is int for v in key) else None
        seconds = rec.get("seconds")
        if (want is not None and _strip([rec]) == _strip([want]) and type(seconds) in (int, float)
                and 0 <= seconds < 1e9 and list(rec) == list(want)):
            keys.add(key)
    return keys


N_FORGERIES = 18  # len(_forgeries(...))
OPS = st.one_of(
    st.tuples(st.just("run"), st.integers(1, 13)),               # a sweep that crashes after k appends (13: none)
    st.tuples(st.just("truncate"), st.floats(0, 1)),              # the file cut at a fraction of its length
    st.tuples(st.just("junk"), st.binary(max_size=40), st.booleans()),  # bytes, with or without a newline
    st.tuples(st.just("forge"), st.sampled_from(range(N_FORGERIES)), st.integers(0, 11)),  # forgery f, run r
    st.tuples(st.just("cut"), st.integers(1, 200)),               # a line half written at a crash
)
MAX_OPS = 8
EXAMPLES = 200


#: a RAM file system for the property test's many small stores where there is one (fsync is
#: free there: 0.02 s instead of 0.2 s per history here); the default temporary directory elsewhere
FAST_TMP = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


@lru_cache(maxsize=1)
def _reference():
    with tempfile.TemporaryDirectory() as tmp:
        return _sweep(Path(tmp) / "ref")


def _apply(op, out: Path, reference, by_key: dict) -> None:
    """One event of a store's life: a sweep that crashes after k appends, the file cut short,
    junk bytes, a forged line aimed at a run that has no valid line yet, a half-written line."""
    results = out / RESULTS
    data = results.read_bytes() if results.exists() else b""
    if op[0] == "run":
        try:
            _sweep(out, progress=_crash_after(op[1]))
        except _Crash:
            pass
    elif op[0] == "truncate":
        results.write_bytes(data[: int(op[1] * len(data))])
    elif op[0] == "junk":
        results.write_bytes(data + op[1] + (b"\n" if op[2] else b""))
    elif op[0] == "forge":
        missing = [r for k, r in by_key.items() if k not in _valid_keys(data, by_key)] or reference.records
        results.write_bytes(data + list(_forgeries(missing[op[2] % len(missing)]).values())[op[1]] + b"\n")
    elif op[0] == "cut":
        whole = json.dumps(reference.records[0], separators=(",", ":")).encode()
        results.write_bytes(data + whole[: op[1] % len(whole)])


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=st.integers(1, 13), ops=st.lists(OPS, min_size=1, max_size=MAX_OPS))
@example(first=3, ops=[("forge", 6, 0)])  # a phase the rule contradicts, where no valid line is
@example(first=2, ops=[("cut", 50), ("run", 4), ("truncate", 0.5), ("junk", b"{}", True), ("run", 13)])
def test_any_history_resumes_to_exactly_the_uninterrupted_sweep(first, ops):
    reference = _reference()
    by_key = {(r["ix"], r["iy"], r["seed"]): r for r in reference.records}
    with tempfile.TemporaryDirectory(dir=FAST_TMP) as tmp:
        out = Path(tmp) / "out"
        results = out / RESULTS
        for op in [("run", first), *ops]:  # the first sweep makes the store (and may crash)
            _apply(op, out, reference, by_key)
        before = results.read_bytes() if results.exists() else b""
        valid = _valid_keys(before, by_key)
        final = _sweep(out)
        assert final.computed == len(reference.records) - len(valid)
        assert final.reused == len(valid)
        assert _strip(final.records) == _strip(reference.records)
        assert results.read_bytes().startswith(before)  # nothing stored was rewritten
