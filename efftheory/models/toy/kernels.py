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
import numbers
import time
from dataclasses import dataclass

import numpy as np
from numba import njit

from efftheory.errors import require
from efftheory.theories.linear.metrics import (DEFAULT_DELTA, MATRIX_THRESHOLD, RQI_THRESHOLD, holding_into, implied_arrays, implied_count,
                               threshold)
from efftheory.models.base import TrainResult
from efftheory.models.phases import ACC_THRESHOLD, DEFAULT_GAP, phase_of
from efftheory.tasks import Split
from efftheory.runtime.threads import one_blas_thread
from efftheory.theories.linear.theory import count_equal_result_pairs, count_parallelograms

LOSSES = ("mse", "ce")
DTYPES = ("float32", "float64")
#: how a sample's two embeddings form the decoder input: E_i + E_j, or vec(M_i M_j)
EMBEDS = ("sum", "matrix")
BETA1, BETA2, EPS = 0.9, 0.999, 1e-8
_CHUNK = 500  # steps per kernel call between progress updates


# ------------------------------------------------------------------ configuration


def _check_int(name, value, low):
    require(
        isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= low,
        f"{name} must be an integer >= {low}, got {value!r}",
    )


def _check_float(name, value, positive):
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > 0 if positive else value >= 0)
    require(ok, f"{name} must be a {'positive' if positive else 'non-negative'} number, got {value!r}")


