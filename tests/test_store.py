"""The sweep store under stress: a lock per directory, digests and impossible values, append-only
recovery, unusable directories, and Ctrl-C in the middle of a pooled sweep."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from efftheory.errors import InputError
from efftheory.runtime.store import FORMAT, MANIFEST, RESULTS, ResultStore, digest, read_sweep
from efftheory.experiments.sweep.grid import Axis, Grid
from efftheory.experiments.sweep.settings import SweepSettings
from efftheory.experiments.sweep.engine import manifest_for, run_sweep, runs_of
from efftheory.experiments.sweep.cells import synthetic_cell
from tests.conftest import assert_one_line_error, run_cli

ROOT = Path(__file__).resolve().parents[1]
GRID = Grid(Axis.parse("decoder_lr", "1e-5:1e-2:4:log"), Axis.parse("decoder_wd", "0:10:3"))
FIXED = SweepSettings(steps=10_000, seed=3)


def _strip(records):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in records]


def _lines(out) -> list[bytes]:
    return (Path(out) / RESULTS).read_bytes().split(b"\n")[:-1]


def _open(out, grid=GRID, settings=FIXED) -> ResultStore:
    """Open (and so lock) ``out`` for a synthetic sweep, as a running sweep would."""
    s = settings.for_grid(grid)
    expected = {(ix, iy, seed): {"settings": cs, "split_seed": s.split_seed(seed)} for ix, iy, seed, cs in runs_of(grid, s)}
    return ResultStore.open(out, manifest_for(grid, s, synthetic_cell), expected, s.steps)


_hold = _open


# ---------------------------------------------------------------- the lock


def test_a_second_sweep_into_a_busy_directory_is_refused(tmp_path):
    out = tmp_path / "busy"
    slow = SweepSettings(steps=10_000, seed=3, network={"sleep": 0.05})
    first = threading.Thread(target=run_sweep, args=(GRID, slow, out), kwargs={"cell_fn": synthetic_cell})
    first.start()
    try:
        deadline = time.monotonic() + 10
        while not (out / RESULTS).exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        with pytest.raises(InputError, match="in use by another sweep") as err:
            run_sweep(GRID, slow, out, cell_fn=synthetic_cell)
        assert repr(str(out)) in str(err.value)
        assert first.is_alive()  # refused while the first one was still running
    finally:
        first.join()
    again = run_sweep(GRID, slow, out, cell_fn=synthetic_cell)  # free again once it ended
    assert again.reused == 12 and again.computed == 0


def test_wait_takes_the_lock_when_the_other_sweep_ends(tmp_path):
    holder = _hold(tmp_path)
    threading.Timer(0.5, holder.close).start()
    start = time.monotonic()
    result = run_sweep(GRID, FIXED, tmp_path, cell_fn=synthetic_cell, wait=True)
    assert time.monotonic() - start >= 0.4 and result.computed == 12


def test_cli_refuses_a_busy_directory_with_exit_2_and_waits_with_wait(tmp_path):
    small = ["--x", "decoder_lr", "--x-range", "1e-5:1e-2:4:log", "--y", "decoder_wd", "--y-range", "0:10:3",
             "--cell", "synthetic", "--jobs", "1", "--seed", "3", "--out", str(tmp_path)]
    as_cli = SweepSettings(steps=10_000, seed=3, network={"loss": "mse"})  # what those options ask for
    with _hold(tmp_path, settings=as_cli):
        assert_one_line_error(run_cli("phase", *small), "in use by another sweep", repr(str(tmp_path)))
        assert not (tmp_path / RESULTS).exists()
    holder = _hold(tmp_path, settings=as_cli)
    threading.Timer(1.0, holder.close).start()
    proc = run_cli("phase", *small, "--wait")
    assert proc.returncode == 0, proc.stderr
    assert len(_lines(tmp_path)) == 12


# ---------------------------------------------------------------- digests and impossible values


def _edit(line: bytes, **changes) -> bytes:
    return json.dumps({**json.loads(line), **changes}).encode()


IMPOSSIBLE = {
    "another manifest": {"digest": "0123456789abcdef"},
    "negative steps": {"steps_run": -5},
    "non-integer step": {"t_rqi": 12.5},
    "integer-valued float step": {"steps_run": 10000.0},
    "t_train beyond the budget": {"t_train": 10_001},
    "t_test negative": {"t_test": -1},
    "steps_run over budget": {"steps_run": 20_000},
    "accuracy above 1": {"final_test_acc": 1.5},
    "accuracy negative": {"final_train_acc": -0.1},
    "unknown phase": {"phase": "enlightenment"},
    "cell outside the grid": {"ix": 4},
    "seed not in the sweep": {"seed": 4},
    "wrong split seed": {"split_seed": 0},
    "boolean step": {"t_rqi": True},
}


@pytest.mark.parametrize("why", IMPOSSIBLE)
def test_impossible_or_foreign_lines_are_dropped_and_recomputed(tmp_path, why):
    clean = run_sweep(GRID, FIXED, tmp_path, cell_fn=synthetic_cell)
    lines = _lines(tmp_path)
    lines[5] = _edit(lines[5], **IMPOSSIBLE[why])
    (tmp_path / RESULTS).write_bytes(b"".join(line + b"\n" for line in lines))
    again = run_sweep(GRID, FIXED, tmp_path, cell_fn=synthetic_cell)
    assert (again.computed, again.reused, again.dropped) == (1, 11, 1)
    assert _strip(again.records) == _strip(clean.records)
    assert _lines(tmp_path)[:12] == lines  # the bad line is still there, untouched


def test_every_line_carries_the_manifest_digest(tmp_path):
    run_sweep(GRID, FIXED, tmp_path, cell_fn=synthetic_cell)
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    assert manifest["format"] == FORMAT and manifest["digest"] == digest(manifest["sweep"])
    assert len(manifest["digest"]) == 16
    assert {json.loads(line)["digest"] for line in _lines(tmp_path)} == {manifest["digest"]}
    assert len(read_sweep(tmp_path)[1]) == 12


# ---------------------------------------------------------------- append-only recovery


def test_a_half_written_last_line_is_kept_and_followed_by_a_newline(tmp_path):
    clean = run_sweep(GRID, FIXED, tmp_path, cell_fn=synthetic_cell)
    data = (tmp_path / RESULTS).read_bytes()
    cut = data[: len(data) - 40]  # the last line loses its end and its newline
    (tmp_path / RESULTS).write_bytes(cut)
    again = run_sweep(GRID, FIXED, tmp_path, cell_fn=synthetic_cell)
    assert (again.computed, again.reused, again.dropped) == (1, 11, 1)
    assert _strip(again.records) == _strip(clean.records)
    after = (tmp_path / RESULTS).read_bytes()
    assert after.startswith(cut + b"\n")  # never truncated: a newline closes the cut line
    assert json.loads(after[len(cut) + 1:]) == again.records[-1]


def test_reopening_never_rewrites_existing_lines(tmp_path):
    run_sweep(GRID, FIXED, tmp_path, cell_fn=synthetic_cell)
    lines = _lines(tmp_path)
    junk = [b"{not json", b"[1, 2]", lines[3], _edit(lines[0], phase="nope")]  # garbage, non-object, repeat, bad
    before = b"".join(line + b"\n" for line in lines[1:] + junk)
    (tmp_path / RESULTS).write_bytes(before)
    inode = (tmp_path / RESULTS).stat().st_ino
    again = run_sweep(GRID, FIXED, tmp_path, cell_fn=synthetic_cell)
    assert (again.computed, again.dropped) == (1, 4)
    after = (tmp_path / RESULTS).read_bytes()
    assert after[: len(before)] == before and (tmp_path / RESULTS).stat().st_ino == inode
    assert after[len(before):].count(b"\n") == 1  # only the recomputed line was added
    third = run_sweep(GRID, FIXED, tmp_path, cell_fn=synthetic_cell)
    assert third.computed == 0 and (tmp_path / RESULTS).read_bytes() == after


# ---------------------------------------------------------------- unusable directories


def test_a_manifest_that_is_a_directory_is_a_clean_error(tmp_path):
    (tmp_path / MANIFEST).mkdir()
    with pytest.raises(InputError, match=f"cannot read {MANIFEST}"):
        run_sweep(GRID, FIXED, tmp_path, cell_fn=synthetic_cell)
    proc = run_cli("phase", "--x", "decoder_lr", "--x-range", "1e-5:1e-2:4:log", "--y", "decoder_wd",
                   "--y-range", "0:10:3", "--cell", "synthetic", "--jobs", "1", "--out", str(tmp_path))
    assert_one_line_error(proc, MANIFEST, repr(str(tmp_path)))


def test_results_that_are_a_directory_or_an_old_format_are_clean_errors(tmp_path):
    run_sweep(GRID, FIXED, tmp_path / "a", cell_fn=synthetic_cell)
    (tmp_path / "a" / RESULTS).unlink()
    (tmp_path / "a" / RESULTS).mkdir()
    with pytest.raises(InputError, match="cannot read"):
        run_sweep(GRID, FIXED, tmp_path / "a", cell_fn=synthetic_cell)
    run_sweep(GRID, FIXED, tmp_path / "b", cell_fn=synthetic_cell)
    manifest = json.loads((tmp_path / "b" / MANIFEST).read_text())
    (tmp_path / "b" / MANIFEST).write_text(json.dumps({**manifest, "format": "efftheory-phase-sweep/1"}))
    with pytest.raises(InputError, match="format 'efftheory-phase-sweep/1'"):
        run_sweep(GRID, FIXED, tmp_path / "b", cell_fn=synthetic_cell)


# ---------------------------------------------------------------- Ctrl-C in a pooled sweep

SWEEP_PARENT = textwrap.dedent("""
    import sys
    from efftheory.experiments.sweep.grid import Axis, Grid
    from efftheory.experiments.sweep.settings import SweepSettings
    from efftheory.experiments.sweep.engine import run_sweep
    from efftheory.experiments.sweep.cells import synthetic_cell
    if __name__ == "__main__":
        grid = Grid(Axis.parse("decoder_lr", "1e-5:1e-2:10:log"), Axis.parse("decoder_wd", "0:10:11"))
        try:
            run_sweep(grid, SweepSettings(network={"sleep": 1.0}), sys.argv[1], cell_fn=synthetic_cell, jobs=2)
        except KeyboardInterrupt:
            sys.exit(130)
