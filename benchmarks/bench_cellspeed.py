"""Phase-diagram cells: the first training kernel against the current one, on cells of Fig 5b.

"Before" is efftheory at commit :data:`BEFORE` (the last one with the first kernel), extracted
with ``git archive`` into a directory under the temp dir (kept, so its numba cache persists),
running :func:`efftheory.models.toy.cell.network_cell` as the sweeps did then: every step evaluated and
recorded (``eval_every`` = 1). "After" is this checkout's ``network_cell``: the cheap path
(records at step 0 and the last step only, crossings tracked at every step). Both give the same
records (checked per cell: every field but the wall time); the current kernel forwards the same
rows as the first kernel's every-step schedule, so the trajectories are bitwise the same and the
steps run are the same.

Each (version, cell) runs in its own process with one BLAS thread, before and after alternating
cell by cell (so both see the same load), timed inside the worker after a warm-up run (numba's
compilation excluded). Cells: six of the 110 of Fig 5b (decoder lr x decoder wd, MSE, p = 10,
n_train = 45, split and network seed 3), spread over the grid.

Also: FLOPs of one toy-network step counted from the shapes (matrix products of the forward over
all N = 55 samples, of the backward over the nt = 45 training samples; AdamW about 14 per
parameter; tanh not counted) and the fraction of the core's float32 peak reached (AVX2 + FMA:
2 FMA units x 8 lanes x 2 = 32 FLOP per cycle at the clock /proc/cpuinfo reports), and the
full Fig 5b at 1e5 steps extrapolated from the measured per-step ratio (the steps run do not
change: same trajectories).

Last, the parts of one step timed alone (forward, head, backward, AdamW, tanh, the matrix
products, the metrics; :mod:`benchmarks.profile_step`).

``--full`` instead runs a whole panel, as a user would: ``efftheory phase --preset fig5b --steps
1e5 --seed 3 --jobs 2`` with the first kernel's tree and then with this checkout (each after a
warm-up sweep of one cell, so compilation is outside the timing), reports the wall times and
cells per minute, checks every record field but the wall time, and sets the seconds per
1e5-step cell (the workers' own seconds, per step run) beside the single-core FLOP limit of
one toy-network step. Records are checked to the bit: both versions run on the same machine,
so they use the same arithmetic (docs/theory.md §10).

Run: python -m benchmarks.bench_cellspeed [--steps 1e5] [--cells 6] [--no-parts]
     python -m benchmarks.bench_cellspeed --full [--preset fig5b] [--steps 1e5] [--jobs 2] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
#: the last commit with the first training kernel (every-step records; all rows on evaluated steps only)
BEFORE = "39d76b3"
#: (ix, iy) of Fig 5b cells spread over the grid (decoder lr index 0..9, decoder wd 0..10)
CELLS = ((0, 0), (3, 0), (6, 2), (9, 5), (2, 8), (5, 10), (8, 0), (4, 4))
SEED = 3
#: measured before this change: the full Fig 5b at 1e5 steps, one seed, two workers (wall s, steps run)
FIG5B_1E5 = (1209.0, 8.54e6)

_WORKER = r"""
import json, sys, time
from efftheory.experiments.sweep.presets import PRESETS
from efftheory.experiments.sweep.settings import SweepSettings
from efftheory.models.toy.cell import network_cell
ix, iy, steps, every, seed, repeats, early = json.loads(sys.argv[1])
grid = PRESETS["fig5b"].grid
settings = {grid.x.name: grid.x.values[ix], grid.y.name: grid.y.values[iy]}
fixed = SweepSettings(steps=steps, seed=seed, eval_every=every, early_stop=early,
                      network={"loss": "mse"}).run_fixed(seed)
network_cell(settings, {**fixed, "steps": 50})  # compile or load numba's cache
best = float("inf")
for _ in range(repeats):
    start = time.perf_counter()
    out = network_cell(settings, fixed)
    best = min(best, time.perf_counter() - start)
