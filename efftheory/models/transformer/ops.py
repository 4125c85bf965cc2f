"""The transformer's operations between its matrix products (docs/theory.md §15), as numba
loops over token rows: biases, LayerNorm, single-head attention over two tokens, ReLU, dropout
multipliers and the bias gradients.

They run on one thread. At the paper's size (p = 59, d = 256, two blocks) they take about a
fifth of a step, and they stream activations far larger than the caches, so memory bandwidth,
not arithmetic, bounds them: splitting them between numba's threads gained nothing over one
thread, and beside a multi-threaded BLAS the two thread pools fought for the cores and made a
two-thread step slower than a one-thread one (docs/performance.md has the measurements). So a
step's threads go to BLAS alone (efftheory.runtime.threads).

Every sum runs over rows (or columns) in one fixed order, so a pass gives the same numbers
whatever BLAS's thread count.
"""

from __future__ import annotations

import math

from numba import njit

from efftheory.models.dropout import keep_factor

LN_EPS = 1e-5


@njit(cache=True, error_model="numpy")
def _add_bias(Y, b):
    """Y <- Y + b in every row."""
    rows, cols = Y.shape
    for r in range(rows):
        for k in range(cols):
            Y[r, k] += b[k]


@njit(cache=True, error_model="numpy")
def _col_sums(G, out):
    """out <- the column sums of G (the gradient of a bias), rows added in order."""
    cols = G.shape[1]
    for k in range(cols):
        out[k] = 0.0
    for r in range(G.shape[0]):
        for k in range(cols):
            out[k] += G[r, k]


@njit(cache=True, error_model="numpy", inline="always")
def _ln_normalise(Xin, g, b, Xhat, rstd, H, eps, r, mu, var, d):
    """Row r's x̂ and H from its mean and summed squared deviations (both float64)."""
    rs = 1.0 / math.sqrt(var / d + eps)
    rstd[r, 0] = rs
    for k in range(d):
        xh = (Xin[r, k] - mu) * rs
        Xhat[r, k] = xh
        H[r, k] = g[k] * xh + b[k]


@njit(cache=True, error_model="numpy")
def _ln_forward(Xin, g, b, Xhat, rstd, H, eps):
    """H = g ⊙ x̂ + b with x̂ = (x − μ) / sqrt(σ² + eps) per row (σ² biased); saves x̂ and
    1/sqrt(σ² + eps). Sums are taken in float64, in column order.

    Rows go four at a time: a row's sums are chains of dependent additions, and four independent
    chains keep the adder busy where one would wait on each result (the same additions in the
    same order, so the same numbers as one row at a time)."""
    rows, d = Xin.shape
    r = 0
    while r + 4 <= rows:
        m0 = m1 = m2 = m3 = 0.0
        for k in range(d):
            m0 += Xin[r, k]
            m1 += Xin[r + 1, k]
            m2 += Xin[r + 2, k]
            m3 += Xin[r + 3, k]
        m0 /= d
        m1 /= d
        m2 /= d
        m3 /= d
        v0 = v1 = v2 = v3 = 0.0
        for k in range(d):
            c0 = Xin[r, k] - m0
            c1 = Xin[r + 1, k] - m1
            c2 = Xin[r + 2, k] - m2
            c3 = Xin[r + 3, k] - m3
            v0 += c0 * c0
            v1 += c1 * c1
            v2 += c2 * c2
            v3 += c3 * c3
        _ln_normalise(Xin, g, b, Xhat, rstd, H, eps, r, m0, v0, d)
        _ln_normalise(Xin, g, b, Xhat, rstd, H, eps, r + 1, m1, v1, d)
        _ln_normalise(Xin, g, b, Xhat, rstd, H, eps, r + 2, m2, v2, d)
        _ln_normalise(Xin, g, b, Xhat, rstd, H, eps, r + 3, m3, v3, d)
        r += 4
    for r in range(r, rows):
        mu = 0.0
        for k in range(d):
            mu += Xin[r, k]
        mu /= d
        var = 0.0
        for k in range(d):
            c = Xin[r, k] - mu
            var += c * c
        _ln_normalise(Xin, g, b, Xhat, rstd, H, eps, r, mu, var, d)


