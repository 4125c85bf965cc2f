"""The embedding MLP ReLU(E_a + E_b) W_out: one full-batch training step, numba kernels against
the numpy twin, at the study's size and at the width that grokked here.

Sizes (unordered pairs of addition mod 67, half of the 2278 in training, float32 for the fast
path, one BLAS thread): d = 24 and d = 128, CE head. The fast timing is ``train_embed_mlp`` over
k steps with the test rows evaluated only at the two ends, divided by k; the naive one is the
twin's forward, backward and AdamW (efftheory/reference/embed_mlp.py, float64) per step. FLOPs
per step: the matrix products only, 3 x (2 n_train d p) for the read-out (forward, and the two
products of its backward); the embedding sums and the head are lower order.

Run: python -m benchmarks.bench_embed_mlp
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import time  # noqa: E402

import numpy as np  # noqa: E402

from benchmarks.timing import median_time, print_rows  # noqa: E402
from efftheory.models.embed_mlp import EmbedMLPConfig, init_params, token_lists, train_embed_mlp  # noqa: E402
from efftheory.tasks import ModularAddition  # noqa: E402


def naive_steps(split, config, steps: int) -> None:
    """The twin's training step (forward, backward, AdamW), ``steps`` times."""
    from efftheory.reference import embed_mlp as naive

    ptr, idx, labels, n_tok, n_classes = token_lists(split)
    nt = split.n_train
    tokens = [idx[ptr[r]:ptr[r + 1]].tolist() for r in range(nt)]
    theta, layout = init_params(n_tok, n_classes, config)
    E, Ws, bs = layout.unpack(theta.astype(np.float64))
    params = [E, *Ws]
    ms = [np.zeros_like(q) for q in params]
    vs = [np.zeros_like(q) for q in params]
    for t in range(steps):
        _, gE, gWs, _ = naive.loss_and_grads(E, Ws, bs, tokens, labels[:nt], config.loss)
        for q, g, m, v in zip(params, [gE, *gWs], ms, vs):
            m[...] = naive.BETA1 * m + (1 - naive.BETA1) * g
            v[...] = naive.BETA2 * v + (1 - naive.BETA2) * g * g
            mhat, vhat = m / (1 - naive.BETA1 ** (t + 1)), v / (1 - naive.BETA2 ** (t + 1))
            q[...] = q * (1 - config.lr * config.wd) - config.lr * mhat / (np.sqrt(vhat) + naive.EPS)


def _row(dim: int, fast_steps: int, naive_n: int, repeats: int) -> dict:
    split = ModularAddition(67).split(frac=0.5, seed=0)
    config = EmbedMLPConfig(dim=dim)
    train_embed_mlp(split, config, 2, eval_every=2)  # compile or load the cache
    fast = median_time(lambda: train_embed_mlp(split, config, fast_steps, eval_every=fast_steps),
                       repeats=repeats) / fast_steps
    cpu0 = time.process_time()
    train_embed_mlp(split, config, fast_steps, eval_every=fast_steps)
    cpu = (time.process_time() - cpu0) / fast_steps
    start = time.perf_counter()
    naive_steps(split, config, naive_n)
    naive = (time.perf_counter() - start) / naive_n
    flops = 3 * 2 * split.n_train * dim * 67
    return {
        "name": f"one step, p=67 n={split.n_train} d={dim}",
        "fast_s": fast, "naive_s": naive, "ratio": naive / fast,
        "notes": f"{1 / fast:.0f} vs {1 / naive:.1f} steps/s (wall); {cpu:.3g} CPU s/step; {flops / 1e6:.3g} MFLOP/step "
                 f"in the products, {flops / fast / 1e9:.2f} GFLOP/s; fast over {fast_steps} steps x {repeats}, "
                 f"naive over {naive_n}",
    }


def run() -> list[dict]:
    return [_row(24, 2000, 5, 3), _row(128, 1000, 5, 3)]


def main() -> None:
    print_rows(run())


if __name__ == "__main__":
    main()