print(json.dumps({"seconds": best, "record": out, "settings": settings}))
"""


def before_tree(commit: str = BEFORE) -> Path:
    """efftheory as of ``commit``, extracted once into the temp dir (its numba cache is kept there)."""
    where = Path(tempfile.gettempdir()) / f"efftheory-before-{commit}"
    if not (where / "efftheory" / "network.py").exists():
        where.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "efftheory"], check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(where)], input=archive, check=True)
    return where


def run_cell(path: Path, ix: int, iy: int, steps: int, every: int, repeats: int = 1, early: bool = True) -> dict:
    """One cell in a fresh single-threaded process importing efftheory from ``path`` (best of ``repeats``)."""
    env = {**os.environ, "PYTHONPATH": str(path), "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}
    args = json.dumps([ix, iy, steps, every, SEED, repeats, early])
    proc = subprocess.run([sys.executable, "-c", _WORKER, args], env=env,
                          capture_output=True, text=True, check=True, cwd=tempfile.gettempdir())
    return json.loads(proc.stdout.strip().splitlines()[-1])


def flops_per_step(dims=(1, 200, 200, 30), n_all: int = 55, n_train: int = 45) -> dict:
    """FLOPs of one step of the toy network (multiply-add = 2), by part."""
    macs = sum(dims[l] * dims[l + 1] for l in range(len(dims) - 1))
    params = 10 * dims[0] + sum(dims[l] * dims[l + 1] + dims[l + 1] for l in range(len(dims) - 1))
    return {
        "forward": 2 * n_all * macs,  # H W per layer, all samples
        "backward": 2 * 2 * n_train * macs,  # H^T D and D W^T per layer, training samples
        "adamw": 14 * params,
        "params": params,
    }


def clock_ghz() -> float | None:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("cpu MHz"):
                    return float(line.split(":", 1)[1]) / 1e3
    except OSError:
        pass
    return None


def gemm_ceiling(n: int = 1024, repeats: int = 5) -> float:
    """FLOP/s of one large float32 matrix product on one thread (best of ``repeats``): what OpenBLAS
    reaches on this core when the matrices are big enough to hide every overhead; the practical
    ceiling for the toy network's much smaller products."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n)).astype(np.float32) for _ in range(2))
    best = float("inf")
    with threadpool_limits(1):
        a @ b
        for _ in range(repeats):
            start = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


def per_step(rounds: int = 6, steps: int = 2000, cell=(3, 0)) -> dict:
    """Seconds per step before and after on one cell run to ``steps`` without early stopping:
    ``rounds`` alternating pairs of processes, each the best of 3 runs; medians over the rounds."""
    old = before_tree()
    b, a = [], []
    for _ in range(rounds):
        b.append(run_cell(old, *cell, steps, 1, 3, False)["seconds"] / steps)
        a.append(run_cell(ROOT, *cell, steps, 1, 3, False)["seconds"] / steps)
    return {"before": float(np.median(b)), "after": float(np.median(a)), "ratios": [x / y for x, y in zip(b, a)]}


def run(steps: int = 10_000, n_cells: int = 6, parts: bool = True) -> list[dict]:
    old = before_tree()
    rows, same_all = [], True
    ps = per_step()
    rows.append({
        "name": "s per step, Fig 5b cell lr 1e-4 wd 0 to 2000 steps (alternating rounds)", "fast_s": ps["after"],
        "naive_s": ps["before"], "ratio": ps["before"] / ps["after"],
        "notes": f"{1 / ps['after']:.0f} vs {1 / ps['before']:.0f} steps/s per core; medians of 6 rounds "
                 f"(best of 3 each); ratio per round {', '.join(f'{r:.2f}' for r in ps['ratios'])}",
    })
    total_steps, before_s, after_s = 0, 0.0, 0.0
    for ix, iy in CELLS[:n_cells]:
        b = run_cell(old, ix, iy, steps, 1)
        a = run_cell(ROOT, ix, iy, steps, 1)
        same = a["record"] == b["record"]
        same_all &= same
        n = a["record"]["steps_run"]
        total_steps += n
        before_s += b["seconds"]
        after_s += a["seconds"]
        s = a["settings"]
        rec = a["record"]
        rows.append({
            "name": f"Fig 5b cell decoder lr {s['decoder_lr']:.3g}, wd {s['decoder_wd']:g}, budget {steps}",
            "fast_s": a["seconds"], "naive_s": b["seconds"], "ratio": b["seconds"] / a["seconds"],
            "notes": f"{rec['phase']}, {n} steps run (t_train {rec['t_train']}, t_test {rec['t_test']}); "
                     f"{1e6 * a['seconds'] / n:.0f} vs {1e6 * b['seconds'] / n:.0f} us/step; "
                     f"records identical: {same}",
        })
    if n_cells:
        rows.append({
            "name": f"{n_cells} cells, {total_steps} steps, one worker", "fast_s": after_s, "naive_s": before_s,
            "ratio": before_s / after_s,
            "notes": f"{total_steps / after_s:.0f} vs {total_steps / before_s:.0f} steps/s per core; all records "
                     f"identical: {same_all}",
        })
    per_after, per_before = ps["after"], ps["before"]  # the alternating measurement: less exposed to load swings
    f = flops_per_step()
    total = f["forward"] + f["backward"] + f["adamw"]
    ghz = clock_ghz()
    rate = total / per_after
    peak = (f" = {100 * rate / (32 * ghz * 1e9):.0f}% of the float32 peak at {ghz:.2f} GHz x 32 FLOP/cycle"
            if ghz else "")
    rows.append({
        "name": "FLOPs per toy-network step (p=10, width 200, depth 2, MSE)",
        "fast_s": per_after, "naive_s": per_before,
        "ratio": per_before / per_after,
        "notes": f"forward {f['forward'] / 1e6:.2f} M (55 rows) + backward {f['backward'] / 1e6:.2f} M (45 rows) + "
                 f"AdamW {f['adamw'] / 1e6:.2f} M ({f['params']} parameters x 14) = {total / 1e6:.2f} MFLOP; "
                 f"after: {rate / 1e9:.1f} GFLOP/s{peak}; times are s per step",
    })
    wall, n_steps = FIG5B_1E5
    rows.append({
        "name": "Fig 5b at 1e5, one seed, 2 workers: EXTRAPOLATED", "fast_s": wall * per_after / per_before,
        "naive_s": wall, "ratio": per_before / per_after,
        "notes": f"measured before: {wall:.0f} s for {n_steps / 1e6:.2f} M steps; after = that x the per-step "
                 f"ratio above (same steps run); at the after rate alone {n_steps * per_after / 2:.0f} s",
    })
    if parts:
        rows += part_rows()
    return rows


