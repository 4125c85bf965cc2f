"""The paper's toy model: learned embeddings plus an MLP decoder, trained on a task (docs/theory.md §9).

Model. Symbols ``0..p-1`` have embeddings ``E`` (p, d). A sample ``(i, j)`` enters the decoder as
``x = E_i + E_j`` (d,) (``embed="sum"``, the additive toy), or, for the paper's permutation toy
(``embed="matrix"``), as ``x = vec(M_i M_j)`` (d = k², row-major) where ``M_i`` is row i of E read
as a k x k matrix. The input stage is the only model-specific part; the decoder is an MLP ``d -> width -> ... -> width -> out`` with ``depth``
hidden tanh layers and a linear output layer; ``h_{l+1} = tanh(h_l W_l + b_l)``, weights ``W_l``
(fan_in, fan_out) and biases drawn uniformly from ``±decoder_init_scale / sqrt(fan_in)``.
Embeddings start uniform in ``[-0.5, 0.5) * init_scale``. ``embed_l1 > 0`` adds
``embed_l1 * mean |E|`` (over all p d entries) to the training loss; its subgradient uses
sign(0) = 0.

Heads. ``loss="mse"``: ``out = out_dim`` outputs regressed onto a fixed N(0, 1) template ``Y_s``
(out_dim,) for each sum ``s``; loss = mean over training samples and outputs of
``(out - Y_s)^2``; the prediction is the nearest template. ``loss="ce"``: ``out = 2p - 1``
logits, softmax cross-entropy averaged over training samples; the prediction is the argmax.

Optimisation. Full batch; two AdamW optimisers with PyTorch's semantics (decoupled weight decay
``θ <- θ (1 - lr wd)``, bias-corrected moments, β = (0.9, 0.999), ε = 1e-8): one for the
embeddings (``embed_lr``, ``embed_wd``), one for every decoder weight and bias (``decoder_lr``,
``decoder_wd``).

Step convention. "Step t" means the parameters after t updates (step 0 = initialisation). Every
recorded quantity at step t - losses, accuracies, RQI, predicted accuracy, embeddings - is
measured on those same parameters, i.e. *before* update t + 1 is applied; the forward pass that
measures step t is the one whose gradient drives that update. Every step forwards all samples
(the gradient comes from the training rows), so the trajectory does not depend on what is
recorded. Steps 0, k, 2k, ... (k = ``eval_every``) and the last step are recorded.
``steps_to_train`` is the first step with train accuracy >= 0.9, ``steps_to_test`` the same for
test accuracy and ``steps_to_rqi`` the first with RQI >= 0.95 (None when never reached), checked
at every step whatever k.

Everything is determined by ``config.seed`` and the split: the seed's SeedSequence is spawned into
independent streams for the embeddings, the decoder and the templates, so changing the width
does not change the initial embeddings.

The training loop, the forward and backward passes, AdamW and the per-step metrics (RQI and
predicted accuracy on the normalised embeddings, docs/theory.md §7, or their matrix versions for
the matrix model, computed by the kernels of efftheory.theories.linear.metrics) run in one numba kernel over a flat parameter vector; matrix products go to
BLAS. A slow numpy twin lives in efftheory/reference/network.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from efftheory.phases import ACC_THRESHOLD
from efftheory.models.shared_kernels import DIVERGED, RAN, STOPPED_AT_TEST, adamw, head, representable
from efftheory.models.toy.config import NetworkConfig
from efftheory.theories.linear.metrics import RQI_THRESHOLD, holding_into, implied_count

# ------------------------------------------------------------------ parameters


@dataclass(frozen=True)
class Layout:
    """Where each tensor sits in the flat parameter vector ``theta``.

    ``theta[:p*d]`` holds E (p, d) row-major; layer l has W_l at ``w_off[l]`` (dims[l], dims[l+1])
    and b_l at ``b_off[l]`` (dims[l+1],). Activations of all layers share one flat buffer; layer
    l's (rows, dims[l]) block starts at ``rows * a_off[l]``.
    """

    p: int
    dims: np.ndarray  # (L+2,) int64
    w_off: np.ndarray  # (L+1,) int64
    b_off: np.ndarray  # (L+1,) int64
    a_off: np.ndarray  # (L+2,) int64, offsets per row
    n_params: int

    @classmethod
    def build(cls, p: int, dims) -> "Layout":
        dims = np.asarray(dims, dtype=np.int64)
        w_off, b_off = [], []
        off = p * int(dims[0])
        for l in range(dims.size - 1):
            w_off.append(off)
            off += int(dims[l] * dims[l + 1])
            b_off.append(off)
            off += int(dims[l + 1])
        a_off = np.concatenate([[0], np.cumsum(dims)[:-1]]).astype(np.int64)
        return cls(p, dims, np.array(w_off, np.int64), np.array(b_off, np.int64), a_off, off)

    @property
    def n_embed(self) -> int:
        return self.p * int(self.dims[0])

    def unpack(self, theta: np.ndarray):
        """(E, [W_0, ...], [b_0, ...]) as views of ``theta``."""
        E = theta[: self.n_embed].reshape(self.p, int(self.dims[0]))
        Ws, bs = [], []
        for l in range(self.dims.size - 1):
            ni, no = int(self.dims[l]), int(self.dims[l + 1])
            Ws.append(theta[self.w_off[l] : self.w_off[l] + ni * no].reshape(ni, no))
            bs.append(theta[self.b_off[l] : self.b_off[l] + no])
        return E, Ws, bs


def init_params(p: int, config: NetworkConfig, n_classes: int | None = None):
    """Initial flat parameters, layout and templates for ``p`` symbols and ``n_classes`` labels
    (default 2p - 1, the sums of addition).

    Returns ``(theta, layout, templates)``: theta (n_params,) in ``config.dtype``; templates
    (n_classes, out_dim) N(0, 1) for the MSE head, or an empty (n_classes, 0) array for CE.
    """
    dtype = np.dtype(config.dtype)
    n_classes = 2 * p - 1 if n_classes is None else n_classes
    layout = Layout.build(p, config.layer_dims(n_classes))
    s_embed, s_dec, s_tmpl = np.random.SeedSequence(config.seed).spawn(3)
    theta = np.empty(layout.n_params, dtype=np.float64)
    E, Ws, bs = layout.unpack(theta)
    E[...] = (np.random.default_rng(s_embed).random(E.shape) - 0.5) * config.init_scale
    rng = np.random.default_rng(s_dec)
    for W, b in zip(Ws, bs):
        bound = config.decoder_init_scale / math.sqrt(W.shape[0])
        W[...] = rng.uniform(-bound, bound, size=W.shape)
        b[...] = rng.uniform(-bound, bound, size=b.shape)
    if config.loss == "mse":
        templates = np.random.default_rng(s_tmpl).standard_normal((n_classes, config.out_dim))
    else:
        templates = np.zeros((n_classes, 0))
    return theta.astype(dtype), layout, templates.astype(dtype)


# ------------------------------------------------------------------ numba kernels


# [7/6] Padé approximant of tanh (the 6-level truncation of Lambert's continued fraction
# tanh y = y / (1 + y^2 / (3 + y^2 / (5 + ...)))), coefficients divided by 135135 so that the
# numerator a and denominator b stay O(1); its error is below 1e-11 for |y| <= 1.125.
# Entries 8 and 9 are the clamp 9 and the reduction factor 1/8 (typed constants keep float32).
_PADE32 = np.array(
    [1.0, 378.0, 17325.0, 135135.0, 28.0, 3150.0, 62370.0, 135135.0, 9.0 * 135135.0, 135135.0 / 8.0],
) / 135135.0
_PADE32 = _PADE32.astype(np.float32)


@njit(cache=True, inline="always", error_model="numpy")
def _tanh_exact(z, one):
    """tanh through one exp of -2|z|: stable and accurate to rounding in z's dtype."""
    a = abs(z)
    e = np.exp(-(a + a))
    t = (one - e) / (one + e)
    return t if z >= 0 else -t


