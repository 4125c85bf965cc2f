"""The step kernels that were rearranged for speed give the numbers, bit for bit, of the plain
loops they replaced: the output head (MSE and cross-entropy), LayerNorm's forward and backward
passes and attention's forward and backward passes. The oracles below are those loops as they
were (one sample or row at a time, every sum in its order), so any change of summation order,
rounding or operand order in the fast kernels fails here. Recorded runs (figures/sweeps,
figures/transformer_*) depend on exactly these numbers. No BLAS is involved, so the comparison
holds on any machine."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numba import njit

from efftheory.models import shared_kernels as shared
from efftheory.models.transformer import ops

# ------------------------------------------------------------------ the plain loops (oracles)


@njit(cache=True, error_model="numpy")
def _plain_head(out, labels, templates, is_ce, n0, n1, G, want_grad, scale):
    loss = 0.0
    correct = 0
    C = templates.shape[0]
    no = out.shape[1]
    tmpl_t = np.ascontiguousarray(templates.T)
    dist2 = np.empty(C)
    for r in range(n0, n1):
        y = labels[r]
        if is_ce:
            mx = out[r, 0]
            best = 0
            for c in range(1, no):
                if out[r, c] > mx:
                    mx = out[r, c]
                    best = c
            s = 0.0
            for c in range(no):
                s += math.exp(out[r, c] - mx)
            loss += math.log(s) + mx - out[r, y]
            if want_grad:
                for c in range(no):
                    G[r, c] = scale * (math.exp(out[r, c] - mx) / s - (1.0 if c == y else 0.0))
        else:
            dist2[:] = 0.0
            for k in range(no):
                o = out[r, k]
                row = tmpl_t[k]
                for c in range(C):
                    e = o - row[c]
                    dist2[c] += e * e
            best = 0
            bestd = np.inf
            for c in range(C):
                if dist2[c] < bestd:
                    bestd = dist2[c]
                    best = c
            if want_grad:
                for k in range(no):
                    G[r, k] = scale * 2.0 * (out[r, k] - templates[y, k]) / no
            loss += dist2[y] / no
        if best == y:
            correct += 1
    return loss, correct


@njit(cache=True, error_model="numpy")
def _plain_ln_forward(Xin, g, b, Xhat, rstd, H, eps):
    d = Xin.shape[1]
    for r in range(Xin.shape[0]):
        mu = 0.0
        for k in range(d):
            mu += Xin[r, k]
        mu /= d
        var = 0.0
        for k in range(d):
            c = Xin[r, k] - mu
            var += c * c
        rs = 1.0 / math.sqrt(var / d + eps)
        rstd[r, 0] = rs
        for k in range(d):
            xh = (Xin[r, k] - mu) * rs
            Xhat[r, k] = xh
            H[r, k] = g[k] * xh + b[k]


@njit(cache=True, error_model="numpy")
def _plain_ln_backward(gH, Xhat, rstd, g, gX, gg, gb):
    d = gH.shape[1]
    for k in range(d):
        gg[k] = 0.0
        gb[k] = 0.0
    for r in range(gH.shape[0]):
        s1 = 0.0
        s2 = 0.0
        for k in range(d):
            gh = gH[r, k]
            gxh = gh * g[k]
            s1 += gxh
            s2 += gxh * Xhat[r, k]
            gg[k] += gh * Xhat[r, k]
            gb[k] += gh
        s1 /= d
        s2 /= d
        rs = rstd[r, 0]
        for k in range(d):
            gX[r, k] += rs * (gH[r, k] * g[k] - s1 - Xhat[r, k] * s2)


@njit(cache=True, error_model="numpy")
def _plain_attention(QKV, A, Ov, n, d, scale, DA, drop):
    for r in range(n):
        for i in range(2):
            qi = 2 * r + i
            s0 = 0.0
            s1 = 0.0
            for k in range(d):
                s0 += QKV[qi, k] * QKV[2 * r, d + k]
                s1 += QKV[qi, k] * QKV[2 * r + 1, d + k]
            s0 *= scale
            s1 *= scale
            m = max(s0, s1)
            e0 = math.exp(s0 - m)
            e1 = math.exp(s1 - m)
            a0 = e0 / (e0 + e1)
            a1 = e1 / (e0 + e1)
            A[qi, 0] = a0
            A[qi, 1] = a1
            if drop:
                a0 *= DA[qi, 0]
                a1 *= DA[qi, 1]
            for k in range(d):
                Ov[qi, k] = a0 * QKV[2 * r, 2 * d + k] + a1 * QKV[2 * r + 1, 2 * d + k]


@njit(cache=True, error_model="numpy")
def _plain_attention_backward(QKV, A, gO, gQKV, n, d, scale, DA, drop):
    for r in range(n):
        r0 = 2 * r
        for k in range(3 * d):
            gQKV[r0, k] = 0.0
            gQKV[r0 + 1, k] = 0.0
        for i in range(2):
            qi = r0 + i
            ga0 = 0.0
            ga1 = 0.0
            for k in range(d):
                ga0 += gO[qi, k] * QKV[r0, 2 * d + k]
                ga1 += gO[qi, k] * QKV[r0 + 1, 2 * d + k]
            a0 = A[qi, 0]
            a1 = A[qi, 1]
            w0 = a0
            w1 = a1
            if drop:
                ga0 *= DA[qi, 0]
                ga1 *= DA[qi, 1]
                w0 *= DA[qi, 0]
                w1 *= DA[qi, 1]
            mean = a0 * ga0 + a1 * ga1
            gs0 = a0 * (ga0 - mean) * scale
            gs1 = a1 * (ga1 - mean) * scale
            for k in range(d):
                go = gO[qi, k]
                gQKV[qi, k] += gs0 * QKV[r0, d + k] + gs1 * QKV[r0 + 1, d + k]
                gQKV[r0, d + k] += gs0 * QKV[qi, k]
                gQKV[r0 + 1, d + k] += gs1 * QKV[qi, k]
                gQKV[r0, 2 * d + k] += w0 * go
                gQKV[r0 + 1, 2 * d + k] += w1 * go


# ------------------------------------------------------------------ helpers


def _same(a, b) -> bool:
    """Bitwise equality of two arrays (NaNs equal, and +0 distinct from -0)."""
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def _data(rng, shape, dtype, scale=1.0):
    """Normal numbers times 2^u, u uniform in -20..20: so wide a range that float64 sums of them
    round (sums of float32 numbers of one magnitude are exact in float64, whatever the order,
    and would let a reordered sum pass), with exact and signed zeros mixed in."""
    x = (rng.standard_normal(shape) * scale * 2.0 ** rng.integers(-20, 21, shape)).astype(dtype)
    flat = x.reshape(-1)
    flat[:: 7] = 0.0  # where a changed sum could differ in the sign of a zero
    flat[3:: 11] = -0.0
    return x


DTYPES = (np.float32, np.float64)

# ------------------------------------------------------------------ the head


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("is_ce", (False, True))
@pytest.mark.parametrize("n, no, C", [(55, 30, 19), (55, 19, 19), (423, 23, 23), (7, 1, 3), (1, 5, 2)])
def test_head_matches_the_sample_by_sample_loop(dtype, is_ce, n, no, C):
    rng = np.random.default_rng(n * 100 + no)
    out = _data(rng, (n, no), dtype, 3.0)
    out[0, :] = out[0, 0]  # a tie: the first maximum / nearest template wins
    if n > 2:
        out[2, 1 % no] = np.nan  # a NaN output: its row's loss is NaN, the prediction stays defined
    templates = np.zeros((no, 0), dtype) if is_ce else _data(rng, (C, no), dtype)
    labels = rng.integers(0, no if is_ce else C, n).astype(np.int64)
    n_train = max(1, (4 * n) // 5)
    for n0, n1, want_grad in ((0, n_train, True), (n_train, n, False), (0, n, True), (n, n, False)):
        G1 = np.full((n, no), 7.0, dtype)
        G2 = G1.copy()
        fast = shared.head(out, labels, templates, is_ce, n0, n1, G1, want_grad, 1.0 / n_train)
        plain = _plain_head(out, labels, templates, is_ce, n0, n1, G2, want_grad, 1.0 / n_train)
        assert fast[1] == plain[1]
        assert _same(np.float64(fast[0]), np.float64(plain[0]))
        assert _same(G1, G2)


# ------------------------------------------------------------------ LayerNorm


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rows, d", [(846, 32), (849, 32), (3, 5), (10, 45), (9, 70), (1, 2)])
def test_layernorm_forward_and_backward_match_the_row_loop(dtype, rows, d):
    rng = np.random.default_rng(rows + d)
    X = _data(rng, (rows, d), dtype, 2.0)
    g, b = _data(rng, (d,), dtype), _data(rng, (d,), dtype)
    eps = dtype(1e-5)
    fast = [np.zeros((rows, d), dtype), np.zeros((rows, 1), dtype), np.zeros((rows, d), dtype)]
    plain = [a.copy() for a in fast]
    ops._ln_forward(X, g, b, *fast, eps)
    _plain_ln_forward(X, g, b, *plain, eps)
    assert all(_same(x, y) for x, y in zip(fast, plain))
    Xhat, rstd = plain[0], plain[1]
    gH = _data(rng, (rows, d), dtype)
    gX0 = _data(rng, (rows, d), dtype)  # the kernel adds into gX
    out_fast = [gX0.copy(), np.full(d, 3.0, dtype), np.full(d, 3.0, dtype)]
    out_plain = [gX0.copy(), np.zeros(d, dtype), np.zeros(d, dtype)]
    ops._ln_backward(gH, Xhat, rstd, g, *out_fast)
    _plain_ln_backward(gH, Xhat, rstd, g, *out_plain)
    assert all(_same(x, y) for x, y in zip(out_fast, out_plain))


# ------------------------------------------------------------------ attention


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("drop", (False, True))
@pytest.mark.parametrize("n, d", [(423, 32), (5, 3), (1, 1), (8, 40)])
def test_attention_forward_and_backward_match_the_query_loop(dtype, drop, n, d):
    rng = np.random.default_rng(n * 10 + d)
    R = 2 * n
    QKV = _data(rng, (R, 3 * d), dtype)
    DA = ((rng.random((R, 2)) >= 0.3) / 0.7).astype(dtype)
    scale = 1.0 / math.sqrt(d)
    A1, O1 = np.zeros((R, 2), dtype), np.zeros((R, d), dtype)
    A2, O2 = A1.copy(), O1.copy()
    ops._attention(QKV, A1, O1, n, d, scale, DA, drop)
    _plain_attention(QKV, A2, O2, n, d, scale, DA, drop)
    assert _same(A1, A2) and _same(O1, O2)
    gO = _data(rng, (R, d), dtype, 1e-3)
    g1 = np.full((R, 3 * d), 5.0, dtype)  # overwritten entirely
    g2 = g1.copy()
    ops._attention_backward(QKV, A2, gO, g1, n, d, scale, DA, drop)
    _plain_attention_backward(QKV, A2, gO, g2, n, d, scale, DA, drop)
    assert _same(g1, g2)