def part_rows(repeats: int = 1000) -> list[dict]:
    """Seconds per call of each part of a step (benchmarks/profile_step.py), in a one-thread worker."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1"}
    code = f"import json; from benchmarks.profile_step import profile; print(json.dumps(profile({repeats})))"
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True,
                          cwd=str(ROOT))
    parts = json.loads(proc.stdout.strip().splitlines()[-1])
    return [{"name": f"part: {name}", "fast_s": sec, "naive_s": None, "ratio": None,
             "notes": f"{1e6 * sec:.1f} us per call (current kernels)"} for name, sec in parts.items()]


def _one_thread_env(path: Path) -> dict:
    return {**os.environ, "PYTHONPATH": str(path), "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1"}


def sweep_wall(path: Path, out: Path, preset: str, steps: int, jobs: int, cells: str = "") -> float:
    """Wall seconds of ``efftheory phase --preset P --steps S --seed SEED --jobs J --out OUT`` run
    with efftheory from ``path`` (``cells``: extra options, e.g. a one-cell range for a warm-up)."""
    cmd = [sys.executable, "-m", "efftheory", "phase", "--preset", preset, "--steps", str(steps),
           "--seed", str(SEED), "--jobs", str(jobs), "--out", str(out), "--json", *cells.split()]
    start = time.perf_counter()
    subprocess.run(cmd, env=_one_thread_env(path), check=True, capture_output=True, cwd=tempfile.gettempdir())
    return time.perf_counter() - start


def stored_records(out: Path) -> dict:
    """(ix, iy, seed) -> the stored record of that run."""
    lines = (json.loads(line) for line in (out / "results.jsonl").read_text().splitlines() if line.strip())
    return {(r["ix"], r["iy"], r["seed"]): r for r in lines}


def _same(a: dict, b: dict) -> bool:
    """Equal in every field of the run's result (not its wall time, the store's digest, or the
    arithmetic name, which the first kernel's records lack)."""
    skip = {"seconds", "digest", "arithmetic"}
    return {k: v for k, v in a.items() if k not in skip} == {k: v for k, v in b.items() if k not in skip}


def _steps_text(steps: int) -> str:
    """1e5 for a power of ten, else the number."""
    exponent = len(str(steps)) - 1
    return f"1e{exponent}" if steps == 10**exponent else str(steps)