@njit(cache=True, inline="always", error_model="numpy")
def _tanh_fast(z, one):
    """float32 tanh without a libm call, so that the activation loop vectorises.

    y = min(|z|, 9) / 8 (tanh(9) rounds to 1 in float32); tanh y = a / b from the Padé
    approximant; three doublings tanh 2y = 2ab / (a^2 + b^2) carried as a pair (a, b) so only
    one division remains. Error about 2e-7 (float32 rounding), checked in the tests.
    """
    c = _PADE32
    y = min(abs(z), c[8]) * c[9]
    s = y * y
    a = y * (((c[0] * s + c[1]) * s + c[2]) * s + c[3])
    b = ((c[4] * s + c[5]) * s + c[6]) * s + c[7]
    for _ in range(3):
        a, b = (a + a) * b, a * a + b * b
    t = a / b
    return t if z >= 0 else -t


@njit(cache=True, error_model="numpy")
def _input_stage(theta, X, pi, pj, n, d, side):
    """Decoder inputs X (n, d) of the first n samples: E_i + E_j (side 0), or vec(M_i M_j) for
    k x k matrices M_i = theta[i d : (i + 1) d] row-major (side = k, d = k²)."""
    if side == 0:
        for r in range(n):
            for k in range(d):
                X[r, k] = theta[pi[r] * d + k] + theta[pj[r] * d + k]
        return
    for r in range(n):
        a, b = pi[r] * d, pj[r] * d
        for i in range(side):
            for j in range(side):
                acc = theta[a + i * side] * theta[b + j]
                for l in range(1, side):
                    acc += theta[a + i * side + l] * theta[b + l * side + j]
                X[r, i * side + j] = acc


