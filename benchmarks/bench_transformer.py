"""The transformer: one full-batch training step, numba kernels against the numpy twin, at the
default size and at the paper's Fig 1 size, with the fraction of this core's float32 peak.

Sizes (ordered pairs of addition mod p, 80 % in training, float32, one BLAS thread):
- default: p = 23 (423 training pairs), d = 32, width 64, one block;
- paper Fig 1: p = 59 (2785 training pairs), d = 256, width 128, two blocks;
each without dropout and with it (0.1 at the default size, the paper's 0.05 at its size): the
masks cost one hash per dropped-or-kept unit, and the numpy twin draws the same masks.

FLOPs per step (:meth:`efftheory.models.transformer.config.TransformerConfig.flops_per_step`): the matrix
products only, 3 x forward, forward = n_train (2 L · 2 (4 d² + 2 d width) + 2 · 2d · p); the
attention scores, LayerNorm, softmax and AdamW are lower order. Peak = 32 float32 FLOP per cycle
(two 256-bit FMA units: 2 x 8 lanes x 2) x the clock read from /proc/cpuinfo ("cpu MHz", the
current clock, which may differ from the boost clock during the run).

The fast timing is ``train_transformer`` over k steps with evaluation only at the two ends
(k forward/backward/AdamW steps plus two passes over all samples, divided by k); the naive one
is the twin's forward, backward and AdamW (efftheory/reference/transformer.py) per step. The
notes also give the fast path's CPU time per step (``time.process_time``): on a shared machine
the wall time includes waiting for a core, the CPU time does not.

Run: python -m benchmarks.bench_transformer
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import time  # noqa: E402

import numpy as np  # noqa: E402

from benchmarks.timing import median_time, print_rows  # noqa: E402
from efftheory.models.dropout import base_key  # noqa: E402
from efftheory.tasks import ModularAddition  # noqa: E402
from efftheory.models.transformer.config import TransformerConfig  # noqa: E402
from efftheory.models.transformer.layout import init_params  # noqa: E402
from efftheory.models.transformer.training import train_transformer  # noqa: E402

#: float32 FLOP per cycle of one core with AVX2 and two FMA units
FLOP_PER_CYCLE = 32


def cpu_mhz() -> float | None:
    """The first core's clock in MHz from /proc/cpuinfo (None if unreadable)."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("cpu MHz"):
                    return float(line.split(":", 1)[1])
    except (OSError, ValueError):
        pass
    return None


def naive_steps(split, config, steps: int) -> None:
    """The twin's training step (forward, backward, AdamW on both groups), ``steps`` times."""
    from efftheory.reference import transformer as naive
    from efftheory.reference.network import adamw

    theta, layout = init_params(split.p, config)
    P = layout.unpack(theta)
    params = naive._tensors(P)
    ms = [np.zeros_like(q) for _, q in params]
    vs = [np.zeros_like(q) for _, q in params]
    hyper = {"embed": (config.embed_lr, config.embed_wd), "decoder": (config.decoder_lr, config.decoder_wd)}
    y = split.task.labels[split.train]
    base = base_key(config.seed)
    for t in range(steps):
        masks = (config.dropout, naive.step_key(base, t)) if config.dropout else None
        _, grads = naive.loss_and_grads(P, split.train_pairs, y, config.final_ln, masks)
        for (group, q), (_, g), m, v in zip(params, naive._tensors(grads), ms, vs):
            adamw(q, g, m, v, t + 1, *hyper[group])


def _row(name, p, config, fast_steps, naive_n, repeats):
    split = ModularAddition(p, ordered=True).split(frac=0.8, seed=0)
    train_transformer(split, config, 2, eval_every=2)  # compile or load the cache
    fast = median_time(lambda: train_transformer(split, config, fast_steps, eval_every=fast_steps),
                       repeats=repeats) / fast_steps
    cpu0 = time.process_time()  # CPU time of this process: on a shared machine, what the step cost us
    train_transformer(split, config, fast_steps, eval_every=fast_steps)
    cpu = (time.process_time() - cpu0) / fast_steps
    start = time.perf_counter()
    naive_steps(split, config, naive_n)
    naive = (time.perf_counter() - start) / naive_n
    flops = config.flops_per_step(split.n_train, p)
    mhz = cpu_mhz()
    rate, cpu_rate = flops / fast, flops / cpu
    peak = f", {rate / (FLOP_PER_CYCLE * mhz * 1e6):.1%} of the float32 peak {FLOP_PER_CYCLE * mhz / 1e3:.0f} GFLOP/s " \
           f"({FLOP_PER_CYCLE} FLOP/cycle x {mhz:.0f} MHz; {cpu_rate / (FLOP_PER_CYCLE * mhz * 1e6):.1%} per CPU second)" \
        if mhz else ""
    return {
        "name": f"{name}: one step, p={p} n={split.n_train} d={config.dim} w={config.width} L={config.layers}"
                + (f" dropout={config.dropout:g}" if config.dropout else ""),
        "fast_s": fast, "naive_s": naive, "ratio": naive / fast,
        "notes": f"{1 / fast:.1f} vs {1 / naive:.1f} steps/s (wall); {cpu:.3g} CPU s/step; {flops / 1e9:.3g} GFLOP/step, "
                 f"{rate / 1e9:.1f} GFLOP/s"
                 f"{peak}; fast over {fast_steps} steps x {repeats}, naive over {naive_n}",
    }


def run() -> list[dict]:
    return [
        _row("default size", 23, TransformerConfig(), 300, 20, 3),
        _row("default size", 23, TransformerConfig(dropout=0.1), 300, 20, 3),
        _row("paper Fig 1 size", 59, TransformerConfig.paper(dropout=0.0), 6, 2, 1),
        _row("paper Fig 1 size", 59, TransformerConfig.paper(), 6, 2, 1),
    ]


def main() -> None:
    print_rows(run())


if __name__ == "__main__":
    main()
