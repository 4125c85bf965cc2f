"""numba kernels of the embedding MLP (:mod:`efftheory.models.embed_mlp.training`), on plain arrays.

Model (docs/theory.md, "The embedding MLP"). A sample is a list of tokens (CSR: the tokens of
sample r are ``tok_idx[tok_ptr[r]:tok_ptr[r+1]]``); its first activation is

    h_0 = ReLU(sum_{t in tokens} E[t] + b_0)                          (d,)

then ``h_{l+1} = ReLU(h_l W_l + b_l)`` for the hidden layers and ``out = h_L W_L + b_L`` (no
activation). On addition mod p a sample (a, b) has the tokens a and b, so h_0 = ReLU(E_a + E_b):
the one shared embedding summed, as in the paper's toy, followed by a ReLU instead of a tanh MLP.
Biases are optional (``has_bias``); without them the model is ReLU(E_a + E_b) W_out.

Flat parameters ``theta``: E (n_tok, d) row-major at 0, then for the embedding layer its bias
b_0 (d,) at ``b_off[0]`` (when ``has_bias``), then for each weight layer l = 0..L-1 (L = dims.size
- 1) W_l (dims[l], dims[l+1]) at ``w_off[l]`` and b_{l+1} at ``b_off[l + 1]``. Activations of all
layers (post-ReLU, and the output) share one flat buffer; layer l's (rows, dims[l]) block starts
at ``rows * a_off[l]``. ReLU'(z) is taken as 1 where the activation is > 0 and 0 elsewhere
(the subgradient 0 at z = 0, as PyTorch).
"""

from __future__ import annotations

import numpy as np
from numba import njit

# every model's head (CE, or MSE against templates), AdamW and divergence test
from efftheory.models.shared_kernels import DIVERGED, RAN, STOPPED_AT_TEST, adamw, head, representable
from efftheory.phases import ACC_THRESHOLD


@njit(cache=True, error_model="numpy")
def forward(theta, dims, w_off, b_off, a_off, acts, tok_ptr, tok_idx, n, has_bias):
    """Forward pass of the first ``n`` samples; activations of layer l in ``acts``."""
    L = dims.size - 1
    d = dims[0]
    X = acts[a_off[0] * n : (a_off[0] + d) * n].reshape((n, d))
    for r in range(n):
        for k in range(d):
            X[r, k] = theta[b_off[0] + k] if has_bias else 0.0
        for q in range(tok_ptr[r], tok_ptr[r + 1]):
            base = tok_idx[q] * d
            for k in range(d):
                X[r, k] += theta[base + k]
        for k in range(d):
            if X[r, k] < 0.0:
                X[r, k] = 0.0
    for l in range(L):
        ni, no = dims[l], dims[l + 1]
        H = acts[a_off[l] * n : (a_off[l] + ni) * n].reshape((n, ni))
        W = theta[w_off[l] : w_off[l] + ni * no].reshape((ni, no))
        Z = acts[a_off[l + 1] * n : (a_off[l + 1] + no) * n].reshape((n, no))
        np.dot(H, W, Z)
        relu = l < L - 1
        for r in range(n):
            for k in range(no):
                z = Z[r, k] + theta[b_off[l + 1] + k] if has_bias else Z[r, k]
                Z[r, k] = 0.0 if (relu and z < 0.0) else z


@njit(cache=True, error_model="numpy")
def backward(theta, grad, dims, w_off, b_off, a_off, acts, gbuf1, gbuf2, tok_ptr, tok_idx, nt, n_rows, has_bias):
    """Back-propagate dL/dout (gbuf1, first ``nt`` rows) into ``grad`` (theta's layout).

    ``acts`` holds a forward pass over ``n_rows >= nt`` samples whose first ``nt`` are the
    training samples.
    """
    L = dims.size - 1
    G = gbuf1
    Gn = gbuf2
    grad[:] = 0.0
    for l in range(L - 1, -1, -1):
        ni, no = dims[l], dims[l + 1]
        D = G[: nt * no].reshape((nt, no))
        H = acts[a_off[l] * n_rows : a_off[l] * n_rows + nt * ni].reshape((nt, ni))
        gW = grad[w_off[l] : w_off[l] + ni * no].reshape((ni, no))
        np.dot(H.T, D, gW)
        if has_bias:
            for r in range(nt):
                for k in range(no):
                    grad[b_off[l + 1] + k] += D[r, k]
        W = theta[w_off[l] : w_off[l] + ni * no].reshape((ni, no))
        Dn = Gn[: nt * ni].reshape((nt, ni))
        np.dot(D, W.T, Dn)
        for r in range(nt):  # through the ReLU that made h_l (every h_l is post-ReLU)
            for k in range(ni):
                if H[r, k] <= 0.0:
                    Dn[r, k] = 0.0
        G, Gn = Gn, G
    d = dims[0]
    for r in range(nt):  # h_0 = ReLU(sum E[t] + b_0): scatter to every token of the sample
        for q in range(tok_ptr[r], tok_ptr[r + 1]):
            base = tok_idx[q] * d
            for k in range(d):
                grad[base + k] += G[r * d + k]
        if has_bias:
            for k in range(d):
                grad[b_off[0] + k] += G[r * d + k]


