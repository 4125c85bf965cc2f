"""Slow, obviously correct numpy twins of efftheory.theories.linear.dynamics (one Python-level step at a time).

Every function works on one initial condition E0 (p, d) unless it says otherwise.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg


def loss(H, E):
    """ℓ_eff = tr(Eᵀ H E) / tr(Eᵀ E)."""
    return float(np.trace(E.T @ H @ E) / np.trace(E.T @ E))


def grad(H, E):
    """(2 / Z) (H E − ℓ_eff E)."""
    Z = np.trace(E.T @ E)
    return 2.0 / Z * (H @ E - loss(H, E) * E)


def _substeps(times, dt):
    """(t_end index, number of equal sub-steps, their length) for each saved interval."""
    t_prev = 0.0
    for it, t in enumerate(times):
        span = t - t_prev
        n = max(1, math.ceil(span / dt * (1 - 1e-12))) if span > 0 else 0
        yield it, n, (span / n if n else 0.0)
        t_prev = t


def integrate(H, E0, times, lr, dt, scheme="rk4", project=False):
    """(T, p, d) Euler or RK4 solution of dE/dt = −lr ∇ℓ_eff saved at ``times``."""
    E = np.array(E0, dtype=float)
    Z0 = float(np.sum(E**2))
    out = np.empty((len(times),) + E.shape)
    f = lambda X: -lr * grad(H, X)  # noqa: E731
    for it, n, h in _substeps(times, dt):
        for _ in range(n):
            if scheme == "euler":
                E = E + h * f(E)
            else:
                k1 = f(E)
                k2 = f(E + 0.5 * h * k1)
                k3 = f(E + 0.5 * h * k2)
                k4 = f(E + h * k3)
                E = E + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
            if project:
                E = E * np.sqrt(Z0 / np.sum(E**2))
        out[it] = E
    return out


def adam(H, E0, steps, lr, betas=(0.9, 0.999), eps=1e-8):
    """(T, p, d) embeddings after steps[i] steps of Adam (PyTorch's update rule) on ℓ_eff."""
    E = np.array(E0, dtype=float)
    m, v = np.zeros_like(E), np.zeros_like(E)
    out, done = np.empty((len(steps),) + E.shape), 0
    for it, s in enumerate(steps):
        while done < s:
            done += 1
            g = grad(H, E)
            m = betas[0] * m + (1 - betas[0]) * g
            v = betas[1] * v + (1 - betas[1]) * g * g
            m_hat = m / (1 - betas[0] ** done)
            v_hat = v / (1 - betas[1] ** done)
            E = E - lr * m_hat / (np.sqrt(v_hat) + eps)
        out[it] = E
    return out


def exact_expm(H, E0, times, lr):
    """(T, p, d) closed-form flow via the matrix exponential (no eigendecomposition)."""
    Z0 = float(np.sum(E0**2))
    out = []
    for t in times:
        F = scipy.linalg.expm(-2.0 * lr * t / Z0 * H) @ E0
        out.append(np.sqrt(Z0) * F / np.linalg.norm(F))
    return np.array(out)


class ParallelogramFlow:
    """The paper-style implementation: an explicit parallelogram matrix, one step at a time.

    A (M, p) holds the constraint vectors a_q = e_i + e_j − e_m − e_n of P0(D), so that
    ℓ0(E) = mean_q |a_qᵀ E|² and Ĥ = Aᵀ A / M. Works on a batch E (B, p, d).
    """

    def __init__(self, p, train_pairs):
        pairs = np.asarray(train_pairs)
        sums = pairs.sum(axis=1)
        rows = []
        for a in range(len(pairs)):
            for b in range(a + 1, len(pairs)):
                if sums[a] == sums[b]:
                    row = np.zeros(p)
                    for k in pairs[a]:
                        row[k] += 1
                    for k in pairs[b]:
                        row[k] -= 1
                    rows.append(row)
        self.A = np.array(rows).reshape(-1, p)

    @property
    def H_hat(self):
        M = self.A.shape[0]
        return self.A.T @ self.A / M if M else np.zeros((self.A.shape[1],) * 2)

    def loss_grad(self, E):
        """(ℓ_eff (B,), ∇ℓ_eff (B, p, d)) from the residuals A E."""
        M = self.A.shape[0]
        R = self.A @ E  # (B, M, d) residuals, BLAS
        Z = np.sum(E * E, axis=(1, 2))
        ell = np.sum(R * R, axis=(1, 2)) / M / Z
        HE = self.A.T @ R / M
        return ell, 2.0 / Z[:, None, None] * (HE - ell[:, None, None] * E)

    def rk4(self, E0, lr, h, n_steps):
        E = np.array(E0, dtype=float)
        f = lambda X: -lr * self.loss_grad(X)[1]  # noqa: E731
        for _ in range(n_steps):
            k1 = f(E)
            k2 = f(E + 0.5 * h * k1)
            k3 = f(E + 0.5 * h * k2)
            k4 = f(E + h * k3)
            E = E + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        return E

    def euler(self, E0, lr, h, n_steps):
        E = np.array(E0, dtype=float)
        for _ in range(n_steps):
            E = E - lr * h * self.loss_grad(E)[1]
        return E
