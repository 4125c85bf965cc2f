"""Slow, obviously correct numpy twin of efftheory.models.toy.kernels (the toy model and its training loop).

Lists of weight matrices, whole-array numpy, numpy's tanh, PyTorch's AdamW written out term by
term, and the slow metric twins of efftheory/reference/metrics.py on every evaluated step. Shares only
the initialisation (``init_params``) with the fast path, so any difference in the maths shows up.
Both models: the additive toy (x = E_a + E_b) and the matrix toy (x = vec(M_a M_b), optional
L1 penalty on the embeddings), chosen by ``config.side`` and ``config.embed_l1``.
"""

from __future__ import annotations

import numpy as np

from efftheory.models.toy.kernels import init_params
from efftheory.reference import metrics as naive_metrics
from efftheory.reference.theory import brute_force_parallelograms

BETA1, BETA2, EPS = 0.9, 0.999, 1e-8  # PyTorch's AdamW defaults


def model_input(E, pairs, side=0):
    """Decoder inputs (n, d): E_a + E_b (side 0), or the flattened products M_a @ M_b of the
    rows of E read as side x side matrices (the matrix model)."""
    if side == 0:
        return E[pairs[:, 0]] + E[pairs[:, 1]]
    M = E.reshape(-1, side, side)
    return (M[pairs[:, 0]] @ M[pairs[:, 1]]).reshape(len(pairs), side * side)


def forward(E, Ws, bs, pairs, side=0):
    """Activations [x, h_1, ..., out] for samples ``pairs`` (n, 2)."""
    hs = [model_input(E, pairs, side)]
    for l, (W, b) in enumerate(zip(Ws, bs)):
        z = hs[-1] @ W + b
        hs.append(np.tanh(z) if l < len(Ws) - 1 else z)
    return hs


def head(out, y, templates, loss):
    """(per-sample losses (n,), predictions (n,), dL_i/dout (n, out))."""
    if loss == "ce":
        z = out - out.max(axis=1, keepdims=True)
        prob = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        losses = -np.log(prob[np.arange(len(y)), y])
        g = prob.copy()
        g[np.arange(len(y)), y] -= 1.0
        return losses, out.argmax(axis=1), g
    diff = out - templates[y]
    losses = (diff**2).mean(axis=1)
    dist = ((out[:, None, :] - templates[None, :, :]) ** 2).sum(axis=2)
    return losses, dist.argmin(axis=1), 2.0 * diff / out.shape[1]


def loss_and_grads(E, Ws, bs, pairs, y, templates, loss, side=0, l1=0.0):
    """Mean loss over ``pairs`` plus ``l1 * mean |E|``, and its gradients (gE, [gW], [gb]) by
    back-propagation."""
    hs = forward(E, Ws, bs, pairs, side)
    losses, _, g = head(hs[-1], y, templates, loss)
    g = g / len(y)
    gWs, gbs = [None] * len(Ws), [None] * len(Ws)
    for l in range(len(Ws) - 1, -1, -1):
        gWs[l] = hs[l].T @ g
        gbs[l] = g.sum(axis=0)
        g = g @ Ws[l].T
        if l > 0:
            g = g * (1.0 - hs[l] ** 2)
    gE = np.zeros_like(E)
    if side == 0:
        np.add.at(gE, pairs[:, 0], g)
        np.add.at(gE, pairs[:, 1], g)
    else:  # X = M_a M_b: dL/dM_a = G M_b^T, dL/dM_b = M_a^T G
        M = E.reshape(-1, side, side)
        G = g.reshape(-1, side, side)
        gM = gE.reshape(-1, side, side)
        np.add.at(gM, pairs[:, 0], G @ M[pairs[:, 1]].transpose(0, 2, 1))
        np.add.at(gM, pairs[:, 1], M[pairs[:, 0]].transpose(0, 2, 1) @ G)
    gE = gE + l1 * np.sign(E) / E.size
    return losses.mean() + l1 * np.abs(E).mean(), gE, gWs, gbs


