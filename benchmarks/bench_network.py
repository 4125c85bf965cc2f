"""The toy network: steps per second of the numba training loop against its numpy twin.

The default run of the paper: p = 10, 45 training samples, width 200, depth 2, MSE head,
float32, every step evaluated (train/test loss and accuracy, RQI and predicted accuracy of the
current embeddings). The naive twin (efftheory/reference/network.py) is a straightforward numpy
implementation of the same network (whole-array numpy, list of weights, AdamW term by term),
timed on fewer steps; one row with its per-step metrics (the metrics module called each step),
one without any metrics.

One core: BLAS is limited to one thread when this module is imported before numpy
(``python -m benchmarks.bench_network``).

Run: python -m benchmarks.bench_network
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import time  # noqa: E402

import numpy as np  # noqa: E402

from benchmarks.timing import median_time, print_rows  # noqa: E402
from efftheory import NetworkConfig, init_params, train_network  # noqa: E402
from efftheory import Addition  # noqa: E402


def naive_training_only(split, config, steps):
    """The twin's forward/backward/AdamW loop without evaluation (train loss only)."""
    from efftheory.reference import network as naive

    theta, layout, templates = init_params(split.p, config)
    E, Ws, bs = layout.unpack(theta.copy())
    params = [E] + Ws + bs
    lrs = [config.embed_lr] + [config.decoder_lr] * (2 * len(Ws))
    ms = [np.zeros_like(q) for q in params]
    vs = [np.zeros_like(q) for q in params]
    y = split.task.sums[split.train]
    for t in range(steps):
        _, gE, gWs, gbs = naive.loss_and_grads(E, Ws, bs, split.train_pairs, y, templates, config.loss)
        for q, g, m, v, lr in zip(params, [gE] + gWs + gbs, ms, vs, lrs):
            naive.adamw(q, g, m, v, t + 1, lr, 0.0)


def run(steps: int = 5000, naive_steps: int = 300) -> list[dict]:
    from efftheory.reference import network as naive

    split = Addition(10).split(n_train=45, seed=0)
    rows = []
    for loss in ("mse", "ce"):
        config = NetworkConfig(loss=loss)
        train_network(split, config, steps=10)  # compile or load the cache
        fast = median_time(lambda: train_network(split, config, steps=steps), repeats=3)
        start = time.perf_counter()
        naive.train(split, config, naive_steps)
        naive_s = (time.perf_counter() - start) * steps / naive_steps
        rows.append({
            "name": f"train p=10 n=45 {loss}, {steps} steps, metrics every step", "fast_s": fast,
            "naive_s": naive_s, "ratio": naive_s / fast,
            "notes": f"{steps / fast:.0f} vs {steps / naive_s:.0f} steps/s; naive on {naive_steps} steps, scaled",
        })
    config = NetworkConfig()
    fast = median_time(lambda: train_network(split, config, steps=steps, eval_every=steps), repeats=3)
    start = time.perf_counter()
    naive_training_only(split, config, naive_steps)
    naive_s = (time.perf_counter() - start) * steps / naive_steps
    rows.append({
        "name": f"train p=10 n=45 mse, {steps} steps, no metrics", "fast_s": fast, "naive_s": naive_s,
        "ratio": naive_s / fast,
        "notes": f"{steps / fast:.0f} vs {steps / naive_s:.0f} steps/s; forward/backward/AdamW only",
    })
    return rows


def main() -> None:
    print_rows(run())


if __name__ == "__main__":
    main()