def full_rows(preset: str = "fig5b", steps: int = 100_000, jobs: int = 2, keep: Path | None = None) -> list[dict]:
    """A whole panel at one seed, first kernel against this checkout, both on ``jobs`` workers."""
    base = keep or Path(tempfile.mkdtemp(prefix="efftheory-full-"))
    base.mkdir(parents=True, exist_ok=True)
    trees = {"before": before_tree(), "after": ROOT}
    for name, tree in trees.items():  # compile (or load) each version's kernels outside the timing
        sweep_wall(tree, base / f"warm_{name}", preset, 50, 1, "--x-range 1e-3:1e-3:1 --y-range 1e-4:1e-4:1")
    wall, recs, loads = {}, {}, {}
    for name, tree in trees.items():
        load0 = os.getloadavg()[0]
        wall[name] = sweep_wall(tree, base / name, preset, steps, jobs)
        loads[name] = (load0, os.getloadavg()[0])
        recs[name] = stored_records(base / name)
    before, after = recs["before"], recs["after"]
    same = sum(_same(before[k], after[k]) for k in after if k in before)
    n_cells = len(after)
    n_steps = sum(r["steps_run"] for r in after.values())
    phases = {p: sum(r["phase"] == p for r in after.values()) for p in
              ("comprehension", "grokking", "memorization", "confusion", "diverged")}
    rows = [{
        "name": f"{preset} at {_steps_text(steps)} steps, seed {SEED}, {jobs} workers: whole panel",
        "fast_s": wall["after"], "naive_s": wall["before"], "ratio": wall["before"] / wall["after"],
        "notes": f"{60 * n_cells / wall['after']:.1f} vs {60 * n_cells / wall['before']:.1f} cells/min; "
                 f"{n_steps / 1e6:.2f} M steps run; records identical in every field but the wall time: "
                 f"{same} of {n_cells}; phases {', '.join(f'{k} {v}' for k, v in phases.items())}; load average "
                 f"{loads['before'][0]:.1f}->{loads['before'][1]:.1f} (before), "
                 f"{loads['after'][0]:.1f}->{loads['after'][1]:.1f} (after)",
    }]
    f = flops_per_step(_layer_dims(preset))
    total = f["forward"] + f["backward"] + f["adamw"]
    per_cell = {name: 1e5 * sum(r["seconds"] for r in recs[name].values())
                / sum(r["steps_run"] for r in recs[name].values()) for name in recs}
    rate = 1e5 * total / per_cell["after"]
    big = gemm_ceiling()
    ghz = clock_ghz()
    nominal = f" (the nominal {ghz:.2f} GHz x 32 FLOP per cycle would say {32 * ghz:.0f})" if ghz else ""
    rows.append({
        "name": "s per 1e5-step cell (workers' own seconds) vs the FLOP limit of one core",
        "fast_s": per_cell["after"], "naive_s": per_cell["before"], "ratio": per_cell["before"] / per_cell["after"],
        "notes": f"limit {1e5 * total / big:.1f} s = 1e5 x {total / 1e6:.2f} MFLOP per step (layers "
                 f"{'-'.join(map(str, _layer_dims(preset)))}) at {big / 1e9:.1f} GFLOP/s, the rate of one float32 "
                 f"1024^3 product on one thread here{nominal}; after: {rate / big:.0%} of it, {rate / 1e9:.1f} "
                 f"GFLOP/s per worker; the whole panel at that limit on {jobs} workers: "
                 f"{n_steps * total / (jobs * big):.0f} s",
    })
    return rows


def _layer_dims(preset: str) -> tuple[int, ...]:
    """The decoder's layer sizes in the preset's panel (the CE head has one output per sum)."""
    from efftheory.models.toy.config import NetworkConfig
    from efftheory.experiments.sweep.presets import PRESETS
    from efftheory.tasks import Addition

    return NetworkConfig(loss=PRESETS[preset].loss).layer_dims(Addition(10).n_classes)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=lambda s: int(float(s)), default=None,
                        help="budget per cell (default 1e4, or 1e5 with --full)")
    parser.add_argument("--cells", type=int, default=6)
    parser.add_argument("--no-parts", action="store_true", help="skip the per-part profile of one step")
    parser.add_argument("--full", action="store_true", help="a whole panel at one seed, before and after")
    parser.add_argument("--preset", default="fig5b", choices=("fig5a", "fig5b", "fig5c"), help="with --full")
    parser.add_argument("--jobs", type=int, default=2, help="workers, with --full")
    parser.add_argument("--keep", type=Path, default=None, help="with --full: keep both stores here")
    args = parser.parse_args(argv)
    from benchmarks.timing import print_rows

    if args.full:
        print_rows(full_rows(args.preset, args.steps or 100_000, args.jobs, args.keep))
    else:
        print_rows(run(args.steps or 10_000, args.cells, not args.no_parts))


if __name__ == "__main__":
    main()
