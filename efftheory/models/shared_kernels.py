"""Kernels every model's training loop shares: the output head (MSE against templates, or
cross-entropy), AdamW with PyTorch's semantics, and the test that a step stayed representable."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

#: AdamW's moment decays and epsilon (PyTorch's defaults)
BETA1, BETA2, EPS = 0.9, 0.999, 1e-8

#: outcomes of one chunk of training steps
RAN, STOPPED_AT_TEST, DIVERGED = 0, 1, 2


@njit(cache=True, error_model="numpy")
def head(out, labels, templates, is_ce, n0, n1, G, want_grad, scale):
    """Loss summed over samples n0..n1-1, number predicted correctly, and optionally dL/dout.

    MSE: per-sample loss mean_k (out_k - Y_k)^2; CE: -log softmax(out)_y. ``G[r]`` receives
    ``scale`` times the per-sample loss gradient (scale = 1 / n_train gives the mean's gradient).
    """
    if is_ce:
        return _head_ce(out, labels, n0, n1, G, want_grad, scale)
    return _head_mse(out, labels, templates, n0, n1, G, want_grad, scale)


@njit(cache=True, error_model="numpy")
def _head_ce(out, labels, n0, n1, G, want_grad, scale):
    """The cross-entropy :func:`head`. Each exp(out_c - max) is computed once and kept (in
    float64, which holds it exactly) for both the sum and the gradient: the exp is a libm call
    that does not vectorise and dominated the head when computed twice."""
    loss = 0.0
    correct = 0
    no = out.shape[1]
    ex = np.empty(no)
    for r in range(n0, n1):
        y = labels[r]
        mx = out[r, 0]
        best = 0
        for c in range(1, no):
            if out[r, c] > mx:
                mx = out[r, c]
                best = c
        s = 0.0
        for c in range(no):
            e = math.exp(out[r, c] - mx)
            ex[c] = e
            s += e
        loss += math.log(s) + mx - out[r, y]
        if want_grad:
            for c in range(no):
                G[r, c] = scale * (ex[c] / s - (1.0 if c == y else 0.0))
        if best == y:
            correct += 1
    return loss, correct


@njit(cache=True, error_model="numpy")
def _head_mse(out, labels, templates, n0, n1, G, want_grad, scale):
    """The MSE :func:`head`: the nearest template is the prediction.

    The squared distance of every sample to every template is summed over k in order, as a
    sample-by-sample loop would, but with the samples side by side (the outputs transposed to
    (no, n), the distances kept as (C, n)): the inner loop runs over samples, so it vectorises
    and no chain of dependent additions stalls it, and every distance is the same number.
    """
    loss = 0.0
    correct = 0
    C = templates.shape[0]
    no = out.shape[1]
    n = n1 - n0
    out_t = np.empty((no, n), out.dtype)
    for i in range(n):
        for k in range(no):
            out_t[k, i] = out[n0 + i, k]
    dist2 = np.zeros((C, n))
    for c in range(C):
        row = dist2[c]
        for k in range(no):
            y_ck = templates[c, k]
            o = out_t[k]
            for i in range(n):
                e = o[i] - y_ck
                row[i] += e * e
    for i in range(n):
        r = n0 + i
        y = labels[r]
        best = 0
        bestd = np.inf
        for c in range(C):
            if dist2[c, i] < bestd:
                bestd = dist2[c, i]
                best = c
        if want_grad:
            for k in range(no):
                G[r, k] = scale * 2.0 * (out[r, k] - templates[y, k]) / no
        loss += dist2[y, i] / no
        if best == y:
            correct += 1
    return loss, correct


@njit(cache=True, error_model="numpy")
def adamw_group(theta, grad, m, v, c):
    """PyTorch AdamW on one group (1-D views); c = (decay, step size, beta1, beta2, 1/sqrt(bc2), eps, 1-b1, 1-b2).

    theta <- theta (1 - lr wd) - (lr / bc1) m / (sqrt(v) / sqrt(bc2) + eps), with the moments
    updated first; c is in theta's dtype so the loop stays in it and vectorises.
    """
    decay, step_size, b1, b2, inv_bc2s, eps, one_b1, one_b2 = c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]
    for k in range(theta.size):  # from 0: no negative-index checks, so LLVM vectorises
        g = grad[k]
        mk = b1 * m[k] + one_b1 * g
        vk = b2 * v[k] + one_b2 * (g * g)
        m[k] = mk
        v[k] = vk
        theta[k] = theta[k] * decay - step_size * mk / (np.sqrt(vk) * inv_bc2s + eps)


@njit(cache=True, error_model="numpy")
def adamw(theta, grad, m, v, step, n_embed, lr_e, wd_e, lr_d, wd_d, c):
    """One AdamW update (``step`` counted from 1) with two groups: embeddings, then decoder.

    ``c`` is an (8,) scratch array of theta's dtype for the per-group constants.
    """
    bc1 = 1.0 - BETA1**step
    inv_bc2s = 1.0 / math.sqrt(1.0 - BETA2**step)
    for lo, hi, lr, wd in ((0, n_embed, lr_e, wd_e), (n_embed, theta.size, lr_d, wd_d)):
        c[0] = 1.0 - lr * wd
        c[1] = lr / bc1
        c[2] = BETA1
        c[3] = BETA2
        c[4] = inv_bc2s
        c[5] = EPS
        c[6] = 1.0 - BETA1
        c[7] = 1.0 - BETA2
        adamw_group(theta[lo:hi], grad[lo:hi], m[lo:hi], v[lo:hi], c)


@njit(cache=True, error_model="numpy")
def representable(x, limit):
    """Every |x_k| <= limit (False for NaN and inf).

    Counts the failures over the whole array without branching, so that the loop vectorises
    (``limit`` in x's dtype: a compare in another dtype would not); a loop that returned at the
    first failure cost about as much as the AdamW update itself."""
    bad = 0
    for k in range(x.size):
        bad += 1 - np.int32(abs(x[k]) <= limit)
    return bad == 0


def divergence_limit(dtype) -> float:
    """sqrt of the dtype's largest number (1.8e19 in float32): beyond it the squared norm of the
    parameters (Z, variances) is not representable, so the run has left the numbers."""
    return float(np.sqrt(np.finfo(dtype).max))
