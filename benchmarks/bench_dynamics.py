"""Effective-theory dynamics: numba integrators and RQI against straightforward numpy.

1. Integrator throughput at p = 59, d = 2 and a batch of 256 initial conditions (split frac 0.4,
   seed 0): ``efftheory.theories.linear.dynamics.evolve`` (numba, batch in parallel) against the paper-style
   numpy code (explicit parallelogram matrix A, ℓ0 = mean |A E|², one Python-level step at a
   time over the whole batch; efftheory/reference/dynamics.py). The naive code is timed on fewer steps
   and scaled linearly (its cost per step is constant). Both end at the same embeddings.
2. RQI of a 1000-point trajectory at p = 59 (d = 2): ``efftheory.theories.linear.metrics.rqi`` against its
   numpy twin (efftheory/reference/metrics.py, loops over parallelograms; timed on a few points and
   scaled) and against a vectorised numpy version that loops over trajectory points only.
3. Wall time of ``efftheory simulate --p 59 --frac 0.4`` in a fresh process with numba's cache
   warm (critical-size estimate with 2000 trials included). Target: < 5 s on 2 cores.

Run: python -m benchmarks.bench_dynamics
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numba
import numpy as np

from benchmarks.timing import median_time, print_rows
from efftheory import default_step, evolve
from efftheory import rqi
from efftheory import Addition
from efftheory import linear_theory, parallelogram_quads
from efftheory.reference import metrics as naive_metrics
from efftheory.reference.dynamics import ParallelogramFlow

ROOT = Path(__file__).resolve().parents[1]


def _integrators(steps: int = 400, naive_steps: int = 10) -> list[dict]:
    split = Addition(59).split(frac=0.4, seed=0)
    H = linear_theory(split).H_hat
    E0 = np.random.default_rng(0).uniform(-0.5, 0.5, (256, 59, 2))
    flow = ParallelogramFlow(59, split.train_pairs)
    assert np.allclose(flow.H_hat, H, atol=1e-14)
    h = default_step(H, E0, 1e-3, "rk4")
    rows = []
    before = numba.get_num_threads()
    for method, naive_step in (("rk4", flow.rk4), ("euler", flow.euler)):
        dt = h if method == "rk4" else h / 10
        evolve(H, E0[:2], [0.0, 2 * dt], lr=1e-3, method=method, dt=dt)  # compile / load cache
        for threads in sorted({1, before}):
            numba.set_num_threads(threads)
            fast = median_time(lambda: evolve(H, E0, [0.0, steps * dt], lr=1e-3, method=method, dt=dt), repeats=3)
            rows.append({"name": f"{method} p=59 d=2 B=256, {steps} steps, {threads} thr", "fast_s": fast,
                         "naive_s": None, "ratio": None,
                         "notes": f"{256 * steps / fast:.3g} member-steps/s"})
        numba.set_num_threads(before)
        start = time.perf_counter()
        E_naive = naive_step(E0, 1e-3, dt, naive_steps)
        naive = (time.perf_counter() - start) * steps / naive_steps
        E_fast = evolve(H, E0, [naive_steps * dt], lr=1e-3, method=method, dt=dt).E[-1]
        assert np.allclose(E_fast, E_naive, rtol=1e-9, atol=1e-12), "fast and naive disagree"
        fast = rows[-1]["fast_s"]
        rows.append({"name": f"{method} p=59 B=256: naive numpy vs numba", "fast_s": fast, "naive_s": naive,
                     "ratio": naive / fast,
                     "notes": f"naive: explicit A ({flow.A.shape[0]}x59), timed on {naive_steps} steps, scaled"})
    return rows


def _naive_vectorised_rqi(E, quads, delta=0.01):
    """numpy over parallelograms, a Python loop over the trajectory points."""
    p = E.shape[-2]
    thr = delta * 110 / (p * (p + 1))
    out = np.empty(E.shape[0])
    for t, Et in enumerate(E):
        En = (Et - Et.mean(axis=0)) / Et.std(axis=0, ddof=1)
        r = En[quads[:, 0]] + En[quads[:, 1]] - En[quads[:, 2]] - En[quads[:, 3]]
        out[t] = np.mean(np.mean(r**2, axis=1) < thr)
    return out


def _rqi_rows(points: int = 1000, naive_points: int = 2) -> list[dict]:
    split = Addition(59).split(frac=0.4, seed=0)
    H = linear_theory(split).H_hat
    E0 = np.random.default_rng(1).uniform(-0.5, 0.5, (59, 2))
    E = evolve(H, E0, np.geomspace(1, 3e6, points), lr=1e-3).E[:, 0]  # (1000, 59, 2), RQI 0 -> 1
    quads = parallelogram_quads(Addition(59))
    fast_values = rqi(E)
    fast = median_time(lambda: rqi(E), repeats=5)
    assert np.array_equal(fast_values, _naive_vectorised_rqi(E, quads))
    vec = median_time(lambda: _naive_vectorised_rqi(E, quads), repeats=3)
    picks = np.linspace(0, points - 1, naive_points).astype(int)
    start = time.perf_counter()
    twin = [naive_metrics.rqi(E[i]) for i in picks]
    naive = (time.perf_counter() - start) * points / naive_points
    assert np.allclose(twin, fast_values[picks])
    return [
        {"name": f"RQI p=59, {points}-point trajectory: twin vs numba", "fast_s": fast, "naive_s": naive,
         "ratio": naive / fast, "notes": f"twin timed on {naive_points} points, scaled; {quads.shape[0]} parallelograms"},
        {"name": f"RQI p=59, {points}-point trajectory: numpy vs numba", "fast_s": fast, "naive_s": vec,
         "ratio": vec / fast, "notes": "numpy vectorised over parallelograms"},
    ]


def _cli_rows(repeats: int = 3) -> list[dict]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, "-m", "efftheory", "simulate", "--p", "59", "--frac", "0.4", "--json"]

    def once():
        subprocess.run(cmd, env=env, check=True, capture_output=True)

    wall = median_time(once, repeats=repeats, warmup=1)
    return [{"name": "efftheory simulate --p 59 --frac 0.4 (wall)", "fast_s": wall, "naive_s": None,
             "ratio": None, "notes": f"fresh process, warm numba cache, median of {repeats}; target < 5 s"}]


def run() -> list[dict]:
    return _integrators() + _rqi_rows() + _cli_rows()


def main() -> None:
    print_rows(run())


if __name__ == "__main__":
    main()
