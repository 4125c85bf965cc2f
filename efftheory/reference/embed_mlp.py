"""Slow, obviously correct numpy twin of efftheory.models.embed_mlp (the embedding MLP and its loop).

Token lists as Python lists, whole-array numpy, PyTorch's AdamW written out term by term. Shares
only the initialisation and the token lists with the fast path, so any difference in the maths
shows up.
"""

from __future__ import annotations

import numpy as np

from efftheory.models.embed_mlp import init_params, token_lists
from efftheory.phases import ACC_THRESHOLD

BETA1, BETA2, EPS = 0.9, 0.999, 1e-8  # PyTorch's AdamW defaults


def forward(E, Ws, bs, tokens):
    """Activations [h_0, ..., h_L, out] for samples given as token lists."""
    x = np.stack([E[list(t)].sum(axis=0) for t in tokens])
    if bs is not None:
        x = x + bs[0]
    hs = [np.maximum(x, 0.0)]
    for l, W in enumerate(Ws):
        z = hs[-1] @ W + (bs[l + 1] if bs is not None else 0.0)
        hs.append(np.maximum(z, 0.0) if l < len(Ws) - 1 else z)
    return hs


def head(out, y, loss):
    """(per-sample losses (n,), predictions (n,), dL_i/dout (n, C))."""
    if loss == "ce":
        z = out - out.max(axis=1, keepdims=True)
        prob = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        g = prob.copy()
        g[np.arange(len(y)), y] -= 1.0
        return -np.log(prob[np.arange(len(y)), y]), out.argmax(axis=1), g
    target = np.eye(out.shape[1])[y]
    diff = out - target
    return (diff**2).mean(axis=1), out.argmax(axis=1), 2.0 * diff / out.shape[1]


def loss_and_grads(E, Ws, bs, tokens, y, loss):
    """Mean loss over the samples and its gradients (gE, [gW], [gb] or None) by back-propagation."""
    hs = forward(E, Ws, bs, tokens)
    losses, _, g = head(hs[-1], y, loss)
    g = g / len(y)
    gWs, gbs = [None] * len(Ws), [None] * (len(Ws) + 1)
    for l in range(len(Ws) - 1, -1, -1):
        gWs[l] = hs[l].T @ g
        gbs[l + 1] = g.sum(axis=0)
        g = (g @ Ws[l].T) * (hs[l] > 0)
    gbs[0] = g.sum(axis=0)
    gE = np.zeros_like(E)
    for r, t in enumerate(tokens):
        for tok in t:
            gE[tok] += g[r]
    return losses.mean(), gE, gWs, (gbs if bs is not None else None)


def train(split, config, steps: int):
    """The loop in float64: (train acc (steps+1,), test acc (steps+1,), final parameters [E, *Ws, *bs]).

    Accuracies of the parameters after t updates, t = 0..steps.
    """
    ptr, idx, labels, n_tok, n_classes = token_lists(split)
    tokens = [idx[ptr[r]:ptr[r + 1]].tolist() for r in range(len(labels))]
    theta, layout = init_params(n_tok, n_classes, config)
    E, Ws, bs = layout.unpack(theta.astype(np.float64).copy())
    params = [E, *Ws] + (list(bs) if bs is not None else [])
    ms = [np.zeros_like(q) for q in params]
    vs = [np.zeros_like(q) for q in params]
    nt = split.n_train
    tr_acc, te_acc = [], []
    for t in range(steps + 1):
        out = forward(E, Ws, bs, tokens)[-1]
        pred = out.argmax(axis=1)
        tr_acc.append(float(np.mean(pred[:nt] == labels[:nt])))
        te_acc.append(float(np.mean(pred[nt:] == labels[nt:])) if len(labels) > nt else np.nan)
        if t == steps:
            break
        _, gE, gWs, gbs = loss_and_grads(E, Ws, bs, tokens[:nt], labels[:nt], config.loss)
        grads = [gE, *gWs] + (list(gbs) if gbs is not None else [])
        for q, g, m, v in zip(params, grads, ms, vs):
            m[...] = BETA1 * m + (1 - BETA1) * g
            v[...] = BETA2 * v + (1 - BETA2) * g * g
            mhat = m / (1 - BETA1 ** (t + 1))
            vhat = v / (1 - BETA2 ** (t + 1))
            q[...] = q * (1 - config.lr * config.wd) - config.lr * mhat / (np.sqrt(vhat) + EPS)
    return np.array(tr_acc), np.array(te_acc), params


def first_step(acc, level: float = ACC_THRESHOLD):
    """First index with acc >= level, None if never."""
    hit = np.flatnonzero(np.asarray(acc) >= level)
    return int(hit[0]) if hit.size else None