@njit(cache=True, error_model="numpy")
def _forward(theta, dims, w_off, b_off, a_off, acts, pi, pj, n, d, one, fast, side):
    """Forward pass of the first ``n`` samples; activations of layer l in ``acts``."""
    L = dims.size - 1
    X = acts[a_off[0] * n : (a_off[0] + d) * n].reshape((n, d))
    _input_stage(theta, X, pi, pj, n, d, side)
    for l in range(L):
        ni, no = dims[l], dims[l + 1]
        H = acts[a_off[l] * n : (a_off[l] + ni) * n].reshape((n, ni))
        W = theta[w_off[l] : w_off[l] + ni * no].reshape((ni, no))
        Z = acts[a_off[l + 1] * n : (a_off[l + 1] + no) * n].reshape((n, no))
        np.dot(H, W, Z)
        b = theta[b_off[l] : b_off[l] + no]
        if l < L - 1 and fast:
            for r in range(n):
                for k in range(no):
                    Z[r, k] = _tanh_fast(Z[r, k] + b[k], one)
        elif l < L - 1:
            for r in range(n):
                for k in range(no):
                    Z[r, k] = _tanh_exact(Z[r, k] + b[k], one)
        else:
            for r in range(n):
                for k in range(no):
                    Z[r, k] += b[k]


@njit(cache=True, error_model="numpy")
def _backward(theta, grad, dims, w_off, b_off, a_off, acts, gbuf1, gbuf2, pi, pj, nt, n_rows, d, one, side, l1):
    """Back-propagate dL/dout (in gbuf1, first ``nt`` rows) into ``grad`` (same layout as theta).

    ``acts`` holds a forward pass over ``n_rows >= nt`` samples whose first ``nt`` are the
    training samples, so the first nt rows of each layer block are the ones we need. ``side``
    selects the input stage (:func:`_input_stage`); ``l1`` > 0 adds the subgradient
    ``l1 / (p d) * sign(E)`` of the penalty ``l1 * mean |E|``.
    """
    L = dims.size - 1
    G = gbuf1
    Gn = gbuf2
    for l in range(L - 1, -1, -1):
        ni, no = dims[l], dims[l + 1]
        D = G[: nt * no].reshape((nt, no))
        H = acts[a_off[l] * n_rows : a_off[l] * n_rows + nt * ni].reshape((nt, ni))
        gW = grad[w_off[l] : w_off[l] + ni * no].reshape((ni, no))
        np.dot(H.T, D, gW)
        gb = grad[b_off[l] : b_off[l] + no]  # a view indexed from 0 vectorises
        gb[:] = 0.0
        for r in range(nt):
            for k in range(no):
                gb[k] += D[r, k]
        W = theta[w_off[l] : w_off[l] + ni * no].reshape((ni, no))
        Dn = Gn[: nt * ni].reshape((nt, ni))
        np.dot(D, W.T, Dn)
        if l > 0:  # through tanh: d tanh = 1 - h^2, h = this layer's input activation
            for r in range(nt):
                for k in range(ni):
                    h = H[r, k]
                    Dn[r, k] *= one - h * h
        G, Gn = Gn, G
    _input_backward(theta, grad, G, pi, pj, nt, d, side, w_off[0])
    if l1 > 0.0:  # skipped at 0, so the unpenalised model's gradient stays bitwise what it was
        _l1_subgradient(theta, grad, w_off[0], l1)


