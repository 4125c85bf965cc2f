"""Phase-sweep throughput: cells per minute for the paper's Fig 5b grid, local pool vs sequential,
and the time early stopping saves.

By default it measures an exact sub-grid of Fig 5b (decoder lr 1e-5, 1e-4, 1e-3, 1e-2 of the
10-point log grid x decoder weight decay 0, 5, 10 of the 0..10 grid = 12 cells; ``--full`` runs
all 110) at 1e4 steps, MSE, p = 10, n_train = 45, seed 3 (as paper_repro/fig5.py: the first seed
whose split can reach test accuracy 1, so that early stopping has cells to stop):

- sequential (one process, early stopping)            -> the "naive" baseline
- process pool with ``--jobs`` workers (early stopping) -> the fast path
- process pool without early stopping                   -> what early stopping saves

Numba is compiled (and its on-disk cache written) by a warm-up run before timing, so pool
workers load compiled code; worker start-up is part of the pool's time. One repeat each (a
sweep is long); the machine is shared, so treat the numbers as indicative. Also times the
engine + store alone with the synthetic stand-in cell (per-cell overhead, fsync included).

    python benchmarks/bench_phase.py [--steps 10000] [--jobs 2] [--full]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from efftheory.experiments.sweep.grid import Axis, Grid  # noqa: E402
from efftheory.experiments.sweep.settings import SweepSettings  # noqa: E402
from efftheory.experiments.sweep.engine import run_sweep  # noqa: E402
from efftheory.experiments.sweep.cells import synthetic_cell  # noqa: E402
from efftheory.models.toy.cell import network_cell  # noqa: E402

SEED = 3  # the first seed whose n_train = 45 split has ideal test accuracy 1

FIG5B_FULL = ("1e-5:1e-2:10:log", "0:10:11")
FIG5B_SUB = ("1e-5:1e-2:4:log", "0:10:3")  # exact subset of the full grid's values


def _grid(full: bool) -> Grid:
    xr, yr = FIG5B_FULL if full else FIG5B_SUB
    return Grid(Axis.parse("decoder_lr", xr), Axis.parse("decoder_wd", yr))


def _timed(grid, settings, **kw):
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        result = run_sweep(grid, settings, out, **kw)
        return time.perf_counter() - start, result


def _warm_up() -> None:
    """Compile the network kernels once (writes numba's cache for the pool workers)."""
    tiny = Grid(Axis.parse("decoder_lr", "1e-3:1e-3:1"), Axis.parse("decoder_wd", "0:0:1"))
    _timed(tiny, SweepSettings(steps=20), cell_fn=network_cell)


def run(steps: int = 10_000, jobs: int = 2, full: bool = False) -> list[dict]:
    grid = _grid(full)
    n = grid.size
    _warm_up()
    load_before = os.getloadavg()[0]
    early = SweepSettings(steps=steps, seed=SEED)
    seq_s, seq = _timed(grid, early, cell_fn=network_cell, jobs=1)
    pool_s, pool = _timed(grid, early, cell_fn=network_cell, jobs=jobs)
    full_s, nostop = _timed(grid, SweepSettings(steps=steps, seed=SEED, early_stop=False), cell_fn=network_cell, jobs=jobs)
    same = [{k: v for k, v in r.items() if k != "seconds"} for r in seq.records] == [
        {k: v for k, v in r.items() if k != "seconds"} for r in pool.records
    ]
    steps_early = sum(r["steps_run"] for r in pool.records)
    steps_full = sum(r["steps_run"] for r in nostop.records)
    load_after = os.getloadavg()[0]
    cell_seq = sum(r["seconds"] for r in seq.records) / n
    cell_pool = sum(r["seconds"] for r in pool.records) / n
    syn_n = 110
    syn_grid = _grid(True)
    syn_s, _ = _timed(syn_grid, SweepSettings(steps=steps), cell_fn=synthetic_cell, jobs=1)
    what = f"Fig 5b {'grid' if full else 'sub-grid'} {grid.x.n}x{grid.y.n}={n} cells, {steps} steps"
    counts = ", ".join(f"{k} {v}" for k, v in pool.counts.items())
    return [
        {
            "name": f"{what}: {jobs} workers vs sequential",
            "fast_s": pool_s,
            "naive_s": seq_s,
            "ratio": seq_s / pool_s,
            "notes": f"{60 * n / pool_s:.1f} vs {60 * n / seq_s:.1f} cells/min; mean s per cell {cell_pool:.2f} in the "
            f"pool vs {cell_seq:.2f} alone (pool >> alone means the cores were shared); load average "
            f"{load_before:.1f} before, {load_after:.1f} after; identical records: {same}; {counts}",
        },
        {
            "name": f"{what}: early stopping vs full budget ({jobs} workers)",
            "fast_s": pool_s,
            "naive_s": full_s,
            "ratio": full_s / pool_s,
            "notes": f"steps run {steps_early} vs {steps_full} ({100 * (1 - steps_early / steps_full):.0f}% fewer)",
        },
        {
            "name": f"engine+store overhead, {syn_n} synthetic cells, sequential",
            "fast_s": syn_s,
            "naive_s": None,
            "ratio": None,
            "notes": f"{1e3 * syn_s / syn_n:.2f} ms per cell (JSON line + fsync)",
        },
    ]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=lambda s: int(float(s)), default=10_000)
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--full", action="store_true", help="all 110 cells of Fig 5b")
    args = parser.parse_args(argv)
    rows = run(args.steps, args.jobs, args.full)
    print(f"{'benchmark':<70} {'fast s':>8} {'naive s':>8} {'ratio':>6}  notes")
    for r in rows:
        naive = "" if r["naive_s"] is None else f"{r['naive_s']:.2f}"
        ratio = "" if r["ratio"] is None else f"{r['ratio']:.2f}"
        print(f"{r['name']:<70} {r['fast_s']:8.2f} {naive:>8} {ratio:>6}  {r['notes']}")


if __name__ == "__main__":
    main()
