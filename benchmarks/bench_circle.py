"""Circle flow: the numba kernel (batch in parallel) against its numpy twin.

Gradient descent and RK4 on ℓ_circ at p = 59 with 256 initial conditions (uniform random
phases), training set: 40% of the unordered samples, seed 0 (its modular parallelograms).
``efftheory.theories.circle.flow.circle_flow`` against the numpy code one would write first (constraint matrix
A, φ = Θ Aᵀ and ∇ℓ = sin(φ) A / M for the whole batch, one Python-level step at a time;
efftheory/reference/circle.py). The twin is timed on fewer steps and scaled linearly (its cost per step
is constant); both end at the same phases. A last row times the flow through class sums
(``circle_flow(samples=...)``, O(n) per step) against the parallelogram kernel (O(M)).

Run: python -m benchmarks.bench_circle
"""

from __future__ import annotations

import time

import numba
import numpy as np

from benchmarks.timing import median_time, print_rows
from efftheory.theories.circle.flow import circle_flow, curvature_bound
from efftheory.theories.circle.ring import modular_quads
from efftheory import ModularAddition
from efftheory.reference.circle import BatchFlow

P, BATCH, FRAC = 59, 256, 0.4


def _problem():
    rng = np.random.default_rng(0)
    samples = ModularAddition(P).pairs
    train = samples[np.sort(rng.choice(len(samples), round(FRAC * len(samples)), replace=False))]
    quads = modular_quads(P, train)
    theta0 = rng.uniform(0, 2 * np.pi, (BATCH, P))
    return train, quads, theta0


def _class_sums_row(train, quads, theta0, lr, steps: int) -> dict:
    by_class = lambda: circle_flow(theta0, samples=train, times=[steps], lr=lr)  # noqa: E731
    by_quads = lambda: circle_flow(theta0, quads, times=[steps], lr=lr)  # noqa: E731
    assert np.allclose(by_class().theta, by_quads().theta, atol=1e-9)
    fast, slow = median_time(by_class, repeats=3), median_time(by_quads, repeats=3)
    return {"name": f"gd p={P} B={BATCH}: parallelograms vs class sums", "fast_s": fast, "naive_s": slow,
            "ratio": slow / fast, "notes": f"{len(train)} samples vs {quads.shape[0]} parallelograms per step"}


def run(steps: int = 400, naive_steps: int = 10) -> list[dict]:
    train, quads, theta0 = _problem()
    lr = 1.0 / curvature_bound(P, quads)
    twin = BatchFlow(P, quads)
    rows = []
    before = numba.get_num_threads()
    for method in ("gd", "rk4"):
        dt = 1.0 if method == "gd" else 0.5
        kw = {} if method == "gd" else {"dt": dt}
        circle_flow(theta0[:2], quads, times=[0.0, 2 * dt], lr=lr, method=method, **kw)  # compile / load cache
        for threads in sorted({1, before}):
            numba.set_num_threads(threads)
            fast = median_time(lambda: circle_flow(theta0, quads, times=[steps * dt], lr=lr, method=method, **kw), repeats=3)
            rows.append({"name": f"circle {method} p={P} B={BATCH}, {steps} steps, {threads} thr", "fast_s": fast,
                         "naive_s": None, "ratio": None, "notes": f"{BATCH * steps / fast:.3g} member-steps/s"})
        numba.set_num_threads(before)
        start = time.perf_counter()
        theta_naive = twin.run(theta0, lr, naive_steps, scheme=method, dt=dt)
        naive = (time.perf_counter() - start) * steps / naive_steps
        theta_fast = circle_flow(theta0, quads, times=[naive_steps * dt], lr=lr, method=method, **kw).theta[-1]
        assert np.allclose(theta_fast, theta_naive, rtol=1e-9, atol=1e-11), "fast and naive disagree"
        fast = rows[-1]["fast_s"]
        rows.append({"name": f"circle {method} p={P} B={BATCH}: numpy vs numba", "fast_s": fast, "naive_s": naive,
                     "ratio": naive / fast,
                     "notes": f"numpy: A ({quads.shape[0]}x{P}) for the batch, timed on {naive_steps} steps, scaled"})
    rows.append(_class_sums_row(train, quads, theta0, lr, steps))
    return rows


def main() -> None:
    print_rows(run())


if __name__ == "__main__":
    main()