@njit(cache=True, error_model="numpy", inline="always")
def _ln_input_grad(gH, Xhat, rstd, g, gX, r, s1, s2, d):
    """gX[r] += dL/dx of row r from its sums s1 = Σ ĝ and s2 = Σ ĝ ⊙ x̂ (float64)."""
    s1 /= d
    s2 /= d
    rs = rstd[r, 0]
    for k in range(d):
        gX[r, k] += rs * (gH[r, k] * g[k] - s1 - Xhat[r, k] * s2)


@njit(cache=True, error_model="numpy")
def _ln_backward(gH, Xhat, rstd, g, gX, gg, gb):
    """gX += dL/dx; gg, gb <- dL/dg, dL/db, given gH = dL/dH.

    With ĝ = gH ⊙ g: dL/dx = rstd (ĝ − mean(ĝ) − x̂ mean(ĝ ⊙ x̂)) (the mean and the variance
    both depend on x); dL/dg and dL/db are sums over the rows, in order. The row sums run over
    two rows at a time (four independent chains, as in :func:`_ln_forward`), and the gain and
    bias gradients in a loop of their own, which vectorises: the same additions in the same
    order either way."""
    rows, d = gH.shape
    for k in range(d):
        gg[k] = 0.0
        gb[k] = 0.0
    for r in range(rows):
        for k in range(d):
            gg[k] += gH[r, k] * Xhat[r, k]
            gb[k] += gH[r, k]
    r = 0
    while r + 2 <= rows:
        a1 = a2 = b1 = b2 = 0.0
        for k in range(d):
            ga = gH[r, k] * g[k]
            gb_ = gH[r + 1, k] * g[k]
            a1 += ga
            a2 += ga * Xhat[r, k]
            b1 += gb_
            b2 += gb_ * Xhat[r + 1, k]
        _ln_input_grad(gH, Xhat, rstd, g, gX, r, a1, a2, d)
        _ln_input_grad(gH, Xhat, rstd, g, gX, r + 1, b1, b2, d)
        r += 2
    for r in range(r, rows):
        s1 = 0.0
        s2 = 0.0
        for k in range(d):
            gxh = gH[r, k] * g[k]
            s1 += gxh
            s2 += gxh * Xhat[r, k]
        _ln_input_grad(gH, Xhat, rstd, g, gX, r, s1, s2, d)


@njit(cache=True, error_model="numpy")
def _fill_mask(M, key, base, rate):
    """M[r, k] <- the dropout multiplier of unit ``base`` + r cols + k of the step's ``key``."""
    rows, cols = M.shape
    for r in range(rows):
        for k in range(cols):
            M[r, k] = keep_factor(key, base + r * cols + k, rate)


@njit(cache=True, error_model="numpy")
def _residual(Y, bias, D, X, drop):
    """Y <- (Y + bias) ⊙ D + X with dropout multipliers D (``drop``), else Y + (bias + X): a
    branch's output joining the residual stream X."""
    rows, cols = Y.shape
    if drop:
        for r in range(rows):
            for k in range(cols):
                Y[r, k] = (Y[r, k] + bias[k]) * D[r, k] + X[r, k]
    else:
        for r in range(rows):
            for k in range(cols):
                Y[r, k] += bias[k] + X[r, k]


@njit(cache=True, error_model="numpy")
def _relu(U, c1, key, base, rate, drop):
    """U <- relu(U + c1), then times the dropout multipliers of units ``base`` + r w + k (``drop``)."""
    rows, w = U.shape
    for r in range(rows):
        for k in range(w):
            U[r, k] = max(U[r, k] + c1[k], 0.0)
        if drop:
            for k in range(w):
                U[r, k] *= keep_factor(key, base + r * w + k, rate)


@njit(cache=True, error_model="numpy")
def _times(Y, X, D):
    """Y <- X ⊙ D."""
    rows, cols = Y.shape
    for r in range(rows):
        for k in range(cols):
            Y[r, k] = X[r, k] * D[r, k]


@njit(cache=True, error_model="numpy")
def _relu_grad(gU, U, inv_keep, drop):
    """gU <- dL/d(pre-activation) from dL/dU, U = relu(.) ⊙ m: U > 0 exactly where the unit is
    active and kept, and the derivative there is m = 1/(1 − rate) (1 without dropout)."""
    rows, w = gU.shape
    for r in range(rows):
        for k in range(w):
            if U[r, k] <= 0.0:
                gU[r, k] = 0.0
            elif drop:
                gU[r, k] *= inv_keep