@njit(cache=True, error_model="numpy")
def _input_backward(theta, grad, G, pi, pj, nt, d, side, n_embed):
    """dL/dE (grad[:n_embed]) from dL/dx (G, first nt d entries) through the input stage.

    Sum: x = E_i + E_j scatters G to both symbols. Matrix: X = M_i M_j gives
    dL/dM_i = G_X M_j^T and dL/dM_j = M_i^T G_X (G_X the row-major k x k block of G).
    """
    for k in range(n_embed):  # the embeddings occupy theta[:p*d] = theta[:w_off[0]]
        grad[k] = 0.0
    if side == 0:
        for r in range(nt):
            for k in range(d):
                g = G[r * d + k]
                grad[pi[r] * d + k] += g
                grad[pj[r] * d + k] += g
        return
    for r in range(nt):
        a, b, g0 = pi[r] * d, pj[r] * d, r * d
        for i in range(side):
            for j in range(side):
                g = G[g0 + i * side + j]  # dL/dX_ij, X_ij = sum_l M_i[i, l] M_j[l, j]
                for l in range(side):
                    grad[a + i * side + l] += g * theta[b + l * side + j]
                    grad[b + l * side + j] += theta[a + i * side + l] * g


@njit(cache=True, error_model="numpy")
def _l1_subgradient(theta, grad, n_embed, l1):
    """grad[:n_embed] += l1 / n_embed * sign(theta[:n_embed]) (sign(0) = 0, as in PyTorch)."""
    c = l1 / n_embed
    for k in range(n_embed):
        x = theta[k]
        if x > 0:
            grad[k] += c
        elif x < 0:
            grad[k] -= c


#: columns of ``first`` (first steps reaching the train / test accuracy and RQI thresholds)
FIRST_TRAIN, FIRST_TEST, FIRST_RQI = 0, 1, 2


