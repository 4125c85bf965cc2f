"""PyTorch twins of the toy network and the transformer, for the peer benchmark (bench_torch).

Each twin is written the way a careful PyTorch user would write the same model for speed on a
CPU: plain tensors (no nn.Module bookkeeping), ``addmm`` for every linear layer, full batch,
float32, and ``torch.optim.AdamW`` with the two parameter groups of efftheory (embeddings,
decoder) and its fused CPU kernel when this build has one (``foreach`` otherwise). The weights
start from efftheory's own initial parameter vector (``init_params``), unpacked with its
``Layout``, so the two sides can be checked against each other step for step.

What a twin's step does: forward over the training samples, the loss, backward, AdamW. That is
less than an efftheory step, which also forwards the test samples (the toy network, to know the
exact first step of test accuracy 0.9) and checks the parameters for divergence; the comparison
is therefore conservative for efftheory.

Dropout: torch draws its own masks (``F.dropout``), so a twin with dropout trains a different
(equally distributed) trajectory; the numerical agreement is checked with dropout off.

torch is imported here only; the package never imports it.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from efftheory.models.toy import kernels as net
from efftheory.models.toy.config import NetworkConfig
from efftheory.models.transformer import layout as tf
from efftheory.models.transformer.ops import LN_EPS
from efftheory.models.transformer.config import TransformerConfig


def _adamw(groups: list[dict]) -> torch.optim.Optimizer:
    """AdamW with PyTorch's defaults (β = (0.9, 0.999), ε = 1e-8), fused if this build can."""
    try:
        return torch.optim.AdamW(groups, betas=(0.9, 0.999), eps=1e-8, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.AdamW(groups, betas=(0.9, 0.999), eps=1e-8, foreach=True)


def _param(a: np.ndarray) -> torch.Tensor:
    return torch.tensor(np.array(a, dtype=np.float32), requires_grad=True)


class ToyTwin:
    """The toy network (efftheory.models.toy, embed="sum"): x = E_i + E_j, tanh MLP, MSE onto the
    sum's template or cross-entropy over the sums."""

    def __init__(self, split, config: NetworkConfig):
        theta, layout, templates = net.init_params(split.p, config, split.task.n_classes)
        E, Ws, bs = layout.unpack(theta)
        self.E = _param(E)
        self.Ws = [_param(W) for W in Ws]
        self.bs = [_param(b) for b in bs]
        pairs = split.task.pairs[split.train]
        self.i = torch.tensor(pairs[:, 0], dtype=torch.long)
        self.j = torch.tensor(pairs[:, 1], dtype=torch.long)
        labels = split.task.labels[split.train].astype(np.int64)
        self.y = torch.tensor(labels)
        self.is_ce = config.loss == "ce"
        self.target = None if self.is_ce else torch.tensor(templates[labels].astype(np.float32))
        self.opt = _adamw([
            {"params": [self.E], "lr": config.embed_lr, "weight_decay": config.embed_wd},
            {"params": self.Ws + self.bs, "lr": config.decoder_lr, "weight_decay": config.decoder_wd},
        ])
        self.loss_fn = self.loss

    def loss(self) -> torch.Tensor:
        h = self.E[self.i] + self.E[self.j]
        last = len(self.Ws) - 1
        for l, (W, b) in enumerate(zip(self.Ws, self.bs)):
            h = torch.addmm(b, h, W)
            if l < last:
                h = torch.tanh(h)
        if self.is_ce:
            return F.cross_entropy(h, self.y)
        return F.mse_loss(h, self.target)

    def step(self) -> None:
        self.opt.zero_grad(set_to_none=True)
        self.loss_fn().backward()
        self.opt.step()


def _layer_norm(x, g, b):
    return F.layer_norm(x, (x.shape[-1],), g, b, LN_EPS)


class TransformerTwin:
    """The transformer (efftheory.models.transformer): pre-LayerNorm blocks, single-head attention over
    the two tokens, ReLU feed-forward, optional final LayerNorm, linear head on [x_0 | x_1],
    cross-entropy; inverted dropout at PyTorch's encoder-layer places when ``config.dropout``."""

    def __init__(self, split, config: TransformerConfig):
        theta, layout = tf.init_params(split.p, config)
        P = layout.unpack(theta)
        self.E = _param(P["E"])
        self.blocks = [{k: _param(v) for k, v in blk.items()} for blk in P["blocks"]]
        self.head = {k: _param(P[k]) for k in tf.HEAD_TENSORS if k in P}
        pairs = split.task.pairs[split.train]
        self.pairs = torch.tensor(pairs, dtype=torch.long)
        self.y = torch.tensor(split.task.labels[split.train].astype(np.int64))
        self.d, self.rate = config.dim, float(config.dropout)
        decoder = [t for blk in self.blocks for t in blk.values()] + list(self.head.values())
        self.opt = _adamw([
            {"params": [self.E], "lr": config.embed_lr, "weight_decay": config.embed_wd},
            {"params": decoder, "lr": config.decoder_lr, "weight_decay": config.decoder_wd},
        ])
        self.loss_fn = self.loss

    def _drop(self, x):
        return F.dropout(x, self.rate, training=True) if self.rate > 0 else x

    def loss(self) -> torch.Tensor:
        d = self.d
        x = self.E[self.pairs]  # (n, 2, d)
        for blk in self.blocks:
            h = _layer_norm(x, blk["ln1_g"], blk["ln1_b"])
            qkv = torch.matmul(h, blk["W_qkv"]) + blk["b_qkv"]
            q, k, v = qkv[..., :d], qkv[..., d : 2 * d], qkv[..., 2 * d :]
            a = torch.softmax(torch.matmul(q, k.transpose(1, 2)) / math.sqrt(d), dim=-1)
            o = torch.matmul(self._drop(a), v)
            x = x + self._drop(torch.matmul(o, blk["W_o"]) + blk["b_o"])
            h2 = _layer_norm(x, blk["ln2_g"], blk["ln2_b"])
            u = self._drop(torch.relu(torch.matmul(h2, blk["W_1"]) + blk["c_1"]))
            x = x + self._drop(torch.matmul(u, blk["W_2"]) + blk["c_2"])
        if "lnf_g" in self.head:
            x = _layer_norm(x, self.head["lnf_g"], self.head["lnf_b"])
        z = x.reshape(x.shape[0], 2 * d)
        return F.cross_entropy(torch.addmm(self.head["b_out"], z, self.head["W_out"]), self.y)

    def step(self) -> None:
        self.opt.zero_grad(set_to_none=True)
        self.loss_fn().backward()
        self.opt.step()


def compiled(twin):
    """The twin with its loss (forward and, through AOT autograd, backward) under torch.compile;
    the optimizer stays the fused eager one. Raises whatever torch.compile raises here."""
    twin.loss_fn = torch.compile(twin.loss, dynamic=False)
    twin.step()  # compile now, outside any timing
    return twin


def loss_after(twin, steps: int) -> float:
    """The twin's training loss after ``steps`` updates (no dropout is drawn for the reading)."""
    for _ in range(steps):
        twin.step()
    rate = getattr(twin, "rate", 0.0)
    if rate:
        twin.rate = 0.0
    with torch.no_grad():
        value = float(twin.loss())
    if rate:
        twin.rate = rate
    return value
