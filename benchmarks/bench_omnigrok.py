"""The Omnigrok MLP on digits: steps per second of the numba training loop against its numpy twin,
and FLOPs per step against this core's large float32 matrix-product rate.

Settings of paper_repro/omnigrok_grokking.py: 300 training images of scikit-learn's digits, the
500 test images, width 200, depth 3, MSE, AdamW, float32, records every 100 steps (whole
training split and test set); a second row with seeded mini-batches of 100 from 1000 images.
The twin (efftheory/reference/omnigrok.py) runs fewer steps, scaled. FLOPs count the matrix
products only (2 n_in n_out per row and layer: the forward pass, dW, and dX for every layer but
the first), plus the recorded steps' forward passes spread over their interval; the ceiling is
one 1024x1024 float32 product on one thread. Everything is timed in CPU seconds of this process
(one BLAS thread), not wall time: on a shared machine wall time measures the other users too,
and CPU time is what the run itself costs (the `fast_s` / `naive_s` columns are CPU seconds).

Run: python -m benchmarks.bench_omnigrok
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import time  # noqa: E402

import statistics  # noqa: E402

import numpy as np  # noqa: E402

from benchmarks.timing import print_rows  # noqa: E402
from efftheory.tasks.images import load_digits_task  # noqa: E402
from efftheory.models.omnigrok.training import OmnigrokConfig, train_omnigrok  # noqa: E402


def flops_per_step(dims, batch: int, n_train: int, n_test: int, eval_every: int) -> float:
    """Matrix-product FLOPs of one update on ``batch`` rows plus 1/eval_every of a recorded
    step's forward passes over the training split and the test set."""
    pairs = list(zip(dims[:-1], dims[1:]))
    macs = sum(a * b for a, b in pairs)
    update = 2 * batch * (2 * macs + sum(a * b for a, b in pairs[1:]))
    return update + 2 * (n_train + n_test) * macs / eval_every


def cpu_seconds(fn, repeats: int = 3) -> float:
    """Median CPU time of ``fn()`` over ``repeats`` calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return statistics.median(times)


def gemm_ceiling_cpu(n: int = 1024) -> float:
    """FLOP per CPU second of one n x n float32 matrix product on one BLAS thread (best of 5)."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n)).astype(np.float32) for _ in range(2))
    with threadpool_limits(1):
        best = min(cpu_seconds(lambda: a @ b, repeats=1) for _ in range(5))
    return 2 * n**3 / best


def run(steps: int = 3000, naive_steps: int = 100) -> list[dict]:
    from efftheory.reference import omnigrok as naive

    task = load_digits_task()
    ceiling = gemm_ceiling_cpu()
    rows = []
    for n_train, batch in ((300, 0), (1000, 100)):
        split = task.split(n_train, 0)
        config = OmnigrokConfig(alpha=8.0, wd=0.1, batch_size=batch)
        fast = cpu_seconds(lambda: train_omnigrok(split, config, steps=steps, eval_every=100))
        start = time.process_time()
        naive.train(split, config, naive_steps, eval_every=100)
        naive_s = (time.process_time() - start) * steps / naive_steps
        rows_per_update = n_train if batch == 0 else batch
        flops = flops_per_step(config.layer_dims(64, 10), rows_per_update, n_train, task.n_test, 100)
        rate = flops * steps / fast
        rows.append({
            "name": f"digits n={n_train} {'full batch' if batch == 0 else f'batch {batch}'}, {steps} steps",
            "fast_s": fast, "naive_s": naive_s, "ratio": naive_s / fast,
            "notes": f"{steps / fast:.0f} vs {steps / naive_s:.0f} steps per CPU s; {flops / 1e6:.1f} MFLOP/step, "
                     f"{rate / 1e9:.1f} GFLOP per CPU s = {rate / ceiling:.0%} of the 1024^3 float32 product's "
                     f"{ceiling / 1e9:.0f}",
        })
    return rows


def main() -> None:
    print_rows(run())


if __name__ == "__main__":
    main()