def adamw(param, grad, m, v, step, lr, wd):
    """PyTorch's AdamW (amsgrad off) on one tensor, in place; ``step`` counted from 1."""
    param *= 1.0 - lr * wd
    m[...] = BETA1 * m + (1.0 - BETA1) * grad
    v[...] = BETA2 * v + (1.0 - BETA2) * grad * grad
    bias1 = 1.0 - BETA1**step
    bias2 = 1.0 - BETA2**step
    param -= (lr / bias1) * m / (np.sqrt(v) / np.sqrt(bias2) + EPS)


def train(split, config, steps, delta=0.01):
    """Train for ``steps`` updates, evaluating every step; returns a dict of (T,) records."""
    theta, layout, templates = init_params(split.p, config, split.task.n_classes)
    side, l1 = config.side, config.embed_l1
    E, Ws, bs = layout.unpack(theta.copy())
    params = [E] + Ws + bs
    lrs = [config.embed_lr] + [config.decoder_lr] * (2 * len(Ws))
    wds = [config.embed_wd] + [config.decoder_wd] * (2 * len(Ws))
    ms = [np.zeros_like(q) for q in params]
    vs = [np.zeros_like(q) for q in params]
    tr_pairs, te_pairs = split.train_pairs, split.test_pairs
    y_tr, y_te = split.task.labels[split.train], split.task.labels[split.test]
    table = {tuple(map(int, s)): int(r) for s, r in zip(split.task.pairs, split.task.labels)}
    label = lambda s: table[tuple(map(int, s))]  # noqa: E731  the task's result table
    all_par = brute_force_parallelograms([tuple(s) for s in split.task.pairs], label)
    train_list = [tuple(s) for s in tr_pairs]
    test_list = [tuple(s) for s in te_pairs]
    rec = {k: [] for k in ("train_loss", "test_loss", "train_acc", "test_acc", "rqi", "pred")}
    embeddings = []
    for t in range(steps + 1):
        out_te = forward(E, Ws, bs, te_pairs, side)[-1]
        l_te, pred_te, _ = head(out_te, y_te, templates, config.loss)
        out_tr = forward(E, Ws, bs, tr_pairs, side)[-1]
        l_tr, pred_tr, _ = head(out_tr, y_tr, templates, config.loss)
        has_test = y_te.size > 0  # all samples in training: test metrics are NaN
        rec["train_loss"].append(l_tr.mean())
        rec["test_loss"].append(l_te.mean() if has_test else np.nan)
        rec["train_acc"].append((pred_tr == y_tr).mean())
        rec["test_acc"].append((pred_te == y_te).mean() if has_test else np.nan)
        if side:  # the matrix metrics: RMS-normalised matrices, every equal-label pair, threshold 0.5
            M = E.reshape(-1, side, side)
            rec["rqi"].append(naive_metrics.matrix_rqi(M, split.task.pairs, label))
            rec["pred"].append(naive_metrics.matrix_predicted_test_accuracy(M, train_list, test_list, label)
                               if has_test else np.nan)
        else:
            En = naive_metrics.normalize(E)
            rec["rqi"].append(np.mean([naive_metrics.holds(En, a, b, delta) for a, b in all_par]))
            rec["pred"].append(naive_metrics.predicted_test_accuracy(E, train_list, test_list, delta, label)
                               if has_test else np.nan)
        embeddings.append(E.copy())
        if t == steps:
            break
        _, gE, gWs, gbs = loss_and_grads(E, Ws, bs, tr_pairs, y_tr, templates, config.loss, side, l1)
        for q, g, m, v, lr, wd in zip(params, [gE] + gWs + gbs, ms, vs, lrs, wds):
            adamw(q, g, m, v, t + 1, lr, wd)
    out = {k: np.array(v, dtype=np.float64) for k, v in rec.items()}
    out["embeddings"] = np.array(embeddings, dtype=np.float64)
    return out