@njit(cache=True, error_model="numpy")
def _attention(QKV, A, Ov, n, d, scale, DA, drop):
    """Per sample r (token rows 2r, 2r+1): A[2r+i, j] = softmax_j(q_i · k_j scale), Ov_i = Σ_j A_ij v_j,
    with A_ij multiplied by its dropout multiplier DA[2r+i, j] first if ``drop`` (A keeps the softmax).
    The four scores of a sample are summed side by side (four independent chains of additions)."""
    for r in range(n):
        r0 = 2 * r
        s00 = s01 = s10 = s11 = 0.0  # s_ij = q_i · k_j
        for k in range(d):
            q0 = QKV[r0, k]
            q1 = QKV[r0 + 1, k]
            s00 += q0 * QKV[r0, d + k]
            s01 += q0 * QKV[r0 + 1, d + k]
            s10 += q1 * QKV[r0, d + k]
            s11 += q1 * QKV[r0 + 1, d + k]
        _attend(QKV, A, Ov, d, scale, DA, drop, r0, r0, s00, s01)
        _attend(QKV, A, Ov, d, scale, DA, drop, r0, r0 + 1, s10, s11)


@njit(cache=True, error_model="numpy", inline="always")
def _attend(QKV, A, Ov, d, scale, DA, drop, r0, qi, s0, s1):
    """Token row qi of the sample at rows r0, r0+1: its softmax weights from the scores s0, s1
    and its output Σ_j A_ij v_j."""
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
        Ov[qi, k] = a0 * QKV[r0, 2 * d + k] + a1 * QKV[r0 + 1, 2 * d + k]


@njit(cache=True, error_model="numpy")
def _attention_backward(QKV, A, gO, gQKV, n, d, scale, DA, drop):
    """gQKV <- dL/d[q | k | v] from gO = dL/d(Σ_j A'_ij v_j), A' = A ⊙ DA with ``drop``, else A.

    dL/dv_j = Σ_i A'_ij gO_i; dL/dA_ij = DA_ij gO_i · v_j; through the softmax
    dL/ds_ij = A_ij (dL/dA_ij − Σ_k A_ik dL/dA_ik); dL/dq_i = scale Σ_j dL/ds_ij k_j and
    dL/dk_j = scale Σ_i dL/ds_ij q_i. A sample's gradient touches its own two rows only. The
    four products gO_i · v_j are summed side by side, and each of the five updates of a row
    has a loop of its own, which vectorises."""
    for r in range(n):
        r0 = 2 * r
        for k in range(3 * d):
            gQKV[r0, k] = 0.0
            gQKV[r0 + 1, k] = 0.0
        g00 = g01 = g10 = g11 = 0.0  # gO_i · v_j
        for k in range(d):
            v0 = QKV[r0, 2 * d + k]
            v1 = QKV[r0 + 1, 2 * d + k]
            g00 += gO[r0, k] * v0
            g01 += gO[r0, k] * v1
            g10 += gO[r0 + 1, k] * v0
            g11 += gO[r0 + 1, k] * v1
        _attend_backward(QKV, A, gO, gQKV, d, scale, DA, drop, r0, r0, g00, g01)
        _attend_backward(QKV, A, gO, gQKV, d, scale, DA, drop, r0, r0 + 1, g10, g11)


@njit(cache=True, error_model="numpy", inline="always")
def _attend_backward(QKV, A, gO, gQKV, d, scale, DA, drop, r0, qi, ga0, ga1):
    """Token row qi's share of the sample's gradient, from ga_j = gO_qi · v_j."""
    a0 = A[qi, 0]
    a1 = A[qi, 1]
    w0 = a0  # the weights v_j entered the output with
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
        gQKV[qi, k] += gs0 * QKV[r0, d + k] + gs1 * QKV[r0 + 1, d + k]
    for k in range(d):
        gQKV[r0, d + k] += gs0 * QKV[qi, k]
    for k in range(d):
        gQKV[r0 + 1, d + k] += gs1 * QKV[qi, k]
    for k in range(d):
        gQKV[r0, 2 * d + k] += w0 * gO[qi, k]
    for k in range(d):
        gQKV[r0 + 1, 2 * d + k] += w1 * gO[qi, k]