""")


def _children(pid: int) -> list[int]:
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    if int(fh.read().rsplit(")", 1)[1].split()[1]) == pid:
                        kids.append(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    return kids


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc to find the workers")
def test_ctrl_c_keeps_finished_runs_and_ends_the_workers(tmp_path):
    from tests.test_parallel import _wait_gone

    script = tmp_path / "sweep.py"
    script.write_text(SWEEP_PARENT)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, str(script), str(out)], env=dict(os.environ, PYTHONPATH=str(ROOT)))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not (out / RESULTS).exists() or len(_lines(out)) < 2):
        time.sleep(0.05)
    workers = [p for p in _children(proc.pid) if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()]
    start = time.monotonic()
    proc.send_signal(signal.SIGINT)
    # the remaining ~108 cells need ~54 s on two workers; ending takes seconds even on a busy machine
    assert proc.wait(timeout=40) == 130
    assert time.monotonic() - start < 20
    assert len(workers) == 2 and _wait_gone(workers, 5.0) == []
    stored = [json.loads(line) for line in _lines(out)]
    assert 2 <= len(stored) < 110 and (out / RESULTS).read_bytes().endswith(b"\n")
    grid = Grid(Axis.parse("decoder_lr", "1e-5:1e-2:10:log"), Axis.parse("decoder_wd", "0:10:11"))
    with _open(out, grid, SweepSettings(network={"sleep": 1.0})) as store:  # every finished run is valid
        assert len(store.finished) == len(stored) and store.dropped == 0
