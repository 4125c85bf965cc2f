"""P_unique curve: one-pass incremental rank (numba) against the naive approach.

Naive (as one would write it first): for every n and every trial draw a random n-subset,
enumerate its parallelograms, build their constraint matrix and eigen-decompose A^T A.
The naive approach is timed on fewer trials; both are reported per trial and for the
10,000-trial curve (the naive total is extrapolated linearly, which is exact for a cost that
is the same for every trial).

Run: python -m benchmarks.bench_critical
"""

from __future__ import annotations

import time

import numba
import numpy as np

from benchmarks.timing import median_time, print_rows
from efftheory import critical_curve
from efftheory import Addition


def naive_curve(p: int, trials: int, seed: int = 0) -> np.ndarray:
    task = Addition(p)
    rng = np.random.default_rng(seed)
    N = task.n_samples
    out = np.zeros(N)
    for n in range(1, N + 1):
        hits = 0
        for _ in range(trials):
            pairs = task.pairs[rng.choice(N, size=n, replace=False)]
            sums = pairs.sum(axis=1)
            rows = []
            for a in range(n):
                for b in range(a + 1, n):
                    if sums[a] == sums[b]:
                        row = np.zeros(p)
                        np.add.at(row, pairs[a], 1.0)
                        np.add.at(row, pairs[b], -1.0)
                        rows.append(row)
            A = np.array(rows).reshape(-1, p)
            lam = np.linalg.eigvalsh(A.T @ A)
            rank = int(np.sum(lam > 1e-9 * max(1.0, lam.max())))
            hits += rank == p - 2
        out[n - 1] = hits / trials
    return out


def run(trials: int = 10_000, naive_trials: int = 20) -> list[dict]:
    rows = []
    critical_curve(10, trials=50)  # compile (or load the cache)
    before = numba.get_num_threads()
    for p, threads in [(10, 1), (10, before), (59, 1), (59, before)]:
        numba.set_num_threads(threads)
        fast = median_time(lambda: critical_curve(p, trials=trials), repeats=3 if p == 10 else 1, warmup=0)
        rows.append({"name": f"critical p={p}, {trials} trials, {threads} thread(s)", "fast_s": fast,
                     "naive_s": None, "ratio": None, "notes": "one-pass numba"})
    numba.set_num_threads(before)
    start = time.perf_counter()
    naive_curve(10, naive_trials)
    naive = (time.perf_counter() - start) * trials / naive_trials
    fast1 = rows[0]["fast_s"]
    rows.append({"name": f"critical p=10, {trials} trials: naive vs 1 thread", "fast_s": fast1,
                 "naive_s": naive, "ratio": naive / fast1,
                 "notes": f"naive timed on {naive_trials} trials, scaled to {trials}"})
    return rows


def main() -> None:
    print_rows(run())


if __name__ == "__main__":
    main()
