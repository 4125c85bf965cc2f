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

Parameters. One flat vector θ, row-major tensors in this order (:class:`Layout`): E (p, d);
then for each block ln1_g, ln1_b (d), W_qkv (d, 3d), b_qkv (3d), W_o (d, d), b_o (d), ln2_g,
ln2_b (d), W_1 (d, width), c_1 (width), W_2 (width, d), c_2 (d); then lnf_g, lnf_b (d, only
with ``final_ln``), W_out (2d, p), b_out (p). The embeddings are θ[:p d] and the decoder is
everything after them, so the two AdamW groups are two contiguous slices.

Optimisation. Full batch; AdamW with PyTorch's semantics (the kernels of efftheory.models.toy.kernels:
decoupled decay θ <- θ (1 − lr wd), bias-corrected moments, β = (0.9, 0.999), ε = 1e-8) on
two groups: the embeddings (``embed_lr``, ``embed_wd``) and the decoder, every other parameter
(``decoder_lr``, ``decoder_wd``).

Step convention (the toy network's, docs/theory.md §9): step t means the parameters after t
updates; everything recorded at step t is measured on them, before update t + 1, and the
forward pass that measures step t is the one whose gradient drives that update.

The forward and backward passes run in numba kernels over the flat parameter vector with
token rows (2 per sample: rows 2r and 2r + 1 are the two tokens of sample r) in contiguous
matrices, so every matrix product goes to BLAS. A slow numpy twin lives in
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
from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from efftheory.models.dropout import keep_factor, step_key
from efftheory.models.shared_kernels import DIVERGED, RAN, adamw, head, representable
from efftheory.models.transformer.config import TransformerConfig

#: test accuracy at which a run counts as fully generalised (the paper's Fig 1 reads this)
ACC_FULL = 0.99

LN_EPS = 1e-5


# ------------------------------------------------------------------ parameters

# per-block tensors, in layout order
LN1_G, LN1_B, W_QKV, B_QKV, W_O, B_O, LN2_G, LN2_B, W_1, C_1, W_2, C_2 = range(12)
BLOCK_TENSORS = ("ln1_g", "ln1_b", "W_qkv", "b_qkv", "W_o", "b_o", "ln2_g", "ln2_b", "W_1", "c_1", "W_2", "c_2")
# head tensors
LNF_G, LNF_B, W_OUT, B_OUT = range(4)
HEAD_TENSORS = ("lnf_g", "lnf_b", "W_out", "b_out")


def _block_shapes(d: int, w: int) -> tuple:
    return ((d,), (d,), (d, 3 * d), (3 * d,), (d, d), (d,), (d,), (d,), (d, w), (w,), (w, d), (d,))


@dataclass(frozen=True)
class Layout:
    """Where each tensor sits in the flat parameter vector θ (module docstring for the order).

    Attributes:
        p, dim, width, layers, final_ln: the sizes.
        block_off: (layers, 12) int64 start of each block tensor (order :data:`BLOCK_TENSORS`).
        head_off: (4,) int64 start of lnf_g, lnf_b, W_out, b_out (-1 for lnf without final_ln).
        n_embed: p d, the size of the embedding group θ[:n_embed].
        n_params: the size of θ.
    """

    p: int
    dim: int
    width: int
    layers: int
    final_ln: bool
    block_off: np.ndarray
    head_off: np.ndarray
    n_embed: int
    n_params: int

    @classmethod
    def build(cls, p: int, config: TransformerConfig) -> "Layout":
        d, w, L = config.dim, config.width, config.layers
        off = p * d
        block_off = np.zeros((L, 12), np.int64)
        for l in range(L):
            for k, shape in enumerate(_block_shapes(d, w)):
                block_off[l, k] = off
                off += int(np.prod(shape))
        head_off = np.full(4, -1, np.int64)
        if config.final_ln:
            head_off[LNF_G], head_off[LNF_B] = off, off + d
            off += 2 * d
        head_off[W_OUT] = off
        off += 2 * d * p
        head_off[B_OUT] = off
        off += p
        return cls(p, d, w, L, config.final_ln, block_off, head_off, p * d, off)

    def unpack(self, theta: np.ndarray) -> dict:
        """Views of θ by name: ``E``, ``blocks`` (a list of dicts keyed by :data:`BLOCK_TENSORS`),
        and the head tensors ``lnf_g``, ``lnf_b`` (absent without final_ln), ``W_out``, ``b_out``."""
        d, w, p = self.dim, self.width, self.p
        out = {"E": theta[: self.n_embed].reshape(p, d), "blocks": []}
        for l in range(self.layers):
            blk = {}
            for k, (name, shape) in enumerate(zip(BLOCK_TENSORS, _block_shapes(d, w))):
                o = int(self.block_off[l, k])
                blk[name] = theta[o : o + int(np.prod(shape))].reshape(shape)
            out["blocks"].append(blk)
        for k, (name, shape) in enumerate(zip(HEAD_TENSORS, ((d,), (d,), (2 * d, p), (p,)))):
            o = int(self.head_off[k])
            if o >= 0:
                out[name] = theta[o : o + int(np.prod(shape))].reshape(shape)
        return out


def init_params(p: int, config: TransformerConfig) -> tuple[np.ndarray, Layout]:
    """Initial flat parameters θ (n_params,) in ``config.dtype`` and their :class:`Layout`
    (module docstring: E ~ N(0, 1), linear layers uniform ±1/sqrt(fan_in), LN gain 1 bias 0)."""
    layout = Layout.build(p, config)
    s_embed, s_dec = np.random.SeedSequence(config.seed).spawn(2)
    theta = np.empty(layout.n_params)
    v = layout.unpack(theta)
    v["E"][...] = np.random.default_rng(s_embed).standard_normal(v["E"].shape)
    rng = np.random.default_rng(s_dec)

    def linear(W, b):
        bound = 1.0 / math.sqrt(W.shape[0])
        W[...] = rng.uniform(-bound, bound, size=W.shape)
        b[...] = rng.uniform(-bound, bound, size=b.shape)

    for blk in v["blocks"]:
        blk["ln1_g"][...], blk["ln1_b"][...] = 1.0, 0.0
        linear(blk["W_qkv"], blk["b_qkv"])
        linear(blk["W_o"], blk["b_o"])
        blk["ln2_g"][...], blk["ln2_b"][...] = 1.0, 0.0
        linear(blk["W_1"], blk["c_1"])
        linear(blk["W_2"], blk["c_2"])
    if config.final_ln:
        v["lnf_g"][...], v["lnf_b"][...] = 1.0, 0.0
    linear(v["W_out"], v["b_out"])
    return theta.astype(config.dtype), layout


# ------------------------------------------------------------------ activations

# Activation regions: per block (index l) or for the head (index 0). A buffer is sized for the
# samples of one set (training or test); each region holds 2 rows (the two tokens) of ``cols``
# values per sample.
X, XHAT1, RSTD1, H1, QKV, ATT, O, XMID, XHAT2, RSTD2, H2, U = range(12)  # per block; X also at l = layers
XHATF, RSTDF, Z, LOGITS = range(12, 16)  # head (Z is X[layers] without final_ln)
# dropout multipliers, per block, in the training buffer of a run with dropout only: of the
# attention weights (2 per token row), of the attention output and of the feed-forward output
DA, D1, D3 = range(16, 19)
N_REGIONS = 19
# dropout sites, numbering the units of a step (efftheory.models.dropout): unit (row, col) of site s in
# block l has counter (4 l + s) 2⁴⁰ + row cols + col
SITE_ATT, SITE_ATT_OUT, SITE_FF_HIDDEN, SITE_FF_OUT = range(4)
SITE_SHIFT = 1 << 40
NO_KEY = np.uint64(0)  # the key argument of a pass without dropout (never read)


def _region_cols(d: int, w: int, p: int) -> tuple:
    """Columns per token row of each region (LOGITS: p per sample, i.e. p/2 per token row, kept p)."""
    return (d, d, 1, d, 3 * d, 2, d, d, d, 1, d, w, d, 1, d, p, 2, d, d)


def _activation_table(n_samples: int, layout: Layout, dropout: bool = False) -> tuple[np.ndarray, int]:
    """(19, layers + 1) int64 start of every region in the flat activation buffer of
    ``n_samples`` samples (-1 unused; the dropout regions only with ``dropout``), and the
    buffer's size."""
    R = 2 * n_samples
    cols = _region_cols(layout.dim, layout.width, layout.p)
    table = np.full((N_REGIONS, layout.layers + 1), -1, np.int64)
    off = 0
    for k in range(12):
        for l in range(layout.layers + (1 if k == X else 0)):
            table[k, l] = off
            off += R * cols[k]
    for k in range(12, 16):
        if k in (XHATF, RSTDF, Z) and not layout.final_ln:
            continue
        table[k, 0] = off
        off += R * cols[k]
    if not layout.final_ln:
        table[Z, 0] = table[X, layout.layers]
    if dropout:
        for k in (DA, D1, D3):
            for l in range(layout.layers):
                table[k, l] = off
                off += R * cols[k]
    return table, off


# ------------------------------------------------------------------ numba kernels


@njit(cache=True, inline="always")
def _view(buf, start, rows, cols):
    """buf[start : start + rows cols] as a C-contiguous (rows, cols) matrix."""
    return buf[start : start + rows * cols].reshape((rows, cols))


# The loops between the matrix products run over row chunks: one chunk (in place, serial) when
# numba has one thread, one chunk per thread otherwise (prange). Rows are independent in every
# one of them, and the column sums (bias, LayerNorm gain and bias gradients) add the rows in the
# same order whatever the chunking, so a run gives the same numbers on any number of threads.


@njit(cache=True)
def _chunks(rows, cols, nthr):
    """Row chunks for a loop over a (rows, cols) matrix on ``nthr`` numba threads: one per
    thread, or 1 (serial) below about 2¹⁴ entries per thread, where waking the threads costs
    more than they save. (The kernels take the thread count as an argument: numba cannot cache a
    kernel that asks for it.)"""
    if nthr <= 1 or rows * cols < nthr * 16384:
        return 1
    return min(nthr, rows)


@njit(cache=True, inline="always")
def _lo(c, n, rows):
    """First row of chunk c of n."""
    return c * rows // n


@njit(cache=True, error_model="numpy")
def _add_bias_rows(Y, b, r0, r1):
    cols = Y.shape[1]
    for r in range(r0, r1):
        for k in range(cols):
            Y[r, k] += b[k]


@njit(cache=True, error_model="numpy", parallel=True)
def _add_bias(Y, b, nthr):
    rows, cols = Y.shape
    n = _chunks(rows, cols, nthr)
    if n == 1:
        _add_bias_rows(Y, b, 0, rows)
        return
    for c in prange(n):
        _add_bias_rows(Y, b, _lo(c, n, rows), _lo(c + 1, n, rows))


@njit(cache=True, error_model="numpy")
def _col_sums_cols(G, out, k0, k1):
    for k in range(k0, k1):
        out[k] = 0.0
    for r in range(G.shape[0]):
        for k in range(k0, k1):
            out[k] += G[r, k]


_COL_BLOCK = 16  # columns per task of a parallel column sum (one 64-byte line of float32)


@njit(cache=True, error_model="numpy", parallel=True)
def _col_sums(G, out, nthr):
    """out <- column sums of G (the gradient of a bias), rows added in order; in parallel over
    blocks of columns."""
    rows, cols = G.shape
    if _chunks(rows, cols, nthr) == 1:
        _col_sums_cols(G, out, 0, cols)
        return
    nb = (cols + _COL_BLOCK - 1) // _COL_BLOCK
    for c in prange(nb):
        _col_sums_cols(G, out, c * _COL_BLOCK, min(cols, (c + 1) * _COL_BLOCK))


@njit(cache=True, error_model="numpy")
def _ln_forward_rows(Xin, g, b, Xhat, rstd, H, eps, r0, r1):
    d = Xin.shape[1]
    for r in range(r0, r1):
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


@njit(cache=True, error_model="numpy", parallel=True)
def _ln_forward(Xin, g, b, Xhat, rstd, H, eps, nthr):
    """H = g ⊙ x̂ + b with x̂ = (x − μ) / sqrt(σ² + eps) per row (σ² biased); saves x̂ and 1/sqrt(σ² + eps).
    Sums are taken in float64. Parallel over rows."""
    rows, d = Xin.shape
    n = _chunks(rows, d, nthr)
    if n == 1:
        _ln_forward_rows(Xin, g, b, Xhat, rstd, H, eps, 0, rows)
        return
    for c in prange(n):
        _ln_forward_rows(Xin, g, b, Xhat, rstd, H, eps, _lo(c, n, rows), _lo(c + 1, n, rows))


@njit(cache=True, error_model="numpy")
def _ln_backward_rows(gH, Xhat, rstd, g, gX, gg, gb, r0, r1, sums):
    """The rows r0..r1-1 of :func:`_ln_backward`; with ``sums`` also their gg, gb terms (added
    in row order)."""
    d = gH.shape[1]
    for r in range(r0, r1):
        s1 = 0.0
        s2 = 0.0
        for k in range(d):
            gh = gH[r, k]
            gxh = gh * g[k]
            s1 += gxh
            s2 += gxh * Xhat[r, k]
            if sums:
                gg[k] += gh * Xhat[r, k]
                gb[k] += gh
        s1 /= d
        s2 /= d
        rs = rstd[r, 0]
        for k in range(d):
            gX[r, k] += rs * (gH[r, k] * g[k] - s1 - Xhat[r, k] * s2)


@njit(cache=True, error_model="numpy")
def _ln_param_grad_cols(gH, Xhat, gg, gb, k0, k1):
    """gg, gb over columns k0..k1-1, rows added in order."""
    for k in range(k0, k1):
        gg[k] = 0.0
        gb[k] = 0.0
    for r in range(gH.shape[0]):
        for k in range(k0, k1):
            gh = gH[r, k]
            gg[k] += gh * Xhat[r, k]
            gb[k] += gh


@njit(cache=True, error_model="numpy", parallel=True)
def _ln_backward(gH, Xhat, rstd, g, gX, gg, gb, nthr):
    """gX += dL/dx; gg, gb <- dL/dg, dL/db, given gH = dL/dH.

    With ĝ = gH ⊙ g: dL/dx = rstd (ĝ − mean(ĝ) − x̂ mean(ĝ ⊙ x̂)) (the mean and the variance
    both depend on x). Parallel over rows for dL/dx, then over blocks of columns for dL/dg and
    dL/db (each a sum over the rows in order, as on one thread)."""
    rows, d = gH.shape
    n = _chunks(rows, d, nthr)
    if n == 1:
        for k in range(d):
            gg[k] = 0.0
            gb[k] = 0.0
        _ln_backward_rows(gH, Xhat, rstd, g, gX, gg, gb, 0, rows, True)
        return
    for c in prange(n):
        _ln_backward_rows(gH, Xhat, rstd, g, gX, gg, gb, _lo(c, n, rows), _lo(c + 1, n, rows), False)
    nb = (d + _COL_BLOCK - 1) // _COL_BLOCK
    for c in prange(nb):
        _ln_param_grad_cols(gH, Xhat, gg, gb, c * _COL_BLOCK, min(d, (c + 1) * _COL_BLOCK))


@njit(cache=True, error_model="numpy")
def _fill_mask_rows(M, key, base, rate, r0, r1):
    cols = M.shape[1]
    for r in range(r0, r1):
        for k in range(cols):
            M[r, k] = keep_factor(key, base + r * cols + k, rate)


@njit(cache=True, error_model="numpy", parallel=True)
def _fill_mask(M, key, base, rate, nthr):
    """M[r, k] <- the dropout multiplier of unit ``base`` + r cols + k of the step's ``key``."""
    rows, cols = M.shape
    n = _chunks(rows, cols, nthr)
    if n == 1:
        _fill_mask_rows(M, key, base, rate, 0, rows)
        return
    for c in prange(n):
        _fill_mask_rows(M, key, base, rate, _lo(c, n, rows), _lo(c + 1, n, rows))


@njit(cache=True, error_model="numpy")
def _residual_rows(Y, bias, D, X, drop, r0, r1):
    cols = Y.shape[1]
    if drop:
        for r in range(r0, r1):
            for k in range(cols):
                Y[r, k] = (Y[r, k] + bias[k]) * D[r, k] + X[r, k]
    else:
        for r in range(r0, r1):
            for k in range(cols):
                Y[r, k] += bias[k] + X[r, k]


@njit(cache=True, error_model="numpy", parallel=True)
def _residual(Y, bias, D, X, drop, nthr):
    """Y <- (Y + bias) ⊙ D + X with dropout multipliers D (``drop``), else Y + (bias + X): a
    branch's output joining the residual stream X."""
    rows, cols = Y.shape
    n = _chunks(rows, cols, nthr)
    if n == 1:
        _residual_rows(Y, bias, D, X, drop, 0, rows)
        return
    for c in prange(n):
        _residual_rows(Y, bias, D, X, drop, _lo(c, n, rows), _lo(c + 1, n, rows))


@njit(cache=True, error_model="numpy")
def _relu_rows(U, c1, key, base, rate, drop, r0, r1):
    w = U.shape[1]
    for r in range(r0, r1):
        for k in range(w):
            U[r, k] = max(U[r, k] + c1[k], 0.0)
        if drop:
            for k in range(w):
                U[r, k] *= keep_factor(key, base + r * w + k, rate)


@njit(cache=True, error_model="numpy", parallel=True)
def _relu(U, c1, key, base, rate, drop, nthr):
    """U <- relu(U + c1), then times the dropout multipliers of units ``base`` + r w + k (``drop``)."""
    rows, w = U.shape
    n = _chunks(rows, w, nthr)
    if n == 1:
        _relu_rows(U, c1, key, base, rate, drop, 0, rows)
        return
    for c in prange(n):
        _relu_rows(U, c1, key, base, rate, drop, _lo(c, n, rows), _lo(c + 1, n, rows))


@njit(cache=True, error_model="numpy")
def _times_rows(Y, X, D, r0, r1):
    cols = Y.shape[1]
    for r in range(r0, r1):
        for k in range(cols):
            Y[r, k] = X[r, k] * D[r, k]


@njit(cache=True, error_model="numpy", parallel=True)
def _times(Y, X, D, nthr):
    """Y <- X ⊙ D."""
    rows, cols = Y.shape
    n = _chunks(rows, cols, nthr)
    if n == 1:
        _times_rows(Y, X, D, 0, rows)
        return
    for c in prange(n):
        _times_rows(Y, X, D, _lo(c, n, rows), _lo(c + 1, n, rows))


@njit(cache=True, error_model="numpy")
def _relu_grad_rows(gU, U, inv_keep, drop, r0, r1):
    w = gU.shape[1]
    for r in range(r0, r1):
        for k in range(w):
            if U[r, k] <= 0.0:
                gU[r, k] = 0.0
            elif drop:
                gU[r, k] *= inv_keep


@njit(cache=True, error_model="numpy", parallel=True)
def _relu_grad(gU, U, inv_keep, drop, nthr):
    """gU <- dL/d(pre-activation) from dL/dU, U = relu(.) ⊙ m: U > 0 exactly where the unit is
    active and kept, and the derivative there is m = 1/(1 − rate) (1 without dropout)."""
    rows, w = gU.shape
    n = _chunks(rows, w, nthr)
    if n == 1:
        _relu_grad_rows(gU, U, inv_keep, drop, 0, rows)
        return
    for c in prange(n):
        _relu_grad_rows(gU, U, inv_keep, drop, _lo(c, n, rows), _lo(c + 1, n, rows))


@njit(cache=True, error_model="numpy")
def _attention_rows(QKV, A, Ov, d, scale, DA, drop, s0, s1):
    for r in range(s0, s1):
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
def _attention_backward_rows(QKV, A, gO, gQKV, d, scale, DA, drop, s0, s1):
    for r in range(s0, s1):
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
                go = gO[qi, k]
                gQKV[qi, k] += gs0 * QKV[r0, d + k] + gs1 * QKV[r0 + 1, d + k]
                gQKV[r0, d + k] += gs0 * QKV[qi, k]
                gQKV[r0 + 1, d + k] += gs1 * QKV[qi, k]
                gQKV[r0, 2 * d + k] += w0 * go
                gQKV[r0 + 1, 2 * d + k] += w1 * go


@njit(cache=True, error_model="numpy", parallel=True)
def _attention(QKV, A, Ov, n, d, scale, DA, drop, nthr):
    """Per sample r (token rows 2r, 2r+1): A[2r+i, j] = softmax_j(q_i · k_j scale), Ov_i = Σ_j A_ij v_j,
    with A_ij multiplied by its dropout multiplier DA[2r+i, j] first if ``drop`` (A keeps the softmax).
    Parallel over samples."""
    c_n = _chunks(n, 6 * d, nthr)
    if c_n == 1:
        _attention_rows(QKV, A, Ov, d, scale, DA, drop, 0, n)
        return
    for c in prange(c_n):
        _attention_rows(QKV, A, Ov, d, scale, DA, drop, _lo(c, c_n, n), _lo(c + 1, c_n, n))


@njit(cache=True, error_model="numpy", parallel=True)
def _attention_backward(QKV, A, gO, gQKV, n, d, scale, DA, drop, nthr):
    """gQKV <- dL/d[q | k | v] from gO = dL/d(Σ_j A'_ij v_j), A' = A ⊙ DA with ``drop``, else A.

    dL/dv_j = Σ_i A'_ij gO_i; dL/dA_ij = DA_ij gO_i · v_j; through the softmax
    dL/ds_ij = A_ij (dL/dA_ij − Σ_k A_ik dL/dA_ik); dL/dq_i = scale Σ_j dL/ds_ij k_j and
    dL/dk_j = scale Σ_i dL/ds_ij q_i. A sample's gradient touches its own two rows only:
    parallel over samples."""
    c_n = _chunks(n, 6 * d, nthr)
    if c_n == 1:
        _attention_backward_rows(QKV, A, gO, gQKV, d, scale, DA, drop, 0, n)
        return
    for c in prange(c_n):
        _attention_backward_rows(QKV, A, gO, gQKV, d, scale, DA, drop, _lo(c, c_n, n), _lo(c + 1, c_n, n))


@njit(cache=True, error_model="numpy")
def _forward(theta, boff, hoff, aoff, acts, pi, pj, n, p, d, w, eps, rate, key, nthr):
    """Forward pass of the first ``n`` samples; logits in region LOGITS (n, p).

    With ``rate`` > 0 (training passes only; ``acts`` then has the dropout regions) inverted
    dropout acts at the four places of PyTorch's encoder layer: on the attention weights, on the
    attention output and on the feed-forward output before each joins the residual stream, and
    on the feed-forward hidden units; the masks are those of ``key`` (efftheory.models.dropout), and
    the multipliers of the first three are kept for the backward pass (U keeps the dropped
    hidden units, which is all the backward pass needs of the fourth). The loops between the products run on
    ``nthr`` numba threads (the same numbers on any number)."""
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
                    _view(acts, aoff[XHAT1, l], R, d), _view(acts, aoff[RSTD1, l], R, 1), Hl, eps, nthr)
        Q = _view(acts, aoff[QKV, l], R, 3 * d)
        np.dot(Hl, _view(theta, o[W_QKV], d, 3 * d), Q)
        _add_bias(Q, theta[o[B_QKV] : o[B_QKV] + 3 * d], nthr)
        Ov = _view(acts, aoff[O, l], R, d)
        DAl = no_mask
        if drop:
            DAl = _view(acts, aoff[DA, l], R, 2)
            _fill_mask(DAl, key, (4 * l + SITE_ATT) * SITE_SHIFT, rate, nthr)
        _attention(Q, _view(acts, aoff[ATT, l], R, 2), Ov, n, d, scale, DAl, drop, nthr)
        Xm = _view(acts, aoff[XMID, l], R, d)
        np.dot(Ov, _view(theta, o[W_O], d, d), Xm)
        bo = theta[o[B_O] : o[B_O] + d]
        D1l = no_mask
        if drop:
            D1l = _view(acts, aoff[D1, l], R, d)
            _fill_mask(D1l, key, (4 * l + SITE_ATT_OUT) * SITE_SHIFT, rate, nthr)
        _residual(Xm, bo, D1l, Xl, drop, nthr)
        H2l = _view(acts, aoff[H2, l], R, d)
        _ln_forward(Xm, theta[o[LN2_G] : o[LN2_G] + d], theta[o[LN2_B] : o[LN2_B] + d],
                    _view(acts, aoff[XHAT2, l], R, d), _view(acts, aoff[RSTD2, l], R, 1), H2l, eps, nthr)
        Ul = _view(acts, aoff[U, l], R, w)
        np.dot(H2l, _view(theta, o[W_1], d, w), Ul)
        _relu(Ul, theta[o[C_1] : o[C_1] + w], key, (4 * l + SITE_FF_HIDDEN) * SITE_SHIFT, rate, drop, nthr)
        Xn = _view(acts, aoff[X, l + 1], R, d)
        np.dot(Ul, _view(theta, o[W_2], w, d), Xn)
        D3l = no_mask
        if drop:
            D3l = _view(acts, aoff[D3, l], R, d)
            _fill_mask(D3l, key, (4 * l + SITE_FF_OUT) * SITE_SHIFT, rate, nthr)
        _residual(Xn, theta[o[C_2] : o[C_2] + d], D3l, Xm, drop, nthr)
    if hoff[LNF_G] >= 0:
        _ln_forward(_view(acts, aoff[X, L], R, d), theta[hoff[LNF_G] : hoff[LNF_G] + d],
                    theta[hoff[LNF_B] : hoff[LNF_B] + d], _view(acts, aoff[XHATF, 0], R, d),
                    _view(acts, aoff[RSTDF, 0], R, 1), _view(acts, aoff[Z, 0], R, d), eps, nthr)
    Zc = _view(acts, aoff[Z, 0], n, 2 * d)  # rows 2r, 2r+1 side by side: [x_0 | x_1] per sample
    logits = _view(acts, aoff[LOGITS, 0], n, p)
    np.dot(Zc, _view(theta, hoff[W_OUT], 2 * d, p), logits)
    _add_bias(logits, theta[hoff[B_OUT] : hoff[B_OUT] + p], nthr)