@njit(cache=True, error_model="numpy")
def correct(out, labels, n0, n1):
    """Rows n0..n1-1 of ``out`` whose argmax (the first largest) is their label: the prediction
    of both heads (the nearest one-hot vector is the largest output)."""
    ok = 0
    for r in range(n0, n1):
        best = 0
        for c in range(1, out.shape[1]):
            if out[r, c] > out[r, best]:
                best = c
        if best == labels[r]:
            ok += 1
    return ok


@njit(cache=True, error_model="numpy")
def train_chunk(theta, m, v, grad, dims, w_off, b_off, a_off, acts, acts_te, gbuf1, gbuf2, tok_ptr, tok_idx,
                labels, templates, is_ce, has_bias, nt, N, n_embed, lr, wd, t0, t1, total, eval_every, stop_at_test,
                rec_f, rec_emb, rec_pos, first, limit):
    """Run steps t0 <= t < t1 (t <= total): measure step t, record it if due, then update unless t == total.

    Every step forwards the ``nt`` training rows (in ``acts``) and takes the gradient from them;
    the test rows are forwarded separately (in ``acts_te``) on evaluated steps only (0, k, 2k,
    ..., ``total``; k = ``eval_every``). The training product has the same shape at every step,
    so the trajectory does not depend on ``eval_every``. Accuracies are :func:`correct`'s
    (argmax). ``first`` (2,) int64 receives the first step with train accuracy >= 0.9 (checked at
    every step) and the first evaluated step with test accuracy >= 0.9 (-1 = not yet). Records of
    the evaluated steps (and of a stopping step) go to row ``rec_pos[0]`` of ``rec_f`` (step,
    train loss, test loss, train acc, test acc) and ``rec_emb`` (the raw embedding E). Returns
    RAN, STOPPED_AT_TEST (``stop_at_test``: at the first evaluated step with both accuracies >=
    0.9) or DIVERGED (non-finite loss, or a parameter beyond ``limit``; that step is recorded and
    no update follows), the outcomes of the toy's loop.
    """
    n_test = N - nt
    L = dims.size - 1
    no = dims[L]
    d = dims[0]
    c = np.ones(9, theta.dtype)  # AdamW's per-group constants
    inv_nt = 1.0 / nt
    out = acts[a_off[L] * nt : (a_off[L] + no) * nt].reshape((nt, no))
    out_te = acts_te[a_off[L] * n_test : (a_off[L] + no) * n_test].reshape((n_test, no))
    ptr_te = tok_ptr[nt:]  # absolute offsets into tok_idx
    labels_te = labels[nt:]
    G = gbuf1[: nt * no].reshape((nt, no))
    E = theta[:n_embed].reshape((n_embed // d, d))
    for t in range(t0, t1):
        forward(theta, dims, w_off, b_off, a_off, acts, tok_ptr, tok_idx, nt, has_bias)
        tr_loss, _ = head(out, labels, templates, is_ce, 0, nt, G, True, inv_nt)
        diverged = not (np.isfinite(tr_loss) and representable(theta, limit))
        tr_acc = correct(out, labels, 0, nt) / nt
        if first[0] < 0 and tr_acc >= ACC_THRESHOLD:
            first[0] = t
        if (t % eval_every == 0) or (t == total) or diverged:
            te_acc, te_loss = np.nan, np.nan
            if n_test > 0:
                forward(theta, dims, w_off, b_off, a_off, acts_te, ptr_te, tok_idx, n_test, has_bias)
                te_acc = correct(out_te, labels_te, 0, n_test) / n_test
                te_loss = head(out_te, labels_te, templates, is_ce, 0, n_test, G, False, 0.0)[0] / n_test
                if first[1] < 0 and te_acc >= ACC_THRESHOLD:
                    first[1] = t
            i = rec_pos[0]
            rec_f[i, 0] = t
            rec_f[i, 1] = tr_loss * inv_nt
            rec_f[i, 2] = te_loss
            rec_f[i, 3] = tr_acc
            rec_f[i, 4] = te_acc
            rec_emb[i] = E
            rec_pos[0] = i + 1
            if stop_at_test and tr_acc >= ACC_THRESHOLD and te_acc >= ACC_THRESHOLD:
                return STOPPED_AT_TEST
        if diverged:
            return DIVERGED
        if t < total:
            backward(theta, grad, dims, w_off, b_off, a_off, acts, gbuf1, gbuf2, tok_ptr, tok_idx, nt, nt, has_bias)
            adamw(theta, grad, m, v, t + 1, n_embed, lr, wd, lr, wd, c)
    return RAN
