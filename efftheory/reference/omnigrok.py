"""Slow, obviously correct numpy twin of the Omnigrok MLP (efftheory/models/omnigrok.py).

Lists of weight matrices, whole-array numpy, back-propagation written out layer by layer and
PyTorch's AdamW term by term. Shares only the initialisation and the batch order with the fast
path, so any difference in the maths shows up.
"""

from __future__ import annotations

import numpy as np

from efftheory.models.omnigrok.training import OmnigrokConfig, _BatchOrder, init_params

BETA1, BETA2, EPS = 0.9, 0.999, 1e-8  # PyTorch's AdamW defaults


def unpack(theta, n_inputs, n_classes, config):
    """([W_0, ...], [b_0, ...]) copies of the flat parameters (float64)."""
    _, layout = init_params(n_inputs, n_classes, config)
    _, Ws, bs = layout.unpack(np.asarray(theta, dtype=np.float64).copy())
    return [W.copy() for W in Ws], [b.copy() for b in bs]


def pack(Ws, bs):
    """The flat vector of :func:`unpack`'s lists (layer by layer: W_l row-major, then b_l)."""
    return np.concatenate([np.concatenate([W.ravel(), b]) for W, b in zip(Ws, bs)])


def forward(Ws, bs, X):
    """Activations [x, h_1, ..., out]: ReLU hidden layers, linear output."""
    hs = [X]
    for l, (W, b) in enumerate(zip(Ws, bs)):
        z = hs[-1] @ W + b
        hs.append(np.maximum(z, 0.0) if l < len(Ws) - 1 else z)
    return hs


def head(out, y, loss):
    """(per-sample losses (n,), argmax predictions (n,), dL_i/dout (n, C))."""
    n, C = out.shape
    if loss == "ce":
        z = out - out.max(axis=1, keepdims=True)
        prob = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        g = prob.copy()
        g[np.arange(n), y] -= 1.0
        return -np.log(prob[np.arange(n), y]), out.argmax(axis=1), g
    diff = out - np.eye(C)[y]
    return (diff**2).mean(axis=1), out.argmax(axis=1), 2.0 * diff / C


def loss_and_grads(Ws, bs, X, y, loss):
    """Mean loss over the rows of X and its gradients ([gW], [gb])."""
    hs = forward(Ws, bs, X)
    losses, _, g = head(hs[-1], y, loss)
    g = g / len(y)
    gWs, gbs = [None] * len(Ws), [None] * len(Ws)
    for l in range(len(Ws) - 1, -1, -1):
        gWs[l] = hs[l].T @ g
        gbs[l] = g.sum(axis=0)
        if l > 0:
            g = (g @ Ws[l].T) * (hs[l] > 0)
    return losses.mean(), gWs, gbs


def evaluate(Ws, bs, X, y, loss):
    """(mean loss, accuracy) over the rows of X."""
    losses, pred, _ = head(forward(Ws, bs, X)[-1], y, loss)
    return losses.mean(), (pred == y).mean()


def train(split, config: OmnigrokConfig, steps: int, eval_every: int = 1):
    """The training loop of the fast path, slowly: records (T, 6) with columns step, train loss,
    test loss, train acc, test acc, ||theta||, on steps 0, k, 2k, ... and ``steps``."""
    task = split.task
    theta0, _ = init_params(task.n_inputs, task.n_classes, config)
    Ws, bs = unpack(theta0, task.n_inputs, task.n_classes, config)
    Xtr, ytr = split.train_x.astype(np.float64), split.train_y
    Xte, yte = split.test_x.astype(np.float64), split.test_y
    params = Ws + bs
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    n = split.n_train
    size = n if config.batch_size == 0 else min(config.batch_size, n)
    order = _BatchOrder(n, size, config.seed) if config.batch_size else None
    rows = []
    for t in range(steps + 1):
        if t % eval_every == 0 or t == steps:
            norm = np.sqrt(sum((p**2).sum() for p in params))
            tr_loss, tr_acc = evaluate(Ws, bs, Xtr, ytr, config.loss)
            te_loss, te_acc = evaluate(Ws, bs, Xte, yte, config.loss)
            rows.append([t, tr_loss, te_loss, tr_acc, te_acc, norm])
        if t == steps:
            break
        batch = order.take(1)[0] if order is not None else np.arange(n)
        _, gWs, gbs = loss_and_grads(Ws, bs, Xtr[batch], ytr[batch], config.loss)
        step = t + 1
        for p, g, mk, vk in zip(params, gWs + gbs, m, v):
            p *= 1.0 - config.lr * config.wd  # decoupled weight decay first, as PyTorch does
            mk[...] = BETA1 * mk + (1 - BETA1) * g
            vk[...] = BETA2 * vk + (1 - BETA2) * g * g
            m_hat = mk / (1 - BETA1**step)
            v_hat = vk / (1 - BETA2**step)
            p -= config.lr * m_hat / (np.sqrt(v_hat) + EPS)
        if config.fixed_norm > 0:
            norm = np.sqrt(sum((p**2).sum() for p in params))
            for p in params:
                p *= config.fixed_norm / norm
    return np.array(rows, dtype=np.float64)