@njit(cache=True, error_model="numpy")
def _backward(theta, grad, boff, hoff, aoff, acts, gx, gh, gqkv, go, gu, G, pi, pj, nt, p, d, w, rate, nthr):
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
    _col_sums(G, grad[hoff[B_OUT] : hoff[B_OUT] + p], nthr)
    gZ = _view(gh, 0, nt, 2 * d)
    np.dot(G, _view(theta, hoff[W_OUT], 2 * d, p).T, gZ)
    gX = _view(gx, 0, R, d)
    gH = _view(gh, 0, R, d)
    if hoff[LNF_G] >= 0:
        gX[:, :] = 0.0
        _ln_backward(gH, _view(acts, aoff[XHATF, 0], R, d), _view(acts, aoff[RSTDF, 0], R, 1),
                     theta[hoff[LNF_G] : hoff[LNF_G] + d], gX, grad[hoff[LNF_G] : hoff[LNF_G] + d],
                     grad[hoff[LNF_B] : hoff[LNF_B] + d], nthr)
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
            _times(gY, gX, _view(acts, aoff[D3, l], R, d), nthr)
        np.dot(Ul.T, gY, _view(grad, o[W_2], w, d))
        _col_sums(gY, grad[o[C_2] : o[C_2] + d], nthr)
        np.dot(gY, _view(theta, o[W_2], w, d).T, gU)
        _relu_grad(gU, Ul, inv_keep, drop, nthr)
        np.dot(_view(acts, aoff[H2, l], R, d).T, gU, _view(grad, o[W_1], d, w))
        _col_sums(gU, grad[o[C_1] : o[C_1] + w], nthr)
        np.dot(gU, _view(theta, o[W_1], d, w).T, gH)
        _ln_backward(gH, _view(acts, aoff[XHAT2, l], R, d), _view(acts, aoff[RSTD2, l], R, 1),
                     theta[o[LN2_G] : o[LN2_G] + d], gX, grad[o[LN2_G] : o[LN2_G] + d],
                     grad[o[LN2_B] : o[LN2_B] + d], nthr)
        # x_mid = x + ((A ⊙ m_A) v W_o + b_o) ⊙ m_1
        gY = gX
        DAl = no_mask
        if drop:
            gY = gH
            _times(gY, gX, _view(acts, aoff[D1, l], R, d), nthr)
            DAl = _view(acts, aoff[DA, l], R, 2)
        np.dot(_view(acts, aoff[O, l], R, d).T, gY, _view(grad, o[W_O], d, d))
        _col_sums(gY, grad[o[B_O] : o[B_O] + d], nthr)
        np.dot(gY, _view(theta, o[W_O], d, d).T, gO)
        _attention_backward(_view(acts, aoff[QKV, l], R, 3 * d), _view(acts, aoff[ATT, l], R, 2), gO, gQ,
                            nt, d, scale, DAl, drop, nthr)
        np.dot(_view(acts, aoff[H1, l], R, d).T, gQ, _view(grad, o[W_QKV], d, 3 * d))
        _col_sums(gQ, grad[o[B_QKV] : o[B_QKV] + 3 * d], nthr)
        np.dot(gQ, _view(theta, o[W_QKV], d, 3 * d).T, gH)
        _ln_backward(gH, _view(acts, aoff[XHAT1, l], R, d), _view(acts, aoff[RSTD1, l], R, 1),
                     theta[o[LN1_G] : o[LN1_G] + d], gX, grad[o[LN1_G] : o[LN1_G] + d],
                     grad[o[LN1_B] : o[LN1_B] + d], nthr)
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
                 rec_f, rec_emb, rec_pos, limit, nthr):
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
    with ``stop_at_full``, 1 once train and test accuracy are both >= 0.99. ``nthr``: numba
    threads of the loops between the products.
    """
    c = np.ones(8, theta.dtype)
    inv_nt = 1.0 / nt
    G = _view(gbuf, 0, nt, p)
    drop = rate > 0.0
    out = _view(acts, aoff[LOGITS, 0], nt, p)
    for t in range(t0, t1):
        due = (t % eval_every == 0) or (t == total)
        ev_loss, ev_ok = 0.0, 0
        if drop and due:
            _forward(theta, boff, hoff, aoff, acts, pi, pj, nt, p, d, w, eps, 0.0, NO_KEY, nthr)
            ev_loss, ev_ok = head(out, labels, templates, True, 0, nt, G, False, 0.0)
        key = step_key(key_base, t) if drop else NO_KEY
        _forward(theta, boff, hoff, aoff, acts, pi, pj, nt, p, d, w, eps, rate, key, nthr)
        tr_loss, tr_ok = head(out, labels, templates, True, 0, nt, G, True, inv_nt)
        diverged = not (np.isfinite(tr_loss) and representable(theta, limit))
        # the step at which a run diverges is recorded too
        evaluate = due or diverged
        if not drop:
            ev_loss, ev_ok = tr_loss, tr_ok
        elif evaluate and not due:
            _forward(theta, boff, hoff, aoff, acts, pi, pj, nt, p, d, w, eps, 0.0, NO_KEY, nthr)
            ev_loss, ev_ok = head(out, labels, templates, True, 0, nt, G, False, 0.0)
        outcome = RAN
        if evaluate:
            te_loss, te_ok = 0.0, 0
            if n_test > 0:
                _forward(theta, boff, hoff, aoff_te, acts_te, pi_te, pj_te, n_test, p, d, w, eps, 0.0, NO_KEY, nthr)
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
            _backward(theta, grad, boff, hoff, aoff, acts, gx, gh, gqkv, go, gu, G, pi, pj, nt, p, d, w, rate, nthr)
            _update(theta, grad, m, v, t + 1, p * d, hyper, c)
    return RAN