@njit(cache=True, error_model="numpy")
def _train_chunk(theta, m, v, grad, dims, w_off, b_off, a_off, acts, gbuf1, gbuf2,
                 pi, pj, labels, templates, is_ce, nt, N, p, d,
                 lr_e, wd_e, lr_d, wd_d, t0, t1, total, eval_every, stop_at_test,
                 all_pairs, all_ptr, n_par, test_pairs, test_labels, tr_pairs, tr_ptr,
                 thresh, rec_f, rec_emb, rec_pos, first, fast, limit, side, l1):
    """Run steps t0 <= t < t1 (t <= total): measure step t, record it if due, then update unless t == total.

    Every step forwards all N samples (training rows first) and takes the gradient from the
    first ``nt`` rows. The matrix products that drive the trajectory then have the same shapes
    at every step, whichever steps are recorded: BLAS rounds a row differently in products with
    different row counts, and the training dynamics amplify such differences, so a schedule
    that forwarded the test rows only on evaluated steps made the trajectory depend on it.
    Carrying the test rows every step costs N/nt of a training-rows-only forward (55/45 at
    p = 10), less than a separate forward of the few test rows (a small product is inefficient
    in BLAS; measured in benchmarks/profile_step.py), and gives the test accuracy of every step.

    Threshold crossings are exact: ``first`` (3,) int64 holds the first step with train
    accuracy >= 0.9, test accuracy >= 0.9 and RQI >= 0.95 (-1 = not yet), checked at every
    step (the RQI only while its crossing is unknown or when the step is recorded).

    Records go to row ``rec_pos[0]`` of ``rec_f`` (columns: step, train loss, test loss, train
    acc, test acc, rqi, predicted test acc) and ``rec_emb``; steps 0, k, 2k, ... (k =
    ``eval_every``), ``total`` and a stopping step are recorded. RQI and predicted accuracy
    come from the kernels of :mod:`efftheory.theories.linear.metrics` (samples indexed as in the task's table).
    ``limit`` is in theta's dtype. Returns RAN, STOPPED_AT_TEST (with
    ``stop_at_test``, at the first step with train and test accuracy both >= 0.9), or DIVERGED
    when the training loss is not finite or a parameter's magnitude exceeds ``limit`` (that
    step is recorded, and no update follows). ``side`` and ``l1`` choose the model (matrix
    input stage, L1 penalty; 0 and 0 = the additive toy); the recorded train loss is the head's
    (data) loss, without the L1 term.
    """
    n_test = N - nt
    no = dims[dims.size - 1]
    L = dims.size - 1
    En = np.empty((p, d))
    c = np.ones(9, theta.dtype)  # c[:8] AdamW constants, c[8] = 1 in theta's dtype
    inv_nt = 1.0 / nt
    out = acts[a_off[L] * N : (a_off[L] + no) * N].reshape((N, no))
    G = gbuf1[: nt * no].reshape((nt, no))
    E = theta[: p * d].reshape((p, d))
    for t in range(t0, t1):
        _forward(theta, dims, w_off, b_off, a_off, acts, pi, pj, N, d, c[8], fast, side)
        tr_loss, tr_ok = head(out, labels, templates, is_ce, 0, nt, G, True, inv_nt)
        te_loss, te_ok = head(out, labels, templates, is_ce, nt, N, G, False, 0.0)
        diverged = not (np.isfinite(tr_loss) and representable(theta, limit))
        tr_acc = tr_ok / nt
        te_acc = te_ok / n_test if n_test > 0 else np.nan
        if first[FIRST_TRAIN] < 0 and tr_acc >= ACC_THRESHOLD:
            first[FIRST_TRAIN] = t
        if first[FIRST_TEST] < 0 and te_acc >= ACC_THRESHOLD:
            first[FIRST_TEST] = t
        stop = stop_at_test and n_test > 0 and tr_acc >= ACC_THRESHOLD and te_acc >= ACC_THRESHOLD
        record = (t % eval_every == 0) or (t == total) or diverged or stop
        if record or first[FIRST_RQI] < 0:
            held = holding_into(E, En, side, all_pairs, all_ptr, thresh)  # additive or matrix RQI
            rqi = held / n_par if n_par > 0 else 0.0
            if first[FIRST_RQI] < 0 and rqi >= RQI_THRESHOLD:
                first[FIRST_RQI] = t
            if record:
                implied = implied_count(En, side, test_pairs, test_labels, tr_pairs, tr_ptr, thresh)
                i = rec_pos[0]
                rec_f[i, 0] = t
                rec_f[i, 1] = tr_loss * inv_nt
                rec_f[i, 2] = te_loss / n_test if n_test > 0 else np.nan
                rec_f[i, 3] = tr_acc
                rec_f[i, 4] = te_acc
                rec_f[i, 5] = rqi
                rec_f[i, 6] = implied / n_test if n_test > 0 else np.nan
                rec_emb[i] = En
                rec_pos[0] = i + 1
        if diverged:
            return DIVERGED
        if stop:
            return STOPPED_AT_TEST
        if t < total:
            _backward(theta, grad, dims, w_off, b_off, a_off, acts, gbuf1, gbuf2, pi, pj, nt, N, d, c[8], side, l1)
            adamw(theta, grad, m, v, t + 1, p * d, lr_e, wd_e, lr_d, wd_d, c)
    return RAN


