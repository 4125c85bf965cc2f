"""The paper's transformer on modular addition (docs/theory.md §15), in numpy and numba.

Input. A sample (a, b) of addition mod p is the sequence of its two tokens; token t has the
embedding E_t (E: (p, d), drawn N(0, 1)). No positional encoding and no "=" token, as in the
paper, so the network sees the set {a, b} and attention is symmetric in the two positions.

Encoder. ``layers`` pre-LayerNorm blocks on the two token vectors x_0, x_1 (d each):

    x <- x + Attn(LN_1(x)),    x <- x + FF(LN_2(x)),

with LN(x) = g ⊙ (x − mean x) / sqrt(var x + 1e-5) + b (learned gain g and bias b, biased
variance over the d components), single-head attention

    [q | k | v] = h W_qkv + b_qkv,   A_ij = softmax_j(q_i · k_j / sqrt(d)),
    Attn(h)_i = (Σ_j A_ij v_j) W_o + b_o,

and a ReLU feed-forward FF(h) = relu(h W_1 + c_1) W_2 + c_2 of width ``width``. With
``final_ln`` (default on) one more LayerNorm follows the last block. The two output vectors are
concatenated, z = [x_0, x_1] (2d), and mapped to p logits by W_out (2d, p), b_out. The loss is
the softmax cross-entropy averaged over the training samples; the prediction is the argmax.

Initialisation (``config.seed``; SeedSequence spawned into one stream for the embeddings and
one for the rest, so the decoder's size does not change E0): E ~ N(0, 1); every linear layer's
weight and bias uniform in ±1/sqrt(fan_in) (PyTorch's nn.Linear default; fan_in = d for
W_qkv, W_o, W_1, width for W_2 and 2d for W_out); LayerNorm gain 1, bias 0.

Parameters and activations. One flat vector θ holds every tensor (the embeddings first, so the
two AdamW groups are two contiguous slices) and one flat buffer per sample set holds the
activations: efftheory.models.transformer.layout says where each one sits.

Optimisation. Full batch; AdamW with PyTorch's semantics (the kernels of efftheory.models.toy.kernels:
decoupled decay θ <- θ (1 − lr wd), bias-corrected moments, β = (0.9, 0.999), ε = 1e-8) on
two groups: the embeddings (``embed_lr``, ``embed_wd``) and the decoder, every other parameter
(``decoder_lr``, ``decoder_wd``).

Step convention (the toy network's, docs/theory.md §9): step t means the parameters after t
updates; everything recorded at step t is measured on them, before update t + 1, and the
forward pass that measures step t is the one whose gradient drives that update.

The forward and backward passes run in numba kernels over the flat parameter vector with
token rows (2 per sample: rows 2r and 2r + 1 are the two tokens of sample r) in contiguous
matrices, so every matrix product goes to BLAS; the operations between the products are the
loops of efftheory.models.transformer.ops. A slow numpy twin lives in
efftheory/reference/transformer.py.

Dropout (``dropout`` = r > 0). The pass whose gradient drives update t + 1 drops units where
PyTorch's encoder layer does: the attention weights A_ij, the attention output (Σ_j A_ij v_j)
W_o + b_o and the feed-forward output before each is added to the residual stream, and the
feed-forward hidden units relu(h W_1 + c_1); a kept unit is scaled by 1/(1 − r). Which units
are kept is a hash of (the run's seed, t, the unit's place) (efftheory.models.dropout), so a run is
still a function of its config and split alone. Everything recorded (losses, accuracies)
reads the network without dropout, as a model in evaluation mode.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from efftheory.models.dropout import step_key
from efftheory.models.shared_kernels import DIVERGED, RAN, adamw, head, representable
from efftheory.models.transformer.layout import (
    ATT, B_O, B_OUT, B_QKV, C_1, C_2, D1, D3, DA, H1, H2, LN1_B, LN1_G, LN2_B, LN2_G, LNF_B, LNF_G, LOGITS,
    NO_KEY, QKV, RSTD1, RSTD2, RSTDF, SITE_ATT, SITE_ATT_OUT, SITE_FF_HIDDEN, SITE_FF_OUT, SITE_SHIFT, U, W_1, W_2,
    W_O, W_OUT, W_QKV, XHAT1, XHAT2, XHATF, XMID, Z, O, X, _view,
)
from efftheory.models.transformer.ops import (
    _add_bias, _attention, _attention_backward, _col_sums, _fill_mask, _ln_backward, _ln_forward, _relu,
    _relu_grad, _residual, _times,
)

#: test accuracy at which a run counts as fully generalised (the paper's Fig 1 reads this)
ACC_FULL = 0.99


@njit(cache=True, error_model="numpy")
def _forward(theta, boff, hoff, aoff, acts, pi, pj, n, p, d, w, eps, rate, key):
    """Forward pass of the first ``n`` samples; logits in region LOGITS (n, p).

    With ``rate`` > 0 (training passes only; ``acts`` then has the dropout regions) inverted
    dropout acts at the four places of PyTorch's encoder layer: on the attention weights, on the
    attention output and on the feed-forward output before each joins the residual stream, and
    on the feed-forward hidden units; the masks are those of ``key`` (efftheory.models.dropout), and
    the multipliers of the first three are kept for the backward pass (U keeps the dropped
    hidden units, which is all the backward pass needs of the fourth)."""
    L = boff.shape[0]
    R = 2 * n
    scale = 1.0 / math.sqrt(d)
    drop = rate > 0.0
    no_mask = _view(acts, 0, 0, 2)
    Xs = _view(acts, aoff[X, 0], R, d)
    for r in range(n):
        a = pi[r] * d
        b = pj[r] * d
        for k in range(d):
            Xs[2 * r, k] = theta[a + k]
            Xs[2 * r + 1, k] = theta[b + k]
    for l in range(L):
        o = boff[l]
        Xl = _view(acts, aoff[X, l], R, d)
        Hl = _view(acts, aoff[H1, l], R, d)
        _ln_forward(Xl, theta[o[LN1_G] : o[LN1_G] + d], theta[o[LN1_B] : o[LN1_B] + d],
                    _view(acts, aoff[XHAT1, l], R, d), _view(acts, aoff[RSTD1, l], R, 1), Hl, eps)
        Q = _view(acts, aoff[QKV, l], R, 3 * d)
        np.dot(Hl, _view(theta, o[W_QKV], d, 3 * d), Q)
        _add_bias(Q, theta[o[B_QKV] : o[B_QKV] + 3 * d])
        Ov = _view(acts, aoff[O, l], R, d)
        DAl = no_mask
        if drop:
            DAl = _view(acts, aoff[DA, l], R, 2)
            _fill_mask(DAl, key, (4 * l + SITE_ATT) * SITE_SHIFT, rate)
        _attention(Q, _view(acts, aoff[ATT, l], R, 2), Ov, n, d, scale, DAl, drop)
        Xm = _view(acts, aoff[XMID, l], R, d)
        np.dot(Ov, _view(theta, o[W_O], d, d), Xm)
        bo = theta[o[B_O] : o[B_O] + d]
        D1l = no_mask
        if drop:
            D1l = _view(acts, aoff[D1, l], R, d)
            _fill_mask(D1l, key, (4 * l + SITE_ATT_OUT) * SITE_SHIFT, rate)
        _residual(Xm, bo, D1l, Xl, drop)
        H2l = _view(acts, aoff[H2, l], R, d)
        _ln_forward(Xm, theta[o[LN2_G] : o[LN2_G] + d], theta[o[LN2_B] : o[LN2_B] + d],
                    _view(acts, aoff[XHAT2, l], R, d), _view(acts, aoff[RSTD2, l], R, 1), H2l, eps)
        Ul = _view(acts, aoff[U, l], R, w)
        np.dot(H2l, _view(theta, o[W_1], d, w), Ul)
        _relu(Ul, theta[o[C_1] : o[C_1] + w], key, (4 * l + SITE_FF_HIDDEN) * SITE_SHIFT, rate, drop)
        Xn = _view(acts, aoff[X, l + 1], R, d)
        np.dot(Ul, _view(theta, o[W_2], w, d), Xn)
        D3l = no_mask
        if drop:
            D3l = _view(acts, aoff[D3, l], R, d)
            _fill_mask(D3l, key, (4 * l + SITE_FF_OUT) * SITE_SHIFT, rate)
        _residual(Xn, theta[o[C_2] : o[C_2] + d], D3l, Xm, drop)
    if hoff[LNF_G] >= 0:
        _ln_forward(_view(acts, aoff[X, L], R, d), theta[hoff[LNF_G] : hoff[LNF_G] + d],
                    theta[hoff[LNF_B] : hoff[LNF_B] + d], _view(acts, aoff[XHATF, 0], R, d),
                    _view(acts, aoff[RSTDF, 0], R, 1), _view(acts, aoff[Z, 0], R, d), eps)
    Zc = _view(acts, aoff[Z, 0], n, 2 * d)  # rows 2r, 2r+1 side by side: [x_0 | x_1] per sample
    logits = _view(acts, aoff[LOGITS, 0], n, p)
    np.dot(Zc, _view(theta, hoff[W_OUT], 2 * d, p), logits)
    _add_bias(logits, theta[hoff[B_OUT] : hoff[B_OUT] + p])


@njit(cache=True, error_model="numpy")
def _backward(theta, grad, boff, hoff, aoff, acts, gx, gh, gqkv, go, gu, G, pi, pj, nt, p, d, w, rate):
    """grad <- dL/dθ given G = dL/dlogits (nt, p) and a forward pass whose first nt samples are
    the training samples, with dropout at ``rate`` (its multipliers read from ``acts``).
    gx, gh, go (2 nt d), gqkv (2 nt 3d), gu (2 nt w) are scratch."""
    L = boff.shape[0]
    R = 2 * nt
    scale = 1.0 / math.sqrt(d)
    drop = rate > 0.0
    inv_keep = 1.0 / (1.0 - rate)
    no_mask = _view(acts, 0, 0, 2)
    # head: logits = z W_out + b_out
    np.dot(_view(acts, aoff[Z, 0], nt, 2 * d).T, G, _view(grad, hoff[W_OUT], 2 * d, p))
    _col_sums(G, grad[hoff[B_OUT] : hoff[B_OUT] + p])
    gZ = _view(gh, 0, nt, 2 * d)
    np.dot(G, _view(theta, hoff[W_OUT], 2 * d, p).T, gZ)
    gX = _view(gx, 0, R, d)
    gH = _view(gh, 0, R, d)
    if hoff[LNF_G] >= 0:
        gX[:, :] = 0.0
        _ln_backward(gH, _view(acts, aoff[XHATF, 0], R, d), _view(acts, aoff[RSTDF, 0], R, 1),
                     theta[hoff[LNF_G] : hoff[LNF_G] + d], gX, grad[hoff[LNF_G] : hoff[LNF_G] + d],
                     grad[hoff[LNF_B] : hoff[LNF_B] + d])
    else:
        gX[:, :] = gH
    gU = _view(gu, 0, R, w)
    gO = _view(go, 0, R, d)
    gQ = _view(gqkv, 0, R, 3 * d)
    for l in range(L - 1, -1, -1):
        o = boff[l]
        # x_out = x_mid + (relu(h2 W_1 + c_1) ⊙ m_2 W_2 + c_2) ⊙ m_3 (m = 1 without dropout)
        Ul = _view(acts, aoff[U, l], R, w)
        gY = gX
        if drop:  # gH is free until the LN2 backward: it holds dL/d(branch) = gX ⊙ m_3
            gY = gH
            _times(gY, gX, _view(acts, aoff[D3, l], R, d))
        np.dot(Ul.T, gY, _view(grad, o[W_2], w, d))
        _col_sums(gY, grad[o[C_2] : o[C_2] + d])
        np.dot(gY, _view(theta, o[W_2], w, d).T, gU)
        _relu_grad(gU, Ul, inv_keep, drop)
        np.dot(_view(acts, aoff[H2, l], R, d).T, gU, _view(grad, o[W_1], d, w))
        _col_sums(gU, grad[o[C_1] : o[C_1] + w])
        np.dot(gU, _view(theta, o[W_1], d, w).T, gH)
        _ln_backward(gH, _view(acts, aoff[XHAT2, l], R, d), _view(acts, aoff[RSTD2, l], R, 1),
                     theta[o[LN2_G] : o[LN2_G] + d], gX, grad[o[LN2_G] : o[LN2_G] + d],
                     grad[o[LN2_B] : o[LN2_B] + d])
        # x_mid = x + ((A ⊙ m_A) v W_o + b_o) ⊙ m_1
        gY = gX
        DAl = no_mask
        if drop:
            gY = gH
            _times(gY, gX, _view(acts, aoff[D1, l], R, d))
            DAl = _view(acts, aoff[DA, l], R, 2)
        np.dot(_view(acts, aoff[O, l], R, d).T, gY, _view(grad, o[W_O], d, d))
        _col_sums(gY, grad[o[B_O] : o[B_O] + d])
        np.dot(gY, _view(theta, o[W_O], d, d).T, gO)
        _attention_backward(_view(acts, aoff[QKV, l], R, 3 * d), _view(acts, aoff[ATT, l], R, 2), gO, gQ,
                            nt, d, scale, DAl, drop)
        np.dot(_view(acts, aoff[H1, l], R, d).T, gQ, _view(grad, o[W_QKV], d, 3 * d))
        _col_sums(gQ, grad[o[B_QKV] : o[B_QKV] + 3 * d])
        np.dot(gQ, _view(theta, o[W_QKV], d, 3 * d).T, gH)
        _ln_backward(gH, _view(acts, aoff[XHAT1, l], R, d), _view(acts, aoff[RSTD1, l], R, 1),
                     theta[o[LN1_G] : o[LN1_G] + d], gX, grad[o[LN1_G] : o[LN1_G] + d],
                     grad[o[LN1_B] : o[LN1_B] + d])
    # the two token rows of sample r scatter back to the embeddings of its symbols
    for k in range(p * d):
        grad[k] = 0.0
    for r in range(nt):
        a = pi[r] * d
        b = pj[r] * d
        for k in range(d):
            grad[a + k] += gX[2 * r, k]
            grad[b + k] += gX[2 * r + 1, k]


@njit(cache=True, error_model="numpy")
def _update(theta, grad, m, v, step, n_embed, hyper, c):
    """One AdamW update (``step`` from 1) of the two groups θ[:n_embed] (embeddings) and
    θ[n_embed:] (decoder); hyper = (embed lr, embed wd, decoder lr, decoder wd)."""
    adamw(theta, grad, m, v, step, n_embed, hyper[0], hyper[1], hyper[2], hyper[3], c)


@njit(cache=True, error_model="numpy")
def _train_chunk(theta, m, v, grad, boff, hoff, aoff, acts, gx, gh, gqkv, go, gu, gbuf,
                 pi, pj, labels, aoff_te, acts_te, pi_te, pj_te, labels_te, templates, nt, n_test, p, d, w, eps,
                 hyper, rate, key_base, t0, t1, total, eval_every, stop_at_full,
                 rec_f, rec_emb, rec_pos, limit):
    """Run steps t0 <= t < t1 (t <= total): evaluate if due, then update unless t == total.

    The training samples always go through their own forward pass (buffer ``acts``) and the
    test samples, on evaluated steps only, through another (``acts_te``): the products BLAS
    computes for the training rows, and so the trajectory, do not depend on ``eval_every``.
    With dropout (``rate`` > 0) the gradient's pass drops units with the masks of
    step_key(key_base, t), and the records read the network without dropout from one more
    training pass, run before it on evaluated steps (after it only on a diverged step, where no
    update follows). Records go to row ``rec_pos[0]`` of ``rec_f`` (step, train loss, test
    loss, train acc, test acc) and ``rec_emb`` (raw E). Returns RAN, DIVERGED (training loss not
    finite or a parameter beyond ``limit``; that step is recorded and no update follows) or,
    with ``stop_at_full``, 1 once train and test accuracy are both >= 0.99.     """
    c = np.ones(8, theta.dtype)
    inv_nt = 1.0 / nt
    G = _view(gbuf, 0, nt, p)
    drop = rate > 0.0
    out = _view(acts, aoff[LOGITS, 0], nt, p)
    for t in range(t0, t1):
        due = (t % eval_every == 0) or (t == total)
        ev_loss, ev_ok = 0.0, 0
        if drop and due:
            _forward(theta, boff, hoff, aoff, acts, pi, pj, nt, p, d, w, eps, 0.0, NO_KEY)
            ev_loss, ev_ok = head(out, labels, templates, True, 0, nt, G, False, 0.0)
        key = step_key(key_base, t) if drop else NO_KEY
        _forward(theta, boff, hoff, aoff, acts, pi, pj, nt, p, d, w, eps, rate, key)
        tr_loss, tr_ok = head(out, labels, templates, True, 0, nt, G, True, inv_nt)
        diverged = not (np.isfinite(tr_loss) and representable(theta, limit))
        # the step at which a run diverges is recorded too
        evaluate = due or diverged
        if not drop:
            ev_loss, ev_ok = tr_loss, tr_ok
        elif evaluate and not due:
            _forward(theta, boff, hoff, aoff, acts, pi, pj, nt, p, d, w, eps, 0.0, NO_KEY)
            ev_loss, ev_ok = head(out, labels, templates, True, 0, nt, G, False, 0.0)
        outcome = RAN
        if evaluate:
            te_loss, te_ok = 0.0, 0
            if n_test > 0:
                _forward(theta, boff, hoff, aoff_te, acts_te, pi_te, pj_te, n_test, p, d, w, eps, 0.0, NO_KEY)
                out_te = _view(acts_te, aoff_te[LOGITS, 0], n_test, p)
                te_loss, te_ok = head(out_te, labels_te, templates, True, 0, n_test, G, False, 0.0)
            i = rec_pos[0]
            rec_f[i, 0] = t
            rec_f[i, 1] = ev_loss * inv_nt
            rec_f[i, 2] = te_loss / n_test if n_test > 0 else np.nan
            rec_f[i, 3] = ev_ok / nt
            rec_f[i, 4] = te_ok / n_test if n_test > 0 else np.nan
            for a in range(p):
                for k in range(d):
                    rec_emb[i, a, k] = theta[a * d + k]
            rec_pos[0] = i + 1
            if diverged:
                outcome = DIVERGED
            elif stop_at_full and n_test > 0 and rec_f[i, 3] >= ACC_FULL and rec_f[i, 4] >= ACC_FULL:
                outcome = 1
        if outcome != RAN:
            return outcome
        if t < total:
            _backward(theta, grad, boff, hoff, aoff, acts, gx, gh, gqkv, go, gu, G, pi, pj, nt, p, d, w, rate)
            _update(theta, grad, m, v, t + 1, p * d, hyper, c)
    return RAN


