"""Sweep grid, engine, resumable store and plot, with the cheap deterministic stand-in cell.

The real-network equality test lives at the end and is skipped until efftheory.models.toy.kernels exists.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import math

import numpy as np
import pytest

from efftheory.errors import InputError
from efftheory.phases import PHASES, phase_of
from efftheory.runtime.store import MANIFEST, RESULTS
from efftheory.experiments.sweep.grid import Axis, Grid
from efftheory.experiments.sweep.settings import SweepSettings
from efftheory.experiments.sweep.engine import run_sweep
from efftheory.experiments.sweep.cells import synthetic_cell

GRID = Grid(Axis.parse("decoder_lr", "1e-5:1e-2:4:log"), Axis.parse("decoder_wd", "0:10:3"))
FIXED = SweepSettings(steps=10_000, seed=3)

CALLS: list[tuple] = []  # cells run by counting_cell in this process (sequential runs only)


def counting_cell(settings, fixed):
    """synthetic_cell that remembers which cell it ran (top-level so it pickles)."""
    CALLS.append(tuple(sorted(settings.items())) + ((("seed", fixed["seed"]),) if fixed["seed"] != FIXED.seed else ()))
    return synthetic_cell(settings, fixed)


def failing_cell(settings, fixed):
    """Fails at one cell only."""
    if settings["decoder_wd"] == 5.0 and settings["decoder_lr"] == 1e-3:
        raise RuntimeError("boom")
    return synthetic_cell(settings, fixed)


def _strip(records):
    """Records without the wall-clock field (the only thing allowed to differ between runs)."""
    return [{k: v for k, v in r.items() if k != "seconds"} for r in records]


# ---------------------------------------------------------------- axes and grid


def test_log_axis_hits_ends_exactly_and_is_geometric():
    ax = Axis.parse("embed_lr", "1e-5:1e-2:10:log")
    v = np.array(ax.values)
    assert ax.values[0] == 1e-5 and ax.values[-1] == 1e-2
    assert np.all(np.diff(v) > 0)
    np.testing.assert_allclose(v[1:] / v[:-1], 10 ** (3 / 9), rtol=1e-12)


def test_linear_and_integer_axes():
    assert Axis.parse("decoder_wd", "0:10:11").values == tuple(float(i) for i in range(11))
    width = Axis.parse("width", "10:40:4")
    assert width.values == (10, 20, 30, 40) and all(type(w) is int for w in width.values)
    assert Axis.parse("frac", "0.5:0.5:1").values == (0.5,)


@pytest.mark.parametrize(
    "name,text,needle",
    [
        ("embed_lr", "1e-5:1e-2", "LO:HI:N"),
        ("embed_lr", "a:1:3", "LO:HI:N"),
        ("embed_lr", "1e-2:1e-5:3:log", "LO < HI"),
        ("embed_lr", "0:1e-2:3:log", "LO > 0"),
        ("embed_lr", "0:1e-2:3", "out of range"),
        ("decoder_wd", "-1:1:3", "out of range"),
        ("width", "1:3:5", "repeated"),
        ("frac", "0.5:1:3", "test set"),
        ("momentum", "1:2:3", "unknown axis"),
        ("dim", "1:2:0", "N must be"),
        ("dim", "1:2:1", "LO == HI"),
        ("embed_lr", "1:2:3:cubic", "LO:HI:N"),
    ],
)
def test_bad_axes_raise_input_error(name, text, needle):
    with pytest.raises(InputError, match=needle):
        Axis.parse(name, text)


def test_grid_cells_order_and_same_axis_refused():
    cells = GRID.cells()
    assert len(cells) == GRID.size == 12 and GRID.shape == (3, 4)
    assert [(ix, iy) for ix, iy, _ in cells[:5]] == [(0, 0), (1, 0), (2, 0), (3, 0), (0, 1)]
    assert cells[5][2] == {"decoder_lr": GRID.x.values[1], "decoder_wd": 5.0}
    with pytest.raises(InputError, match="both"):
        Grid(GRID.x, GRID.x)


def test_frac_axis_clears_fixed_training_size():
    grid = Grid(Axis.parse("frac", "0.3:0.9:3"), Axis.parse("decoder_lr", "1e-4:1e-3:2:log"))
    fixed = FIXED.for_grid(grid)
    assert fixed.n_train is None and fixed.frac is None
    with pytest.raises(InputError, match="no test sample"):
        SweepSettings(p=2, n_train=3).check_grid(GRID)


# ---------------------------------------------------------------- engine and store


def test_sequential_run_records_are_consistent(tmp_path):
    result = run_sweep(GRID, FIXED, tmp_path / "s", cell_fn=synthetic_cell)
    assert result.complete and result.computed == 12 and result.reused == 0
    phases, gaps = result.phases, result.gaps
    for ix, iy, settings in GRID.cells():
        rec = result.records[iy * GRID.x.n + ix]
        assert rec["settings"] == settings and (rec["ix"], rec["iy"]) == (ix, iy)
        assert rec["phase"] == phase_of(rec["t_train"], rec["t_test"], FIXED.gap) == phases[iy, ix]
        if rec["t_train"] is None or rec["t_test"] is None:
            assert math.isnan(gaps[iy, ix])
        else:
            assert gaps[iy, ix] == rec["t_test"] - rec["t_train"]
    assert sum(result.counts.values()) == 12 and set(result.counts) == set(PHASES)
    lines = (tmp_path / "s" / RESULTS).read_text().splitlines()
    assert _strip(json.loads(line) for line in lines) == _strip(result.records)


def test_resume_recomputes_exactly_the_lost_cells(tmp_path):
    clean = run_sweep(GRID, FIXED, tmp_path / "clean", cell_fn=counting_cell)
    out = tmp_path / "resume"
    run_sweep(GRID, FIXED, out, cell_fn=counting_cell)
    path = out / RESULTS
    lines = path.read_bytes().split(b"\n")[:-1]
    assert len(lines) == 12
    lost = {2, 7}  # delete two whole lines ...
    keep = [line for k, line in enumerate(lines) if k not in lost]
    cut = keep[-1][: len(keep[-1]) // 2]  # ... and leave the last one half written
    path.write_bytes(b"".join(line + b"\n" for line in keep[:-1]) + cut)
    expected = {tuple(sorted(json.loads(lines[k])["settings"].items())) for k in lost | {11}}
    CALLS.clear()
    again = run_sweep(GRID, FIXED, out, cell_fn=counting_cell)
    assert sorted(CALLS) == sorted(expected)
    assert again.computed == 3 and again.reused == 9 and again.dropped == 1
    assert _strip(again.records) == _strip(clean.records)
    # the store now holds every cell once (the cut line stays, ignored) and a third run does nothing
    CALLS.clear()
    third = run_sweep(GRID, FIXED, out, cell_fn=counting_cell)
    assert CALLS == [] and third.computed == 0 and third.reused == 12 and third.dropped == 1
    assert len(path.read_text().splitlines()) == 9 + 1 + 3


def test_a_store_read_without_computing_holds_only_the_stored_runs(tmp_path):
    """compute=False reads a sweep as it stands (a sweep computed in pieces): stored runs are
    there, the others None, nothing runs and the store is left as it was."""
    out = tmp_path / "s"
    full = run_sweep(GRID, FIXED, out, cell_fn=counting_cell)
    path = out / RESULTS
    lines = path.read_bytes().split(b"\n")[:-1]
    path.write_bytes(b"".join(line + b"\n" for line in lines[:5]))
    CALLS.clear()
    part = run_sweep(GRID, FIXED, out, cell_fn=counting_cell, compute=False)
    assert CALLS == [] and part.computed == 0 and part.reused == 5 and not part.complete
    assert sum(r is not None for r in part.records) == 5 and sum(part.counts.values()) == 5
    assert _strip(r for r in part.records if r is not None) == _strip(full.records[:5])
    assert len(path.read_bytes().split(b"\n")[:-1]) == 5


def test_a_sweep_read_at_a_smaller_budget_is_the_sweep_run_at_it(tmp_path):
    """at_budget(B) of a budget-700 sweep of real networks gives the step counts, phases and gaps
    of the same sweep run at budget B = 300, over runs that crossed after 300 (memorization
    turned confusion), stopped early before it (kept) and never crossed."""
    from efftheory.models.toy.cell import network_cell

    grid = Grid(Axis.parse("embed_lr", "1e-3,1e-2"), Axis.parse("decoder_lr", "1e-3,3e-3"))
    long = run_sweep(grid, SweepSettings(steps=700, seed=3, seeds=(0, 1)), tmp_path / "long", cell_fn=network_cell)
    short = run_sweep(grid, SweepSettings(steps=300, seed=3, seeds=(0, 1)), tmp_path / "short", cell_fn=network_cell)
    read = long.at_budget(300)
    assert read.settings.steps == 300 and read.complete
    keys = ("t_train", "t_test", "t_rqi", "steps_run", "phase", "gap")
    assert [[r[k] for k in keys] for r in read.records] == [[r[k] for k in keys] for r in short.records]
    changed = [a["phase"] != b["phase"] for a, b in zip(long.records, read.records)]
    assert any(changed) and not all(changed)  # the reading did something, and not everywhere
    np.testing.assert_array_equal(read.phase_counts, short.phase_counts)
    with pytest.raises(InputError, match="budget 700"):
        long.at_budget(701)


def test_garbled_and_foreign_lines_are_dropped_and_redone(tmp_path):
    out = tmp_path / "g"
    clean = run_sweep(GRID, FIXED, out, cell_fn=synthetic_cell)
    path = out / RESULTS
    lines = path.read_text().splitlines()
    first = json.loads(lines[0])
    foreign = dict(first, settings={"decoder_lr": 0.5, "decoder_wd": 0.0})  # not this cell's values
    path.write_text("\n".join(["{not json", json.dumps(foreign), *lines[1:], lines[3]]) + "\n")
    again = run_sweep(GRID, FIXED, out, cell_fn=synthetic_cell)
    assert again.computed == 1 and again.dropped == 3  # garbage, foreign line, repeated cell
    assert _strip(again.records) == _strip(clean.records)


@pytest.mark.parametrize(
    "grid,fixed,cell,needle",
    [
        (Grid(GRID.x, Axis.parse("decoder_wd", "0:10:4")), FIXED, synthetic_cell, "grid.y.n"),
        (GRID, SweepSettings(steps=10_000, seed=4), synthetic_cell, "fixed.seed"),
        (GRID, SweepSettings(steps=10_000, seed=3, network={"loss": "ce"}), synthetic_cell, "fixed.network.loss"),
        (GRID, FIXED, counting_cell, "cell"),
    ],
)
def test_a_different_sweep_is_refused(tmp_path, grid, fixed, cell, needle):
    out = tmp_path / "d"
    run_sweep(GRID, FIXED, out, cell_fn=synthetic_cell)
    before = (out / RESULTS).read_bytes()
    with pytest.raises(InputError, match="different sweep") as err:
        run_sweep(grid, fixed, out, cell_fn=cell)
    assert needle in str(err.value)
    assert (out / RESULTS).read_bytes() == before


def test_results_without_manifest_refused(tmp_path):
    (tmp_path / RESULTS).write_text("{}\n")
    with pytest.raises(InputError, match="no manifest"):
        run_sweep(GRID, FIXED, tmp_path, cell_fn=synthetic_cell)
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="not a directory"):
        run_sweep(GRID, FIXED, tmp_path / "file", cell_fn=synthetic_cell)


def test_manifest_records_grid_and_every_fixed_setting(tmp_path):
    run_sweep(GRID, FIXED, tmp_path, cell_fn=synthetic_cell)
    sweep = json.loads((tmp_path / MANIFEST).read_text())["sweep"]
    assert sweep["grid"] == GRID.to_dict()
    assert sweep["fixed"] == FIXED.to_dict()
    assert sweep["cell"] == "efftheory.sweep:synthetic_cell"


def test_a_failing_cell_keeps_the_finished_ones(tmp_path):
    with pytest.raises(RuntimeError, match="boom"):
        run_sweep(GRID, FIXED, tmp_path, cell_fn=failing_cell)
    stored = [json.loads(line) for line in (tmp_path / RESULTS).read_text().splitlines()]
    # row-major order: all of row wd=0, then lr=1e-5 and 1e-4 of row wd=5, then the failure
    assert [(r["ix"], r["iy"]) for r in stored] == [(0, 0), (1, 0), (2, 0), (3, 0), (0, 1), (1, 1)]


@pytest.mark.slow
def test_sequential_process_pool_and_dask_agree_over_two_seeds(tmp_path):
    two = SweepSettings(steps=10_000, seed=3, seeds=(3, 5))
    seq = run_sweep(GRID, two, tmp_path / "seq", cell_fn=synthetic_cell)
    pool = run_sweep(GRID, two, tmp_path / "pool", cell_fn=synthetic_cell, jobs=2)
    with cf.ThreadPoolExecutor(3) as threads:  # any Executor is accepted
        thr = run_sweep(GRID, two, tmp_path / "thr", cell_fn=synthetic_cell, executor=threads)
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            dsk = run_sweep(GRID, two, tmp_path / "dask", cell_fn=synthetic_cell, executor=client.get_executor())
    assert len(seq.records) == 24 and len({r["seed"] for r in seq.records}) == 2
    for other in (pool, thr, dsk):
        assert other.computed == 24
        assert _strip(other.records) == _strip(seq.records)
        assert other.phases.tolist() == seq.phases.tolist()
        np.testing.assert_array_equal(other.majority_share, seq.majority_share)


# ---------------------------------------------------------------- plot


def test_plot_axes_ticks_and_cells(tmp_path):
    from efftheory.plotting.phase import PHASE_COLORS, plot_phase_diagram

    result = run_sweep(GRID, FIXED, tmp_path, cell_fn=synthetic_cell)
    fig = plot_phase_diagram(result, annotate_gap=True)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1e-05", "0.0001", "0.001", "0.01"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["0", "5", "10"]
    assert "decoder learning rate" in ax.get_xlabel() and "log" in ax.get_xlabel()
    assert "decoder weight decay" in ax.get_ylabel()
    image = ax.get_images()[0]
    np.testing.assert_array_equal(np.asarray(image.get_array()), result.phase_codes)
    assert image.origin == "lower"  # row iy = 0 (smallest y) at the bottom
    legend = [t.get_text().split(" ")[0] for t in ax.get_legend().get_texts()]
    assert legend == list(PHASES) and len(set(PHASE_COLORS[p] for p in PHASES)) == len(PHASES)
    assert "p = 10, n_train = 45 of 55" in ax.get_title()
    assert all(t.get_fontsize() >= 8 for t in ax.texts)
    n_finite = int(np.isfinite(result.gaps).sum())
    assert len(ax.texts) == n_finite
    fig.savefig(tmp_path / "p.png")
    assert (tmp_path / "p.png").stat().st_size > 1000


# ---------------------------------------------------------------- the real toy network


@pytest.mark.slow
def test_tiny_real_network_same_on_every_executor(tmp_path):
    from efftheory.models.toy.cell import network_cell

    grid = Grid(Axis.parse("embed_lr", "1e-3:1e-2:2:log"), Axis.parse("decoder_lr", "1e-3:1e-2:2:log"))
    fixed = SweepSettings(steps=300, seed=1, gap=100, network={"width": 16})
    seq = run_sweep(grid, fixed, tmp_path / "seq", cell_fn=network_cell)
    pool = run_sweep(grid, fixed, tmp_path / "pool", cell_fn=network_cell, jobs=2)
    assert _strip(pool.records) == _strip(seq.records)
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            dsk = run_sweep(grid, fixed, tmp_path / "dask", cell_fn=network_cell, executor=client.get_executor())
    assert _strip(dsk.records) == _strip(seq.records)
    for rec in seq.records:
        assert rec["steps_run"] <= 300
        assert rec["phase"] == phase_of(rec["t_train"], rec["t_test"], 100)
