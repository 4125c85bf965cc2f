"""numba kernels of the Omnigrok MLP (the maths is in efftheory/models/omnigrok.py).

Parameters live in one flat vector ``theta`` laid out by :class:`efftheory.models.toy.kernels.Layout` with
no embeddings: layer l has W_l (dims[l], dims[l+1]) row-major at ``w_off[l]`` and b_l at
``b_off[l]``. Activations of n rows share one flat buffer; layer l's (n, dims[l]) block starts
at ``n * a_off[l]`` (block 0 holds the inputs). Matrix products go to BLAS through ``np.dot``.
A slow numpy twin lives in efftheory/reference/omnigrok.py.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from efftheory.models.shared_kernels import BETA1, BETA2, EPS, _head_ce, adamw_group

#: columns of the records: step, train loss, test loss, train acc, test acc, weight norm
N_REC_COLS = 6
#: outcomes of one chunk of steps
RAN, DIVERGED = 0, 2
#: columns of ``first``: first recorded steps with train / test accuracy >= the threshold
FIRST_TRAIN, FIRST_TEST = 0, 1


@njit(cache=True, error_model="numpy")
def _forward(theta, dims, w_off, b_off, a_off, acts, n):
    """Forward pass of the n rows whose inputs are in block 0 of ``acts``; ReLU on every hidden
    layer, linear output (the returned (n, C) view)."""
    L = dims.size - 1
    H = acts[: n * dims[0]].reshape((n, dims[0]))
    for l in range(L):
        ni, no = dims[l], dims[l + 1]
        W = theta[w_off[l] : w_off[l] + ni * no].reshape((ni, no))
        Z = acts[a_off[l + 1] * n : (a_off[l + 1] + no) * n].reshape((n, no))
        np.dot(H, W, Z)
        b = theta[b_off[l] : b_off[l] + no]
        if l < L - 1:
            for r in range(n):
                for k in range(no):
                    z = Z[r, k] + b[k]
                    Z[r, k] = z if z > 0 else 0 * z
        else:
            for r in range(n):
                for k in range(no):
                    Z[r, k] += b[k]
        H = Z
    return H


@njit(cache=True, error_model="numpy")
def _head(out, y, is_ce, G, want_grad, scale):
    """Summed loss and number of correct argmax predictions of rows ``out`` (n, C) with labels y.

    MSE: per-row loss mean_k (out_k - onehot(y)_k)^2; CE: -log softmax(out)_y. With
    ``want_grad``, G (n, C) receives ``scale`` times the per-row loss gradient.
    """
    n, C = out.shape
    if is_ce:  # the toy's and the transformer's cross-entropy: the same numbers
        return _head_ce(out, y, 0, n, G, want_grad, scale)
    loss = 0.0
    correct = 0
    for r in range(n):
        yr = y[r]
        best = 0
        mx = out[r, 0]
        for c in range(1, C):
            if out[r, c] > mx:
                mx = out[r, c]
                best = c
        if best == yr:
            correct += 1
        acc = 0.0
        for c in range(C):
            e = out[r, c] - (1.0 if c == yr else 0.0)
            acc += e * e
            if want_grad:
                G[r, c] = scale * 2.0 * e / C
        loss += acc / C
    return loss, correct


@njit(cache=True, error_model="numpy")
def _backward(theta, grad, dims, w_off, b_off, a_off, acts, gbuf1, gbuf2, n):
    """Back-propagate dL/dout (first n·C entries of gbuf1) through a forward pass of n rows in
    ``acts`` into ``grad`` (theta's layout). ReLU'(0) = 0, as in PyTorch."""
    L = dims.size - 1
    G = gbuf1
    Gn = gbuf2
    for l in range(L - 1, -1, -1):
        ni, no = dims[l], dims[l + 1]
        D = G[: n * no].reshape((n, no))
        H = acts[a_off[l] * n : (a_off[l] + ni) * n].reshape((n, ni))
        gW = grad[w_off[l] : w_off[l] + ni * no].reshape((ni, no))
        np.dot(H.T, D, gW)
        gb = grad[b_off[l] : b_off[l] + no]
        gb[:] = 0.0
        for r in range(n):
            for k in range(no):
                gb[k] += D[r, k]
        if l > 0:  # the input layer needs no dL/dx
            W = theta[w_off[l] : w_off[l] + ni * no].reshape((ni, no))
            Dn = Gn[: n * ni].reshape((n, ni))
            np.dot(D, W.T, Dn)
            for r in range(n):
                for k in range(ni):
                    if H[r, k] <= 0:  # h = relu(z): h > 0 exactly where z > 0
                        Dn[r, k] = 0.0
            G, Gn = Gn, G


@njit(cache=True, error_model="numpy")
def _norm(theta):
    """||theta||_2, accumulated in float64."""
    s = 0.0
    for k in range(theta.size):
        x = np.float64(theta[k])
        s += x * x
    return math.sqrt(s)


@njit(cache=True, error_model="numpy")
def _rescale(theta, target):
    """theta <- theta * target / ||theta|| (onto the sphere of radius ``target``)."""
    f = target / _norm(theta)
    for k in range(theta.size):
        theta[k] = theta[k] * f


@njit(cache=True, error_model="numpy")
def _adamw(theta, grad, m, v, step, lr, wd, c):
    """PyTorch's AdamW (decoupled decay theta <- theta (1 - lr wd), bias-corrected moments) on
    every parameter; ``step`` counts from 1; c is an (8,) scratch of theta's dtype."""
    c[0] = 1.0 - lr * wd
    c[1] = lr / (1.0 - BETA1**step)
    c[2] = BETA1
    c[3] = BETA2
    c[4] = 1.0 / math.sqrt(1.0 - BETA2**step)
    c[5] = EPS
    c[6] = 1.0 - BETA1
    c[7] = 1.0 - BETA2
    adamw_group(theta, grad, m, v, c)


@njit(cache=True, error_model="numpy")
def _evaluate(theta, dims, w_off, b_off, a_off, acts, X, y, is_ce, G):
    """(mean loss, accuracy) of all rows of X (n, n_inputs) with labels y; no gradient."""
    n = X.shape[0]
    acts[: n * dims[0]].reshape((n, dims[0]))[:, :] = X
    out = _forward(theta, dims, w_off, b_off, a_off, acts, n)
    loss, ok = _head(out, y, is_ce, G, False, 0.0)
    return loss / n, ok / n


@njit(cache=True, error_model="numpy")
def _gradient_step(theta, grad, dims, w_off, b_off, a_off, acts, gbuf1, gbuf2, X, y, rows, is_ce):
    """Mean loss of the batch ``rows`` (B,) of X and its gradient in ``grad``; returns the loss."""
    B = rows.size
    D0 = dims[0]
    Xb = acts[: B * D0].reshape((B, D0))
    yb = np.empty(B, np.int64)
    for r in range(B):
        Xb[r, :] = X[rows[r]]
        yb[r] = y[rows[r]]
    out = _forward(theta, dims, w_off, b_off, a_off, acts, B)
    C = dims[dims.size - 1]
    G = gbuf1[: B * C].reshape((B, C))
    loss, _ = _head(out, yb, is_ce, G, True, 1.0 / B)
    _backward(theta, grad, dims, w_off, b_off, a_off, acts, gbuf1, gbuf2, B)
    return loss / B


@njit(cache=True, error_model="numpy")
def _train_chunk(theta, m, v, grad, dims, w_off, b_off, a_off, acts, eval_acts, gbuf1, gbuf2,
                 Xtr, ytr, Xte, yte, batches, shuffled, is_ce, lr, wd, c, t0, t1, total, eval_every,
                 target, threshold, rec, rec_pos, first):
    """Steps t0 <= t < t1 (t <= total): record step t if due, then update unless t == total.

    Recorded steps (0, k, 2k, ... for k = ``eval_every``, and ``total``) evaluate the whole
    training split and test set on the parameters after t updates and write a row of ``rec``
    (columns: step, train loss, test loss, train acc, test acc, ||theta||) at ``rec_pos[0]``;
    ``first`` (2,) keeps the first recorded steps with train / test accuracy >= ``threshold``.
    The update's batch is row t - t0 of ``batches`` (shuffled) or row 0 (the full batch).
    ``target`` > 0 rescales theta onto the sphere ||theta|| = target after every update.
    Returns DIVERGED at the first non-finite loss or parameter norm (recorded when it is a
    recorded step's), else RAN.
    """
    C = dims[dims.size - 1]
    Gev = np.empty((1, C), theta.dtype)
    for t in range(t0, t1):
        if t % eval_every == 0 or t == total:
            tr_loss, tr_acc = _evaluate(theta, dims, w_off, b_off, a_off, eval_acts, Xtr, ytr, is_ce, Gev)
            te_loss, te_acc = _evaluate(theta, dims, w_off, b_off, a_off, eval_acts, Xte, yte, is_ce, Gev)
            i = rec_pos[0]
            rec[i, 0] = t
            rec[i, 1] = tr_loss
            rec[i, 2] = te_loss
            rec[i, 3] = tr_acc
            rec[i, 4] = te_acc
            rec[i, 5] = _norm(theta)
            rec_pos[0] = i + 1
            if first[FIRST_TRAIN] < 0 and tr_acc >= threshold:
                first[FIRST_TRAIN] = t
            if first[FIRST_TEST] < 0 and te_acc >= threshold:
                first[FIRST_TEST] = t
            if not (np.isfinite(tr_loss) and np.isfinite(rec[i, 5])):
                return DIVERGED
        if t < total:
            rows = batches[t - t0] if shuffled else batches[0]
            loss = _gradient_step(theta, grad, dims, w_off, b_off, a_off, acts, gbuf1, gbuf2, Xtr, ytr, rows, is_ce)
            if not np.isfinite(loss):
                return DIVERGED
            _adamw(theta, grad, m, v, t + 1, lr, wd, c)
            if target > 0:
                _rescale(theta, target)
    return RAN
