"""Where the transformer's numbers live (docs/theory.md §15): its parameters in one flat vector
θ and its activations in one flat buffer per sample set.

Parameters (:class:`Layout`, :func:`init_params`). Row-major tensors in this order: E (p, d);
then for each block ln1_g, ln1_b (d), W_qkv (d, 3d), b_qkv (3d), W_o (d, d), b_o (d), ln2_g,
ln2_b (d), W_1 (d, width), c_1 (width), W_2 (width, d), c_2 (d); then lnf_g, lnf_b (d, only with
``final_ln``), W_out (2d, p), b_out (p). The embeddings are θ[:p d] and the decoder everything
after them, so the two AdamW groups are two contiguous slices.

Activations (:func:`_activation_table`). Per block and for the head, regions of 2 rows (the two
tokens) per sample; the forward pass fills them and the backward pass reads them back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from efftheory.models.transformer.config import TransformerConfig

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


@njit(cache=True, inline="always")
def _view(buf, start, rows, cols):
    """buf[start : start + rows cols] as a C-contiguous (rows, cols) matrix (a region of θ or of
    an activation buffer)."""
    return buf[start : start + rows * cols].reshape((rows, cols))
