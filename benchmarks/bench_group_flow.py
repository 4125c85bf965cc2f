"""Matrix flow of S3: the numba kernel (batch in parallel) against its numpy twin.

Riemannian descent with Armijo steps on SO(3)^6 over the full S3 table (90 equal-product pairs)
from 256 Haar-random starts, ``efftheory.theories.group.flow.group_flow`` against the numpy code one
would write first (the whole batch at once: residuals and gradients by fancy indexing, one
scipy ``expm`` per matrix and trial step; efftheory/reference/group_theory.py). Both take the
same 30 steps per member and must end at the same rotations (to 1e-6: both are exact to
round-off, but near a saddle the flow amplifies round-off, and one member in 32 differs by 4e-9
after 30 steps; the difference is reported). A last row times the
flow to rest (at most 20 000 steps), which is what ``outcome_curve`` runs per trial.

Run: python -m benchmarks.bench_group_flow
"""

from __future__ import annotations

import time

import numba
import numpy as np

from benchmarks.timing import median_time, print_rows
from efftheory.theories.group.flow import group_flow
from efftheory.theories.group.loss import group_quads, haar_rotations
from efftheory.reference.group_theory import BatchDescent
from efftheory.tasks import make_task

BATCH, STEPS = 256, 30


def run(naive_batch: int = 32) -> list[dict]:
    task = make_task("s3")
    quads = group_quads(task)
    M0 = haar_rotations((BATCH, task.p), 3, np.random.default_rng(0))
    group_flow(M0[:2], quads, max_steps=2)  # compile / load the cache
    rows = []
    before = numba.get_num_threads()
    for threads in sorted({1, before}):
        numba.set_num_threads(threads)
        fast = median_time(lambda: group_flow(M0, quads, max_steps=STEPS, n_record=2), repeats=3)
        rows.append({"name": f"group flow S3 SO(3) B={BATCH}, {STEPS} steps, {threads} thr", "fast_s": fast,
                     "naive_s": None, "ratio": None, "notes": f"{BATCH * STEPS / fast:.3g} member-steps/s"})
    numba.set_num_threads(before)
    twin = BatchDescent(task.cayley, quads)
    start = time.perf_counter()
    M_naive = twin.run(M0[:naive_batch], STEPS, 1e-9)
    naive = (time.perf_counter() - start) * BATCH / naive_batch
    M_fast = group_flow(M0[:naive_batch], quads, max_steps=STEPS).M
    gap = float(np.abs(M_fast - M_naive).max())
    assert gap < 1e-6, f"fast and naive disagree by {gap:.2g}"
    fast = rows[-1]["fast_s"]
    rows.append({"name": f"group flow S3 B={BATCH}: numpy vs numba", "fast_s": fast, "naive_s": naive,
                 "ratio": naive / fast, "notes": f"numpy timed on {naive_batch} members, scaled to {BATCH}; max |ΔM| {gap:.1g}"})
    rest = median_time(lambda: group_flow(M0, quads, n_record=2), repeats=3)
    flow = group_flow(M0, quads, n_record=2)
    rows.append({"name": f"group flow S3 B={BATCH} to rest", "fast_s": rest, "naive_s": None, "ratio": None,
                 "notes": f"median {np.median(flow.steps):.0f} steps, {int(flow.converged.sum())} of {BATCH} at rest"})
    return rows


def main() -> None:
    print_rows(run())


if __name__ == "__main__":
    main()
