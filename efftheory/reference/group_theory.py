"""Slow, obviously correct twins of efftheory.theories.group.flow: Python loops over quads and steps.

Written from the definitions only (nothing imported from efftheory). A group is its Cayley
table (p, p); M is a (p, k, k) array of matrices, one per element; a quad (a, b, c, d) is a pair
of distinct ordered samples with table[a][b] == table[c][d], residual M_a M_b − M_c M_d.
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.linalg
from threadpoolctl import threadpool_limits



def one_blas_thread(fn):
    """Run ``fn`` with BLAS on one thread: scipy's expm of a 3 x 3 matrix took 20 ms with the
    default OpenBLAS pool on a busy 2-core machine and 30 µs with one thread (measured)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with threadpool_limits(limits=1, user_api="blas"):
            return fn(*args, **kwargs)

    return wrapper


# the step control of the fast flow, restated
ARMIJO, H0, H_MIN, H_MAX = 1e-4, 0.5, 1e-6, 1e3


def quads(table, samples=None):
    """(Q, 4) int64: every pair of distinct samples (in the order given) with equal products."""
    table = np.asarray(table)
    p = table.shape[0]
    all_samples = [(a, b) for a in range(p) for b in range(p)]
    chosen = all_samples if samples is None else [all_samples[i] for i in samples]
    out = []
    for i, (a, b) in enumerate(chosen):
        for c, d in chosen[i + 1:]:
            if table[a, b] == table[c, d]:
                out.append((a, b, c, d))
    return np.array(out, dtype=np.int64).reshape(-1, 4)


def loss(M, qs):
    """mean over qs of ‖M_a M_b − M_c M_d‖²_F (0 without quads)."""
    if len(qs) == 0:
        return 0.0
    return sum(float(np.sum((M[a] @ M[b] - M[c] @ M[d]) ** 2)) for a, b, c, d in qs) / len(qs)


def grad(M, qs):
    """∂loss/∂M (p, k, k) by the product rule, one quad at a time."""
    G = np.zeros_like(M)
    for a, b, c, d in qs:
        R = M[a] @ M[b] - M[c] @ M[d]
        G[a] += 2 * R @ M[b].T
        G[b] += 2 * M[a].T @ R
        G[c] -= 2 * R @ M[d].T
        G[d] -= 2 * M[c].T @ R
    return G / max(len(qs), 1)


def tangent(M, G):
    """Ω_a = (M_aᵀ G_a − G_aᵀ M_a) / 2 for each a."""
    return np.array([(m.T @ g - g.T @ m) / 2 for m, g in zip(M, G)])


def retract(M, Om, h):
    """M_a expm(−h Ω_a) with scipy's general matrix exponential."""
    return np.array([m @ scipy.linalg.expm(-h * w) for m, w in zip(M, Om)])


@one_blas_thread
def descend(M0, qs, max_steps, gtol):
    """Armijo-backtracked descent on SO(k)^p, as documented in the fast module.

    Returns (M, loss, steps, at_rest, losses): losses is the list of ℓ after 0, 1, ... steps.
    """
    M = np.array(M0, dtype=float)
    h = H0
    cur = loss(M, qs)
    Om = tangent(M, grad(M, qs))
    losses, steps, at_rest = [cur], 0, False
    while True:
        norms = [np.linalg.norm(w) for w in Om]
        if max(norms) < gtol:
            at_rest = True
            break
        if steps >= max_steps:
            break
        g2 = sum(n * n for n in norms)
        while h >= H_MIN:
            trial = retract(M, Om, h)
            new = loss(trial, qs)
            if new <= cur - ARMIJO * h * g2:
                break
            h /= 2
        else:
            at_rest = True  # no resolvable decrease
            break
        M, cur = trial, new
        steps += 1
        h = min(2 * h, H_MAX)
        Om = tangent(M, grad(M, qs))
        losses.append(cur)
    return M, cur, steps, at_rest, losses


class BatchDescent:
    """The descent as one would first write it in numpy: whole batch at once, scipy expm per matrix.

    Every member takes the same step sequence logic as :func:`descend`, vectorised over the
    batch with einsum; used as the benchmark baseline.
    """

    def __init__(self, table, qs):
        self.qs = np.asarray(qs, dtype=np.int64)

    def loss(self, M):
        a, b, c, d = self.qs.T
        R = M[:, a] @ M[:, b] - M[:, c] @ M[:, d]
        return np.einsum("bqij,bqij->b", R, R) / len(self.qs)

    def tangent(self, M):
        a, b, c, d = self.qs.T
        R = M[:, a] @ M[:, b] - M[:, c] @ M[:, d]
        MT = np.swapaxes(M, -1, -2)
        G = np.zeros_like(M)
        for idx, term in ((a, R @ MT[:, b]), (b, MT[:, a] @ R), (c, -R @ MT[:, d]), (d, -MT[:, c] @ R)):
            np.add.at(G, (slice(None), idx), 2 * term / len(self.qs))
        A = MT @ G
        return (A - np.swapaxes(A, -1, -2)) / 2

    @one_blas_thread
    def run(self, M0, steps, gtol):
        """(B, p, k, k) after at most ``steps`` accepted steps per member."""
        M = np.array(M0, dtype=float)
        B = M.shape[0]
        h = np.full(B, H0)
        cur = self.loss(M)
        active = np.ones(B, bool)
        for _ in range(steps):
            Om = self.tangent(M)
            norms = np.sqrt(np.einsum("bpij,bpij->bp", Om, Om))
            active &= norms.max(axis=1) >= gtol
            if not active.any():
                break
            g2 = np.sum(norms**2, axis=1)
            pending = active.copy()
            while pending.any():
                idx = np.flatnonzero(pending)
                trial = np.array([[m @ scipy.linalg.expm(-h[i] * w) for m, w in zip(M[i], Om[i])] for i in idx])
                new = self.loss(trial)
                ok = new <= cur[idx] - ARMIJO * h[idx] * g2[idx]
                M[idx[ok]], cur[idx[ok]] = trial[ok], new[ok]
                h[idx[ok]] = np.minimum(2 * h[idx[ok]], H_MAX)
                h[idx[~ok]] /= 2
                pending[idx[ok]] = False
                dead = idx[~ok][h[idx[~ok]] < H_MIN]
                pending[dead] = False
                active[dead] = False
        return M
