"""Slow, obviously correct numpy twin of efftheory.models.transformer.kernels (forward, backward, training step).

Samples are (n, 2, d) arrays (sample, position, component) instead of the kernels' flat token
rows; attention is an einsum over the two positions, LayerNorm is written out with its mean and
variance, AdamW is the toy twin's term-by-term PyTorch update on each tensor. Shares only the
initialisation and the parameter layout (``init_params``, ``Layout.unpack``) with the fast path.

Dropout masks are recomputed here from their definition (efftheory.models.dropout's module docstring:
SplitMix64 of the step's key and the unit's counter) with numpy's wrapping uint64 arithmetic and
Python integers, not with the kernels' hash.
"""

from __future__ import annotations

import numpy as np

from efftheory.reference.network import adamw
from efftheory.models.transformer.layout import init_params
from efftheory.models.transformer.ops import LN_EPS

_U64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


def _mix(z):
    """SplitMix64 finaliser of a Python int or a uint64 array (wrapping arithmetic)."""
    if isinstance(z, int):
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _U64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _U64
        return z ^ (z >> 31)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def step_key(base, t):
    """The key of training step t: mix(base + (t + 1) γ) mod 2⁶⁴."""
    return _mix((int(base) + (t + 1) * _GOLDEN) & _U64)


def dropout_multipliers(rate, key, layer, site, shape):
    """(n, 2, cols) multipliers, 0 (dropped) or 1/(1 − rate), of the units of one dropout site:
    token row 2 r + i, column k is unit (4 layer + site) 2⁴⁰ + (2 r + i) cols + k."""
    n_units = int(np.prod(shape))
    counters = np.uint64((4 * layer + site) << 40) + np.arange(n_units, dtype=np.uint64)
    u = (_mix(np.uint64(key) + (counters + np.uint64(1)) * np.uint64(_GOLDEN)) >> np.uint64(11)) / 2.0**53
    return np.where(u >= rate, 1.0 / (1.0 - rate), 0.0).reshape(shape)


def layer_norm(x, g, b):
    """(y, cache) with y = g (x − μ)/sqrt(σ² + eps) + b over the last axis (σ² biased)."""
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    xhat = (x - mu) / np.sqrt(var + LN_EPS)
    return g * xhat + b, (xhat, var)


def layer_norm_backward(gy, g, cache):
    """(dL/dx, dL/dg, dL/db) of :func:`layer_norm`, from the chain rule through μ and σ²."""
    xhat, var = cache
    d = xhat.shape[-1]
    axes = tuple(range(gy.ndim - 1))
    gg = (gy * xhat).sum(axis=axes)
    gb = gy.sum(axis=axes)
    gxhat = gy * g
    std = np.sqrt(var + LN_EPS)
    # x̂ = (x − μ)/std: dx̂_k/dx_m = (δ_km − 1/d)/std − x̂_k x̂_m /(d std)
    gx = (gxhat - gxhat.mean(axis=-1, keepdims=True) - xhat * (gxhat * xhat).sum(axis=-1, keepdims=True) / d) / std
    return gx, gg, gb


def forward(P, pairs, final_ln=True, dropout=None):
    """Logits (n, p) and the caches of every block for samples ``pairs`` (n, 2).

    ``P`` is the dict of :meth:`efftheory.models.transformer.layout.Layout.unpack`; ``dropout`` None or
    (rate, key): the masks of the step with that key, on the attention weights (site 0), the
    attention output (1), the feed-forward hidden units (2) and output (3)."""
    x = P["E"][pairs]  # (n, 2, d)
    n, d = x.shape[0], x.shape[-1]
    caches = []
    for l, blk in enumerate(P["blocks"]):
        w = blk["W_1"].shape[1]
        if dropout is None:
            m = [np.ones((n, 2, cols)) for cols in (2, d, w, d)]
        else:
            m = [dropout_multipliers(*dropout, l, site, (n, 2, cols)) for site, cols in enumerate((2, d, w, d))]
        c = {"x": x, "m": m}
        h, c["ln1"] = layer_norm(x, blk["ln1_g"], blk["ln1_b"])
        qkv = h @ blk["W_qkv"] + blk["b_qkv"]
        q, k, v = qkv[..., :d], qkv[..., d : 2 * d], qkv[..., 2 * d :]
        s = np.einsum("nik,njk->nij", q, k) / np.sqrt(d)
        a = np.exp(s - s.max(axis=-1, keepdims=True))
        a /= a.sum(axis=-1, keepdims=True)
        o = np.einsum("nij,njk->nik", a * m[0], v)
        x = x + (o @ blk["W_o"] + blk["b_o"]) * m[1]
        c.update(h=h, q=q, k=k, v=v, a=a, o=o, xmid=x)
        h2, c["ln2"] = layer_norm(x, blk["ln2_g"], blk["ln2_b"])
        pre = h2 @ blk["W_1"] + blk["c_1"]
        u = np.maximum(pre, 0.0) * m[2]
        x = x + (u @ blk["W_2"] + blk["c_2"]) * m[3]
        c.update(h2=h2, pre=pre, u=u)
        caches.append(c)
    head = {"xL": x}
    if final_ln:
        x, head["lnf"] = layer_norm(x, P["lnf_g"], P["lnf_b"])
    z = x.reshape(x.shape[0], 2 * d)
    head["z"] = z
    return z @ P["W_out"] + P["b_out"], caches, head


