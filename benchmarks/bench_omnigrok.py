"""The Omnigrok MLP on digits: steps per second of the numba training loop against its numpy twin,
and FLOPs per step against this core's large float32 matrix-product rate.

Settings of paper_repro/omnigrok_grokking.py: 300 training images of scikit-learn's digits, the
500 test images, width 200, depth 3, MSE, AdamW, float32, records every 100 steps (whole
training split and test set); a second row with seeded mini-batches of 100 from 1000 images.
The twin (efftheory/reference/omnigrok.py) runs fewer steps, scaled. FLOPs count the matrix
products only (2 n_in n_out per row and layer: the forward pass, dW, and dX for every layer but
the first), plus the recorded steps' forward passes spread over their interval; the ceiling is
one 1024x1024 float32 product on one thread (benchmarks/bench_cellspeed.py).

Run: python -m benchmarks.bench_omnigrok
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import time  # noqa: E402

from benchmarks.bench_cellspeed import gemm_ceiling  # noqa: E402
from benchmarks.timing import median_time, print_rows  # noqa: E402
from efftheory.tasks.images import load_digits_task  # noqa: E402
from efftheory.models.omnigrok.training import OmnigrokConfig, train_omnigrok  # noqa: E402


def flops_per_step(dims, batch: int, n_train: int, n_test: int, eval_every: int) -> float:
    """Matrix-product FLOPs of one update on ``batch`` rows plus 1/eval_every of a recorded
    step's forward passes over the training split and the test set."""
    pairs = list(zip(dims[:-1], dims[1:]))
    macs = sum(a * b for a, b in pairs)
    update = 2 * batch * (2 * macs + sum(a * b for a, b in pairs[1:]))
    return update + 2 * (n_train + n_test) * macs / eval_every


def run(steps: int = 3000, naive_steps: int = 100) -> list[dict]:
    from efftheory.reference import omnigrok as naive

    task = load_digits_task()
    ceiling = gemm_ceiling()
    rows = []
    for n_train, batch in ((300, 0), (1000, 100)):
        split = task.split(n_train, 0)
        config = OmnigrokConfig(alpha=8.0, wd=0.1, batch_size=batch)
        train_omnigrok(split, config, steps=10, eval_every=100)  # compile or load the cache
        fast = median_time(lambda: train_omnigrok(split, config, steps=steps, eval_every=100), repeats=3)
        start = time.perf_counter()
        naive.train(split, config, naive_steps, eval_every=100)
        naive_s = (time.perf_counter() - start) * steps / naive_steps
        rows_per_update = n_train if batch == 0 else batch
        flops = flops_per_step(config.layer_dims(64, 10), rows_per_update, n_train, task.n_test, 100)
        rate = flops * steps / fast
        rows.append({
            "name": f"digits n={n_train} {'full batch' if batch == 0 else f'batch {batch}'}, {steps} steps",
            "fast_s": fast, "naive_s": naive_s, "ratio": naive_s / fast,
            "notes": f"{steps / fast:.0f} vs {steps / naive_s:.0f} steps/s; {flops / 1e6:.1f} MFLOP/step, "
                     f"{rate / 1e9:.1f} GFLOP/s = {rate / ceiling:.0%} of the 1024^3 float32 product's "
                     f"{ceiling / 1e9:.0f} GFLOP/s",
        })
    return rows


def main() -> None:
    print_rows(run())


if __name__ == "__main__":
    main()
