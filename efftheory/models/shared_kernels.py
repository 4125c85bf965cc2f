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
    loss = 0.0
    correct = 0
    C = templates.shape[0]
    no = out.shape[1]
    # MSE: the squared distances to all C templates accumulate side by side (k outer, templates
    # inner and contiguous), each still summed over k in order, so every distance is the same
    # number as a template-by-template loop gives, without its chain of dependent additions
    tmpl_t = np.ascontiguousarray(templates.T)  # (no, C)
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
