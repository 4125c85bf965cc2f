"""Where the time of one toy-network training step goes: forward, tanh, head, backward, AdamW, evaluation.

Each part is timed by a small numba loop that calls only that kernel of efftheory.models.toy.kernels
``repeats`` times on fixed arrays (no Python between calls; best of 3 in CPU seconds), so the
numbers are per call of the part alone. The forward is timed over all N = 55 samples (what every
training step does), over the nt = 45 training rows alone and over the 10 test rows alone: a
step that forwarded the training rows for the gradient and the test rows separately (to know
the test accuracy of every step) would pay the last two instead of the first. The head is timed
on the training rows (with dL/dout) and on the test rows, as a step calls it. The GEMM rows time
``np.dot`` alone on the shapes of the step (forward H W over the N rows, backward H^T D and
D W^T over the nt training rows, per layer).
"normalise + RQI" is what a step costs until RQI crosses 0.95; "+ predicted acc" what a
recorded step adds. The last two rows are whole steps through ``train_network``: every step
recorded, and records at step 0 and the end only (the sweep's cell path).

The benchmarks' toy (benchmarks/bench_torch.py): p = 10, n_train = 45 (split seed 0), the
default config (width 200, depth 2, float32) with the ``--loss`` head (MSE, or CE), after 300
training steps (the cost does not depend on the values). One core: BLAS and numba's parallel
kernels limited to one thread (efftheory.runtime.threads.compute_threads).

``--model transformer`` profiles one training step of the transformer instead (:func:`profile_transformer`):
at the default size (p = 23, d = 32) or with ``--paper`` at the paper's Fig 1 size (p = 59,
d = 256, width 128, two blocks, dropout 0.05), the parts of the forward and backward passes
each timed alone on the shapes of the step, with BLAS and numba's parallel kernels on
``--threads`` threads (default 1; on one thread the times are CPU seconds, which on a shared
machine leave out the waits for a core, on more the wall clock).

Run: python -m benchmarks.profile_step [--loss mse|ce] [--repeats 2000]
     python -m benchmarks.profile_step --model transformer [--paper] [--dropout RATE] [--threads N] [--repeats R]
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
from numba import njit

from efftheory.models import shared_kernels as shared
from efftheory.models.toy import kernels as net
from efftheory.models.toy import training
from efftheory.models.toy.config import NetworkConfig
from efftheory.runtime.threads import compute_threads
from efftheory.tasks import Addition
from efftheory.theories.linear.metrics import count_holding, count_implied, normalize_into, threshold


@njit(cache=True, error_model="numpy")
def _loop_forward(R, theta, dims, w_off, b_off, a_off, acts, pi, pj, n, d, one, fast):
    for _ in range(R):
        net._forward(theta, dims, w_off, b_off, a_off, acts, pi, pj, n, d, one, fast, 0)


@njit(cache=True, error_model="numpy")
def _loop_head(R, out, labels, templates, is_ce, n0, n1, G, scale):
    s = 0.0
    for _ in range(R):
        s += shared.head(out, labels, templates, is_ce, n0, n1, G, True, scale)[0]
    return s


@njit(cache=True, error_model="numpy")
def _loop_head_eval(R, out, labels, templates, is_ce, n0, n1, G):
    s = 0.0
    for _ in range(R):
        s += shared.head(out, labels, templates, is_ce, n0, n1, G, False, 0.0)[0]
    return s


@njit(cache=True, error_model="numpy")
def _loop_backward(R, theta, grad, dims, w_off, b_off, a_off, acts, g1, g2, pi, pj, nt, n_rows, d, one):
    for _ in range(R):
        net._backward(theta, grad, dims, w_off, b_off, a_off, acts, g1, g2, pi, pj, nt, n_rows, d, one, 0, 0.0)


@njit(cache=True, error_model="numpy")
def _loop_adamw(R, theta, grad, m, v, n_embed, lr_e, wd_e, lr_d, wd_d, c):
    for t in range(R):
        shared.adamw(theta, grad, m, v, 1000 + t, n_embed, lr_e, wd_e, lr_d, wd_d, c)


@njit(cache=True, error_model="numpy")
def _loop_representable(R, theta, limit):
    ok = 0
    for _ in range(R):
        ok += shared.representable(theta, limit)
    return ok


@njit(cache=True, error_model="numpy")
def _loop_tanh(R, Z, one):
    """The activation loop of the two hidden layers alone (fast Padé tanh, in place)."""
    for _ in range(R):
        for k in range(Z.size):
            Z[k] = net._tanh_fast(Z[k], one)


@njit(cache=True, error_model="numpy")
def _loop_metrics(R, E, En, all_pairs, all_ptr, test_pairs, test_labels, tr_pairs, tr_ptr, thr, implied):
    s = 0
    for _ in range(R):
        normalize_into(E, En)
        s += count_holding(En, all_pairs, all_ptr, thr)
        if implied:
            s += count_implied(En, test_pairs, test_labels, tr_pairs, tr_ptr, thr)
    return s


@njit(cache=True, error_model="numpy")
def _loop_gemm(R, A, B, C):
    for _ in range(R):
        np.dot(A, B, C)


@njit(cache=True, error_model="numpy")
def _loop_gemm_tn(R, A, B, C):
    for _ in range(R):
        np.dot(A.T, B, C)


@njit(cache=True, error_model="numpy")
def _loop_gemm_nt(R, A, B, C):
    for _ in range(R):
        np.dot(A, B.T, C)


def _per_call(fn, R: int, tries: int = 3) -> float:
    """Best of ``tries`` of (CPU seconds for R calls) / R, after one warm-up call of the loop
    (one thread: CPU time leaves out the waits for a core of a shared machine)."""
    fn(1)
    best = np.inf
    for _ in range(tries):
        start = time.process_time()
        fn(R)
        best = min(best, (time.process_time() - start) / R)
    return best


def setup(loss: str = "mse", warm_steps: int = 300):
    """The benchmarks' toy problem (Addition(10), 45 training samples of split seed 0, default
    config with ``loss``) and its parameters after ``warm_steps`` training steps."""
    split = Addition(10).split(n_train=45, seed=0)
    config = NetworkConfig(loss=loss)
    prob = training._Problem(split, config)
    theta = prob.theta.copy()
    lay = prob.layout
    m, v, grad = np.zeros_like(theta), np.zeros_like(theta), np.zeros_like(theta)
    arrays = prob.metric_arrays(split)
    rec_f, rec_emb = np.zeros((warm_steps + 3, 7)), np.zeros((warm_steps + 3, split.p, prob.d))
    limit = training._below_in(theta.dtype, shared.divergence_limit(theta.dtype))
    net._train_chunk(theta, m, v, grad, lay.dims, lay.w_off, lay.b_off, lay.a_off, prob.acts, prob.gbuf1,
                     prob.gbuf2, prob.pi, prob.pj, prob.labels, prob.templates, prob.is_ce, prob.nt, prob.N,
                     split.p, prob.d, config.embed_lr, config.embed_wd, config.decoder_lr, config.decoder_wd,
                     0, warm_steps, warm_steps, warm_steps, False, *arrays, prob.threshold(split.p, 0.01), rec_f,
                     rec_emb, np.zeros(1, np.int64), np.full(3, -1, np.int64), prob.fast, limit, 0, 0.0)
    return split, config, prob, theta


def profile(repeats: int = 2000, loss: str = "mse") -> dict:
    """Seconds per call of each part (dict name -> seconds) and the shapes used."""
    split, config, prob, theta = setup(loss)
    lay = prob.layout
    dims, w_off, b_off, a_off = lay.dims, lay.w_off, lay.b_off, lay.a_off
    nt, N, d, p = prob.nt, prob.N, prob.d, split.p
    n_test = N - nt
    one = np.float32(1)
    L = dims.size - 1
    no = int(dims[-1])
    acts = prob.acts
    acts_te = np.zeros_like(acts)
    pi_te, pj_te = prob.pi[nt:].copy(), prob.pj[nt:].copy()
    grad = np.zeros_like(theta)
    m = np.full_like(theta, 1e-3)
    v = np.full_like(theta, 1e-6)
    c = np.ones(9, theta.dtype)
    R = repeats
    out = {}

    def fw(n, buf, a, b):
        return lambda r: _loop_forward(r, theta, dims, w_off, b_off, a_off, buf, a, b, n, d, one, True)

    out["forward (train rows, nt)"] = _per_call(fw(nt, acts_te, prob.pi, prob.pj), R)
    out["forward (test rows)"] = _per_call(fw(n_test, acts_te, pi_te, pj_te), R)
    out["forward (all rows, N; what a step does)"] = _per_call(fw(N, acts, prob.pi, prob.pj), R)
    net._forward(theta, dims, w_off, b_off, a_off, acts, prob.pi, prob.pj, N, d, one, True, 0)
    outm = acts[a_off[L] * N: (a_off[L] + no) * N].reshape(N, no)
    G = prob.gbuf1[: nt * no].reshape(nt, no)
    is_ce = prob.is_ce
    out["head + dL/dout (train rows)"] = _per_call(
        lambda r: _loop_head(r, outm, prob.labels, prob.templates, is_ce, 0, nt, G, 1.0 / nt), R)
    out["head (test rows)"] = _per_call(
        lambda r: _loop_head_eval(r, outm, prob.labels, prob.templates, is_ce, nt, N, G), R)
    shared.head(outm, prob.labels, prob.templates, is_ce, 0, nt, G, True, 1.0 / nt)
    g1, g2 = prob.gbuf1.copy(), prob.gbuf2.copy()
    out["backward"] = _per_call(
        lambda r: _loop_backward(r, theta, grad, dims, w_off, b_off, a_off, acts, g1.copy() if r == 1 else g1, g2,
                                 prob.pi, prob.pj, nt, N, d, one), R)
    th = theta.copy()
    out["AdamW"] = _per_call(
        lambda r: _loop_adamw(r, th, grad * 0 + np.float32(1e-4), m, v, p * d, 1e-3, 0.0, 1e-3, 5.0, c), R)
    limit = training._below_in(theta.dtype, shared.divergence_limit(theta.dtype))
    out["divergence test (pass over theta)"] = _per_call(lambda r: _loop_representable(r, th, limit), R)
    hidden = np.random.default_rng(0).standard_normal(N * int(dims[1:L].sum())).astype(np.float32)
    out["tanh (hidden layers, N rows)"] = _per_call(lambda r: _loop_tanh(r, hidden, one), R)
    # the matrix products of one step (forward: H W; backward: H^T D and D W^T per layer)
    gemm = 0.0
    for l in range(L):
        ni, nout = int(dims[l]), int(dims[l + 1])
        HN = np.ones((N, ni), np.float32)
        H = HN[:nt]
        W = np.ones((ni, nout), np.float32)
        Z = np.empty((N, nout), np.float32)
        D = np.ones((nt, nout), np.float32)
        gW = np.empty((ni, nout), np.float32)
        Dn = np.empty((nt, ni), np.float32)
        f = _per_call(lambda r: _loop_gemm(r, HN, W, Z), R)
        tn = _per_call(lambda r: _loop_gemm_tn(r, H, D, gW), R)
        nt_ = _per_call(lambda r: _loop_gemm_nt(r, D, W, Dn), R)
        out[f"GEMM layer {l} ({N}x{ni} @ {ni}x{nout}; nt rows: H^T D; D W^T)"] = f + tn + nt_
        gemm += f + tn + nt_
    out["GEMM total (3 per layer)"] = gemm
    arrays = prob.metric_arrays(split)
    all_pairs, all_ptr, _, test_pairs, test_labels, tr_pairs, tr_ptr = arrays
    E = theta[: p * d].reshape(p, d)
    En = np.empty((p, d))
    thr = threshold(p)
    out["normalise + RQI"] = _per_call(
        lambda r: _loop_metrics(r, E, En, all_pairs, all_ptr, test_pairs, test_labels, tr_pairs, tr_ptr, thr, False), R)
    out["normalise + RQI + predicted acc"] = _per_call(
        lambda r: _loop_metrics(r, E, En, all_pairs, all_ptr, test_pairs, test_labels, tr_pairs, tr_ptr, thr, True), R)
    # whole training steps through the public path: plain (every step recorded) and sparse records
    steps = max(R, 1000)
    training.train_network(split, config, steps=20)
    for k, name in ((1, "whole step, records every step"), (steps, "whole step, records at 0 and end")):
        best = np.inf
        for _ in range(3):
            start = time.process_time()
            training.train_network(split, config, steps=steps, eval_every=k, threads=1)
            best = min(best, (time.process_time() - start) / steps)
        out[name] = best
    return out


_CLOCK = [time.perf_counter]  # the transformer profile's clock (main: CPU time on one thread)


def _best(fn, repeats: int, tries: int = 3) -> float:
    """Best of ``tries`` of the mean time of ``repeats`` calls of ``fn()`` on :data:`_CLOCK`, after one call."""
    clock = _CLOCK[0]
    fn()
    best = np.inf
    for _ in range(tries):
        start = clock()
        for _ in range(repeats):
            fn()
        best = min(best, (clock() - start) / repeats)
    return best


def profile_transformer(paper: bool = False, repeats: int = 20, dropout: float | None = None) -> dict:
    """Seconds per call of each part of one transformer training step (dict name -> seconds).

    The parts are the kernels of efftheory.models.transformer called one at a time on the activations
    of a real training pass (the masks of step 0 when the config has dropout); "GEMM" rows are
    ``np.dot`` alone on the step's shapes (forward: one product per linear layer; backward: two).
    "serial loops" is what the forward and backward passes spend outside the matrix products.
    """
    from efftheory.models.transformer import kernels as tf
    from efftheory.models.transformer import layout as tl
    from efftheory.models.transformer import ops
    from efftheory.models.transformer import training as tft
    from efftheory.models.transformer.config import TransformerConfig
    from efftheory.tasks import ModularAddition

    p = 59 if paper else 23
    config = TransformerConfig.paper() if paper else TransformerConfig(dropout=0.1)
    if dropout is not None:
        config = dataclasses.replace(config, dropout=dropout)
    split = ModularAddition(p, ordered=True).split(frac=0.8, seed=0)
    prob = tft._Problem(split, config)
    lay, theta = prob.layout, prob.theta
    aoff, acts, pi, pj, labels = prob.sets["train"]
    nt, d, w, L = prob.nt, config.dim, config.width, config.layers
    R = 2 * nt
    rate, key = prob._dropout(0)
    grad = np.zeros_like(theta)
    G = tl._view(prob.gbuf, 0, nt, p)
    out = {}

    def fwd():
        tf._forward(theta, lay.block_off, lay.head_off, aoff, acts, pi, pj, nt, p, d, w, prob.eps, rate, key)

    def bwd():
        tf._backward(theta, grad, lay.block_off, lay.head_off, aoff, acts, prob.gx, prob.gh, prob.gqkv, prob.go,
                     prob.gu, G, pi, pj, nt, p, d, w, rate)

    fwd()
    logit = tl._view(acts, aoff[tl.LOGITS, 0], nt, p)
    shared.head(logit, labels, prob.templates, True, 0, nt, G, True, 1.0 / nt)
    out["forward (train rows)"] = _best(fwd, repeats)
    out["head + dL/dlogits"] = _best(lambda: shared.head(logit, labels, prob.templates, True, 0, nt, G, True, 1.0 / nt),
                                     repeats)
    out["backward"] = _best(bwd, repeats)
    m, v = np.zeros_like(theta), np.zeros_like(theta)
    hyper, c = tft._hyper(config), np.ones(8, theta.dtype)
    th = theta.copy()
    out["AdamW"] = _best(lambda: tf._update(th, grad, m, v, 10, lay.n_embed, hyper, c), repeats)
    limit = shared.divergence_limit(theta.dtype)
    out["divergence test"] = _best(lambda: shared.representable(theta, limit), repeats)
    # the products of one step, alone
    rng = np.random.default_rng(0)
    shapes = [(R, d, 3 * d), (R, d, d), (R, d, w), (R, w, d)] * L + [(nt, 2 * d, p)]
    gemm = 0.0
    for rows, k, n in shapes:
        A = rng.standard_normal((rows, k)).astype(theta.dtype)
        B = rng.standard_normal((k, n)).astype(theta.dtype)
        C = np.empty((rows, n), theta.dtype)
        D = rng.standard_normal((rows, n)).astype(theta.dtype)
        gB, gA = np.empty((k, n), theta.dtype), np.empty((rows, k), theta.dtype)
        gemm += _best(lambda: np.dot(A, B, C), repeats) + _best(lambda: np.dot(A.T, D, gB), repeats) \
            + _best(lambda: np.dot(D, B.T, gA), repeats)
    out["GEMM, all products of forward + backward"] = gemm
    # the loops between the products, alone (every call of the step)
    Xl = tl._view(acts, aoff[tl.X, 0], R, d)
    H, Xhat, rstd = (np.empty((R, d), theta.dtype), np.empty((R, d), theta.dtype), np.empty((R, 1), theta.dtype))
    g1, b1 = np.ones(d, theta.dtype), np.zeros(d, theta.dtype)
    ops._ln_forward(Xl, g1, b1, Xhat, rstd, H, prob.eps)
    gX, gg, gb = np.zeros((R, d), theta.dtype), np.zeros(d, theta.dtype), np.zeros(d, theta.dtype)
    n_ln = 2 * L + (1 if config.final_ln else 0)
    out[f"LayerNorm forward x {n_ln}"] = n_ln * _best(lambda: ops._ln_forward(Xl, g1, b1, Xhat, rstd, H, prob.eps),
                                                      repeats)
    out[f"LayerNorm backward x {n_ln}"] = n_ln * _best(lambda: ops._ln_backward(H, Xhat, rstd, g1, gX, gg, gb), repeats)
    Q = tl._view(acts, aoff[tl.QKV, 0], R, 3 * d)
    A = tl._view(acts, aoff[tl.ATT, 0], R, 2)
    Ov, gO, gQ = np.empty((R, d), theta.dtype), np.ones((R, d), theta.dtype), np.empty((R, 3 * d), theta.dtype)
    DA = tl._view(acts, aoff[tl.DA, 0], R, 2) if rate else tl._view(acts, 0, 0, 2)
    scale = 1.0 / np.sqrt(d)
    out[f"attention forward x {L}"] = L * _best(lambda: ops._attention(Q, A, Ov, nt, d, scale, DA, rate > 0), repeats)
    out[f"attention backward x {L}"] = L * _best(
        lambda: ops._attention_backward(Q, A, gO, gQ, nt, d, scale, DA, rate > 0), repeats)
    if rate:
        M2, Md, Mw = np.empty((R, 2), theta.dtype), np.empty((R, d), theta.dtype), np.empty((R, w), theta.dtype)
        out[f"dropout masks x {L} (4 sites)"] = L * sum(
            _best(lambda M=M: ops._fill_mask(M, key, 0, rate), repeats) for M in (M2, Md, Mw, Md))
    out["serial loops (forward + backward - GEMM)"] = out["forward (train rows)"] + out["backward"] - gemm
    out["whole step (forward, head, backward, AdamW, divergence test)"] = (
        out["forward (train rows)"] + out["head + dL/dlogits"] + out["backward"] + out["AdamW"] + out["divergence test"])
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=None, help="calls per timing (default 2000; transformer 20)")
    parser.add_argument("--model", choices=("toy", "transformer"), default="toy")
    parser.add_argument("--loss", choices=("mse", "ce"), default="mse", help="toy: the head")
    parser.add_argument("--paper", action="store_true", help="transformer: the paper's Fig 1 size")
    parser.add_argument("--dropout", type=float, default=None,
                        help="transformer: the dropout rate (default: 0.1 at p = 23, the paper's 0.05 with --paper)")
    parser.add_argument("--threads", type=int, default=1, help="transformer: BLAS and numba threads (default 1)")
    args = parser.parse_args(argv)
    if args.model == "toy":
        with compute_threads(1):
            parts = profile(args.repeats or 2000, args.loss)
    else:
        # one thread: CPU seconds of this process, which on a shared machine leave out the waits
        # for a core that the wall clock counts; more threads: the wall clock
        _CLOCK[0] = time.process_time if args.threads == 1 else time.perf_counter
        with compute_threads(args.threads):
            parts = profile_transformer(args.paper, args.repeats or (5 if args.paper else 200), args.dropout)
    for name, sec in parts.items():
        print(f"{name:<62} {1e6 * sec:11.1f} us")


if __name__ == "__main__":
    main()
