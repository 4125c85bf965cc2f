"""Where the time of one toy-network training step goes: forward, tanh, head, backward, AdamW, evaluation.

Each part is timed by a small numba loop that calls only that kernel of efftheory.models.toy.kernels
``repeats`` times on fixed arrays (no Python between calls; best of 3), so the numbers are per
call of the part alone. The forward is timed over all N = 55 samples (what every training step
does), over the nt = 45 training rows alone and over the 10 test rows alone: a step that
forwarded the training rows for the gradient and the test rows separately (to know the test
accuracy of every step) would pay the last two instead of the first. The GEMM rows time
``np.dot`` alone on the shapes of the step (forward H W, backward H^T D and D W^T per layer).
"normalise + RQI" is what a step costs until RQI crosses 0.95; "+ predicted acc" what a
recorded step adds. The last two rows are whole steps through ``train_network``: every step
recorded, and records at step 0 and the end only (the sweep's cell path).

The paper's toy at p = 10, n_train = 45 (split seed 3), width 200, depth 2, MSE head, float32,
embeddings after 300 training steps of decoder lr 1e-3, decoder wd 5 (the cost does not depend
on the values). One core: BLAS is limited to one thread when this module is imported before
numpy.

Run: python -m benchmarks.profile_step [--repeats 2000]
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from numba import njit  # noqa: E402

from efftheory.models import shared_kernels as shared  # noqa: E402
from efftheory.models.toy import kernels as net  # noqa: E402
from efftheory.models.toy import training  # noqa: E402
from efftheory.theories.linear.metrics import count_holding, count_implied, normalize_into, threshold  # noqa: E402
from efftheory.tasks import Addition  # noqa: E402


@njit(cache=True, error_model="numpy")
def _loop_forward(R, theta, dims, w_off, b_off, a_off, acts, pi, pj, n, d, one, fast):
    for _ in range(R):
        net._forward(theta, dims, w_off, b_off, a_off, acts, pi, pj, n, d, one, fast)


@njit(cache=True, error_model="numpy")
def _loop_head(R, out, labels, templates, is_ce, n0, n1, G, scale):
    s = 0.0
    for _ in range(R):
        s += shared.head(out, labels, templates, is_ce, n0, n1, G, True, scale)[0]
    return s


@njit(cache=True, error_model="numpy")
def _loop_backward(R, theta, grad, dims, w_off, b_off, a_off, acts, g1, g2, pi, pj, nt, d, one):
    for _ in range(R):
        net._backward(theta, grad, dims, w_off, b_off, a_off, acts, g1, g2, pi, pj, nt, nt, d, one)


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
    """Best of ``tries`` of (seconds for R calls) / R, after one warm-up call of the loop."""
    fn(1)
    best = np.inf
    for _ in range(tries):
        start = time.perf_counter()
        fn(R)
        best = min(best, (time.perf_counter() - start) / R)
    return best


def setup(decoder_lr: float = 1e-3, decoder_wd: float = 5.0, warm_steps: int = 300):
    """The problem and its state after ``warm_steps`` training steps."""
    split = Addition(10).split(n_train=45, seed=3)
    config = net.NetworkConfig(decoder_lr=decoder_lr, decoder_wd=decoder_wd, seed=0)
    run = net.train_network(split, config, steps=warm_steps, eval_every=warm_steps)
    prob = training._Problem(split, config)
    theta = prob.theta.copy()
    theta[: prob.layout.n_embed] = run.E_final.ravel()  # realistic embeddings; decoder values barely matter
    return split, config, prob, theta


def profile(repeats: int = 2000) -> dict:
    """Seconds per call of each part (dict name -> seconds) and the shapes used."""
    split, config, prob, theta = setup()
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

    out["forward (train rows, nt)"] = _per_call(fw(nt, acts, prob.pi, prob.pj), R)
    out["forward (all rows, N)"] = _per_call(fw(N, acts, prob.pi, prob.pj), R)
    out["forward (test rows)"] = _per_call(fw(n_test, acts_te, pi_te, pj_te), R)
    net._forward(theta, dims, w_off, b_off, a_off, acts, prob.pi, prob.pj, nt, d, one, True)
    outm = acts[a_off[L] * nt: (a_off[L] + no) * nt].reshape(nt, no)
    G = prob.gbuf1[: nt * no].reshape(nt, no)
    out["head + dL/dout (train rows)"] = _per_call(
        lambda r: _loop_head(r, outm, prob.labels, prob.templates, False, 0, nt, G, 1.0 / nt), R)
    g1, g2 = prob.gbuf1.copy(), prob.gbuf2.copy()
    out["backward"] = _per_call(
        lambda r: _loop_backward(r, theta, grad, dims, w_off, b_off, a_off, acts, g1.copy() if r == 1 else g1, g2,
                                 prob.pi, prob.pj, nt, d, one), R)
    th = theta.copy()
    out["AdamW"] = _per_call(
        lambda r: _loop_adamw(r, th, grad * 0 + np.float32(1e-4), m, v, p * d, 1e-3, 0.0, 1e-3, 5.0, c), R)
    limit = training._below_in(theta.dtype, shared.divergence_limit(theta.dtype))
    out["divergence test (pass over theta)"] = _per_call(lambda r: _loop_representable(r, th, limit), R)
    hidden = np.random.default_rng(0).standard_normal(nt * int(dims[1:L].sum())).astype(np.float32)
    out["tanh (hidden layers)"] = _per_call(lambda r: _loop_tanh(r, hidden, one), R)
    # the matrix products of one step (forward: H W; backward: H^T D and D W^T per layer)
    gemm = 0.0
    for l in range(L):
        ni, nout = int(dims[l]), int(dims[l + 1])
        H = np.ones((nt, ni), np.float32)
        W = np.ones((ni, nout), np.float32)
        Z = np.empty((nt, nout), np.float32)
        D = np.ones((nt, nout), np.float32)
        gW = np.empty((ni, nout), np.float32)
        Dn = np.empty((nt, ni), np.float32)
        f = _per_call(lambda r: _loop_gemm(r, H, W, Z), R)
        tn = _per_call(lambda r: _loop_gemm_tn(r, H, D, gW), R)
        nt_ = _per_call(lambda r: _loop_gemm_nt(r, D, W, Dn), R)
        out[f"GEMM layer {l} ({nt}x{ni} @ {ni}x{nout}; H^T D; D W^T)"] = f + tn + nt_
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
    net.train_network(split, config, steps=20)
    for k, name in ((1, "whole step, records every step"), (steps, "whole step, records at 0 and end")):
        best = np.inf
        for _ in range(3):
            start = time.perf_counter()
            net.train_network(split, config, steps=steps, eval_every=k)
            best = min(best, (time.perf_counter() - start) / steps)
        out[name] = best
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2000)
    args = parser.parse_args(argv)
    for name, sec in profile(args.repeats).items():
        print(f"{name:<62} {1e6 * sec:9.2f} us")


if __name__ == "__main__":
    main()