@dataclass(frozen=True)
class NetworkConfig:
    """Hyper-parameters of the toy network (docs/theory.md §9); validated on construction.

    ``depth`` counts hidden layers (>= 1); ``out_dim`` is the template dimension of the MSE head
    (the CE head has one output per label: 2p - 1 sums for addition, p for modular addition).
    ``embed`` is the input stage: ``"sum"`` (x = E_i + E_j) or ``"matrix"`` (x = vec(M_i M_j),
    each embedding a k x k matrix with ``dim = k * k``, a perfect square). ``embed_l1`` weighs
    the L1 penalty ``embed_l1 * mean |E|`` added to the training loss (the paper's permutation
    toy: 1e-3).
    """

    loss: str = "mse"
    dim: int = 1
    width: int = 200
    depth: int = 2
    embed_lr: float = 1e-3
    decoder_lr: float = 1e-4
    embed_wd: float = 0.0
    decoder_wd: float = 0.0
    init_scale: float = 1.0
    decoder_init_scale: float = 1.0
    out_dim: int = 30
    dtype: str = "float32"
    seed: int = 0
    embed: str = "sum"
    embed_l1: float = 0.0

    def __post_init__(self) -> None:
        require(self.loss in LOSSES, f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        require(self.dtype in DTYPES, f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        _check_int("dim", self.dim, 1)
        _check_int("width", self.width, 1)
        _check_int("depth", self.depth, 1)
        _check_int("out_dim", self.out_dim, 1)
        _check_int("seed", self.seed, 0)
        _check_float("embed_lr", self.embed_lr, True)
        _check_float("decoder_lr", self.decoder_lr, True)
        _check_float("embed_wd", self.embed_wd, False)
        _check_float("decoder_wd", self.decoder_wd, False)
        _check_float("init_scale", self.init_scale, True)
        _check_float("decoder_init_scale", self.decoder_init_scale, True)
        for name in ("embed_lr", "decoder_lr", "embed_wd", "decoder_wd", "init_scale", "decoder_init_scale", "embed_l1"):
            object.__setattr__(self, name, float(getattr(self, name)))  # the kernels are typed on floats
        require(self.embed in EMBEDS, f"embed must be one of {', '.join(EMBEDS)}, got {self.embed!r}")
        _check_float("embed_l1", self.embed_l1, False)
        if self.embed == "matrix":
            k = math.isqrt(self.dim)
            require(k * k == self.dim, f"the matrix model needs dim = k*k (9 for 3x3 matrices), got dim={self.dim}")

    @property
    def side(self) -> int:
        """k of the k x k matrices of the matrix model; 0 for the sum model (the kernels' switch)."""
        return math.isqrt(self.dim) if self.embed == "matrix" else 0

    def layer_dims(self, n_classes: int) -> tuple[int, ...]:
        """(d, width, ..., width, out): the sizes of the decoder's activations (out = out_dim
        for the MSE head, the number of labels for the CE head)."""
        out = self.out_dim if self.loss == "mse" else n_classes
        return (self.dim,) + (self.width,) * self.depth + (out,)


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
def _head(out, labels, templates, is_ce, n0, n1, G, want_grad, scale):
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


@njit(cache=True, error_model="numpy")
def _adamw_group(theta, grad, m, v, c):
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
def _adamw(theta, grad, m, v, step, n_embed, lr_e, wd_e, lr_d, wd_d, c):
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
        _adamw_group(theta[lo:hi], grad[lo:hi], m[lo:hi], v[lo:hi], c)


@njit(cache=True, error_model="numpy")
def _representable(x, limit):
    """Every |x_k| <= limit (False for NaN and inf).

    Counts the failures over the whole array without branching, so that the loop vectorises
    (``limit`` in x's dtype: a compare in another dtype would not); a loop that returned at the
    first failure cost about as much as the AdamW update itself."""
    bad = 0
    for k in range(x.size):
        bad += 1 - np.int32(abs(x[k]) <= limit)
    return bad == 0


#: outcomes of one chunk of training steps
RAN, STOPPED_AT_TEST, DIVERGED = 0, 1, 2
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
        tr_loss, tr_ok = _head(out, labels, templates, is_ce, 0, nt, G, True, inv_nt)
        te_loss, te_ok = _head(out, labels, templates, is_ce, nt, N, G, False, 0.0)
        diverged = not (np.isfinite(tr_loss) and _representable(theta, limit))
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
            _adamw(theta, grad, m, v, t + 1, p * d, lr_e, wd_e, lr_d, wd_d, c)
    return RAN


# ------------------------------------------------------------------ training


class _Problem:
    """Arrays the kernels need for one split and config (samples ordered train first)."""

    def __init__(self, split: Split, config: NetworkConfig):
        self.theta, self.layout, self.templates = init_params(split.p, config, split.task.n_classes)
        order = np.concatenate([split.train, split.test])
        pairs = split.task.pairs[order]
        self.pi = np.ascontiguousarray(pairs[:, 0])
        self.pj = np.ascontiguousarray(pairs[:, 1])
        self.labels = split.task.labels[order].astype(np.int64)
        self.N, self.nt, self.d = split.task.n_samples, split.n_train, config.dim
        dims = self.layout.dims
        dtype = self.theta.dtype
        self.acts = np.zeros(self.N * int(dims.sum()), dtype=dtype)
        self.gbuf1 = np.zeros(self.nt * int(dims.max()), dtype=dtype)
        self.gbuf2 = np.zeros_like(self.gbuf1)
        self.is_ce = config.loss == "ce"
        self.fast = dtype == np.float32
        self.side, self.l1 = config.side, float(config.embed_l1)

    def metric_arrays(self, split: Split) -> tuple:
        """Arrays of the RQI / predicted-accuracy kernels (samples indexed as in the task).

        |P0| counts the parallelograms of the model's RQI: those with a non-zero additive
        constraint for the sum model, every pair of distinct equal-label samples for the
        matrix model ((a, b) and (b, a) of commuting a, b constrain M_a M_b = M_b M_a).
        """
        task = split.task
        every = task.classes()
        count = count_equal_result_pairs if self.side else count_parallelograms
        n_par = count(task, np.arange(task.n_samples))
        return (every.pairs_of(task), every.ptr, n_par, *implied_arrays(split))

    def threshold(self, p: int, delta: float) -> float:
        """The holding threshold of the model's RQI: δ_p (sum) or the paper's fixed 0.5 (matrix)."""
        return MATRIX_THRESHOLD if self.side else threshold(p, delta)


def loss_and_gradient(split: Split, config: NetworkConfig, theta: np.ndarray | None = None):
    """Mean training loss and its gradient with respect to the flat parameters.

    ``theta`` (n_params,) in the layout of :func:`init_params` (default: the initial
    parameters of ``config``); returns ``(loss, grad)`` with grad (n_params,). The loss is the
    whole objective: the head's mean loss plus ``embed_l1 * mean |E|``. This is the kernel path
    the training loop uses, exposed for checks against finite differences.
    """
    prob = _Problem(split, config)
    theta = prob.theta if theta is None else np.ascontiguousarray(theta, dtype=prob.theta.dtype)
    require(theta.shape == prob.theta.shape, f"theta must have shape {prob.theta.shape}, got {theta.shape}")
    lay = prob.layout
    nt, no = prob.nt, int(lay.dims[-1])
    one = theta.dtype.type(1)
    _forward(theta, lay.dims, lay.w_off, lay.b_off, lay.a_off, prob.acts, prob.pi, prob.pj, nt, prob.d, one, prob.fast,
             prob.side)
    L = lay.dims.size - 1
    out = prob.acts[lay.a_off[L] * nt : (lay.a_off[L] + no) * nt].reshape(nt, no)
    G = prob.gbuf1[: nt * no].reshape(nt, no)
    loss, _ = _head(out, prob.labels, prob.templates, prob.is_ce, 0, nt, G, True, 1.0 / nt)
    grad = np.zeros_like(theta)
    _backward(theta, grad, lay.dims, lay.w_off, lay.b_off, lay.a_off, prob.acts, prob.gbuf1, prob.gbuf2,
              prob.pi, prob.pj, nt, nt, prob.d, one, prob.side, prob.l1)
    loss = loss / nt
    if prob.l1 > 0.0:
        loss += prob.l1 * float(np.abs(theta[: lay.n_embed].astype(np.float64)).mean())
    return loss, grad


def _divergence_limit(dtype) -> float:
    """sqrt of the dtype's largest number (1.8e19 in float32): beyond it the squared norm of the
    parameters (Z, variances) is not representable, so the run has left the numbers."""
    return float(np.sqrt(np.finfo(dtype).max))


def _below_in(dtype, limit: float):
    """The largest number of ``dtype`` not above ``limit``: for x of that dtype, |x| <= it
    exactly when |x| <= limit, and the compare stays in the dtype."""
    value = dtype.type(limit)
    return value if value <= limit else np.nextafter(value, dtype.type(-np.inf))


def train_network(split: Split, config: NetworkConfig | None = None, steps: int = 5000, *,
                  eval_every: int = 1, delta: float = DEFAULT_DELTA, gap: float = DEFAULT_GAP,
                  stop_at_test: bool = False, progress=None) -> TrainResult:
    """Train the toy network on ``split`` for ``steps`` full-batch updates.

    Steps 0, eval_every, 2 eval_every, ... and ``steps`` are recorded, each on the parameters
    after that many updates and before the next one (module docstring); the step counts are
    exact whatever ``eval_every``, and the trajectory is the same bit for bit. With
    ``stop_at_test`` the run ends at the first step where train and test accuracy are both
    >= 0.9 (its phase is then decided; that step is recorded). A run whose training loss or parameters become non-finite
    stops at that step (recorded) with phase "diverged"; so does one whose parameters exceed sqrt of the dtype's
    largest number (1.8e19 in float32), where their squares overflow. ``progress``, if given, is called as
    ``progress(n)`` with the number of steps just done. The result depends only on ``config``
    and ``split``.
    """
    config = NetworkConfig() if config is None else config
    require(isinstance(config, NetworkConfig), f"config must be a NetworkConfig, got {type(config).__name__}")
    require(isinstance(split, Split), f"split must be a Split, got {type(split).__name__}")
    _check_int("steps", steps, 1)
    _check_int("eval_every", eval_every, 1)
    _check_float("delta", delta, True)
    _check_float("gap", gap, False)
    p = split.p
    start = time.perf_counter()

    prob = _Problem(split, config)
    theta, layout, templates = prob.theta, prob.layout, prob.templates
    E0 = theta[: layout.n_embed].reshape(p, config.dim).astype(np.float64)
    N, nt, d = prob.N, prob.nt, prob.d
    dims = layout.dims
    grad = np.zeros_like(theta)
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    metric_arrays = prob.metric_arrays(split)

    n_rec = steps // eval_every + 3  # 0, k, 2k, ..., the last step and a stopping step
    rec_f = np.full((n_rec, 7), np.nan)
    rec_emb = np.zeros((n_rec, p, d))
    rec_pos = np.zeros(1, dtype=np.int64)
    first = np.full(3, -1, dtype=np.int64)  # first steps over the train / test / RQI thresholds
    limit = _divergence_limit(theta.dtype)
    thresh = prob.threshold(p, delta)
    t, done, outcome = 0, 0, RAN
    with one_blas_thread():
        while t <= steps and outcome == RAN:
            t1 = min(t + _CHUNK, steps + 1)
            outcome = _train_chunk(
                theta, m, v, grad, dims, layout.w_off, layout.b_off, layout.a_off, prob.acts,
                prob.gbuf1, prob.gbuf2, prob.pi, prob.pj, prob.labels, templates, prob.is_ce, nt, N,
                p, d, config.embed_lr, config.embed_wd, config.decoder_lr, config.decoder_wd,
                t, t1, steps, eval_every, stop_at_test, *metric_arrays, thresh, rec_f, rec_emb,
                rec_pos, first, prob.fast,  # the Padé tanh is accurate to float32 only
                _below_in(theta.dtype, limit), prob.side, prob.l1,  # the model: input stage, L1 penalty
            )
            now = int(rec_f[rec_pos[0] - 1, 0]) if outcome != RAN else min(t1, steps)
            if progress is not None and now > done:
                progress(now - done)
            t, done = t1, now
    k = int(rec_pos[0])
    rec = rec_f[:k]
    steps_arr = rec[:, 0].astype(np.int64)
    t_train, t_test, t_rqi = (None if f < 0 else int(f) for f in first)
    diverged = outcome == DIVERGED
    E_final = theta[: layout.n_embed].reshape(p, d).astype(np.float64)
    return TrainResult(
        config=config, steps=steps_arr, train_loss=rec[:, 1].copy(), test_loss=rec[:, 2].copy(),
        train_acc=rec[:, 3].copy(), test_acc=rec[:, 4].copy(), rqi=rec[:, 5].copy(),
        predicted_test_acc=rec[:, 6].copy(), embeddings=rec_emb[:k].copy(), E0=E0, E_final=E_final,
        steps_to_train=t_train, steps_to_test=t_test, steps_to_rqi=t_rqi,
        phase=phase_of(t_train, t_test, gap, diverged), steps_run=int(steps_arr[-1]),
        seconds=time.perf_counter() - start, split=split, gap=gap, diverged=diverged,
    )