def cross_entropy(logits, y):
    """(mean loss, accuracy, dL/dlogits of the mean)."""
    zs = logits - logits.max(axis=1, keepdims=True)
    prob = np.exp(zs) / np.exp(zs).sum(axis=1, keepdims=True)
    n = len(y)
    loss = -np.log(prob[np.arange(n), y]).mean()
    g = prob.copy()
    g[np.arange(n), y] -= 1.0
    return loss, float((logits.argmax(axis=1) == y).mean()), g / n


def loss_and_grads(P, pairs, y, final_ln=True, dropout=None):
    """Mean training loss and a dict of gradients shaped like ``P`` (blocks a list of dicts);
    ``dropout`` as for :func:`forward`."""
    logits, caches, head = forward(P, pairs, final_ln, dropout)
    loss, _, G = cross_entropy(logits, y)
    d = P["E"].shape[1]
    grads = {"W_out": head["z"].T @ G, "b_out": G.sum(axis=0), "blocks": [None] * len(caches)}
    gx = (G @ P["W_out"].T).reshape(-1, 2, d)
    if final_ln:
        gx, grads["lnf_g"], grads["lnf_b"] = layer_norm_backward(gx, P["lnf_g"], head["lnf"])
    for l in range(len(caches) - 1, -1, -1):
        blk, c, gb = P["blocks"][l], caches[l], {}
        m = c["m"]
        # feed-forward branch: (relu(pre) m_2 W_2 + c_2) m_3
        gbr = gx * m[3]
        gb["W_2"] = np.einsum("nik,nim->km", c["u"], gbr)
        gb["c_2"] = gbr.sum(axis=(0, 1))
        gu = (gbr @ blk["W_2"].T) * m[2] * (c["pre"] > 0)
        gb["W_1"] = np.einsum("nik,nim->km", c["h2"], gu)
        gb["c_1"] = gu.sum(axis=(0, 1))
        gh2 = gu @ blk["W_1"].T
        gxm, gb["ln2_g"], gb["ln2_b"] = layer_norm_backward(gh2, blk["ln2_g"], c["ln2"])
        gx = gx + gxm
        # attention branch: ((a m_A) v W_o + b_o) m_1
        gbr = gx * m[1]
        gb["W_o"] = np.einsum("nik,nim->km", c["o"], gbr)
        gb["b_o"] = gbr.sum(axis=(0, 1))
        go = gbr @ blk["W_o"].T
        gv = np.einsum("nij,nik->njk", c["a"] * m[0], go)
        ga = np.einsum("nik,njk->nij", go, c["v"]) * m[0]
        gs = c["a"] * (ga - (ga * c["a"]).sum(axis=-1, keepdims=True)) / np.sqrt(d)
        gq = np.einsum("nij,njk->nik", gs, c["k"])
        gk = np.einsum("nij,nik->njk", gs, c["q"])
        gqkv = np.concatenate([gq, gk, gv], axis=-1)
        gb["W_qkv"] = np.einsum("nik,nim->km", c["h"], gqkv)
        gb["b_qkv"] = gqkv.sum(axis=(0, 1))
        gh = gqkv @ blk["W_qkv"].T
        gxa, gb["ln1_g"], gb["ln1_b"] = layer_norm_backward(gh, blk["ln1_g"], c["ln1"])
        gx = gx + gxa
        grads["blocks"][l] = gb
    gE = np.zeros_like(P["E"])
    np.add.at(gE, pairs[:, 0], gx[:, 0])
    np.add.at(gE, pairs[:, 1], gx[:, 1])
    grads["E"] = gE
    return loss, grads


def _tensors(tree):
    """The tensors of a parameter or gradient dict in a fixed order, with their group."""
    out = [("embed", tree["E"])]
    for blk in tree["blocks"]:
        out += [("decoder", blk[k]) for k in sorted(blk)]
    out += [("decoder", tree[k]) for k in ("lnf_g", "lnf_b", "W_out", "b_out") if k in tree]
    return out


def train(split, config, steps):
    """Train for ``steps`` updates; returns (parameters θ after the last update, (steps + 1,)
    training losses measured before each update and at the end, (steps + 1,) test accuracies).
    With dropout the gradient of step t is taken with the masks of step_key(base, t) and the
    losses recorded are those without dropout."""
    from efftheory.models.dropout import base_key

    theta, layout = init_params(split.p, config)
    theta = theta.copy()
    P = layout.unpack(theta)
    params = _tensors(P)
    ms = [np.zeros_like(q) for _, q in params]
    vs = [np.zeros_like(q) for _, q in params]
    hyper = {"embed": (config.embed_lr, config.embed_wd), "decoder": (config.decoder_lr, config.decoder_wd)}
    tr, te = split.train_pairs, split.test_pairs
    y_tr, y_te = split.task.labels[split.train], split.task.labels[split.test]
    losses, test_acc = [], []
    base = base_key(config.seed)
    for t in range(steps + 1):
        dropout = (config.dropout, step_key(base, t)) if config.dropout > 0 else None
        loss, grads = loss_and_grads(P, tr, y_tr, config.final_ln, dropout)
        if dropout is not None:
            loss = cross_entropy(forward(P, tr, config.final_ln)[0], y_tr)[0]
        losses.append(loss)
        test_acc.append(cross_entropy(forward(P, te, config.final_ln)[0], y_te)[1] if len(y_te) else np.nan)
        if t == steps:
            break
        for (group, q), (_, g), m, v in zip(params, _tensors(grads), ms, vs):
            adamw(q, g, m, v, t + 1, *hyper[group])
    return theta, np.array(losses), np.array(test_acc)
