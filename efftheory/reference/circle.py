"""Slow, obviously correct twins of efftheory.theories.circle.flow: Python loops over parallelograms and steps.

Written from the definitions only (nothing imported from efftheory). Phases θ are (p,) arrays;
a parallelogram is a symbol quadruple (a, b, c, d) with a + b ≡ c + d (mod p) and residual
φ = θ_a + θ_b − θ_c − θ_d.
"""

from __future__ import annotations

import math

import numpy as np


def samples(p):
    """Unordered samples (a, b), a <= b, as a list of tuples."""
    return [(a, b) for a in range(p) for b in range(a, p)]


def quads(p, sample_list=None):
    """(M, 4) int64: every pair of distinct samples with equal (a + b) mod p and non-zero a_q."""
    sample_list = samples(p) if sample_list is None else [tuple(s) for s in sample_list]
    out = []
    for i, (a, b) in enumerate(sample_list):
        for c, d in sample_list[i + 1:]:
            if (a + b) % p == (c + d) % p and constraint(p, (a, b, c, d)).any():
                out.append((a, b, c, d))
    return np.array(out, dtype=np.int64).reshape(-1, 4)


def constraint(p, q):
    """a_q = e_a + e_b − e_c − e_d as a (p,) vector."""
    v = np.zeros(p)
    v[q[0]] += 1
    v[q[1]] += 1
    v[q[2]] -= 1
    v[q[3]] -= 1
    return v


def phi(theta, q):
    return theta[q[0]] + theta[q[1]] - theta[q[2]] - theta[q[3]]


def loss(theta, qs):
    """mean_q (1 − cos φ_q)."""
    return sum(1.0 - math.cos(phi(theta, q)) for q in qs) / len(qs)


def grad(theta, qs):
    """mean_q sin(φ_q) a_q."""
    p = len(theta)
    return sum(math.sin(phi(theta, q)) * constraint(p, q) for q in qs) / len(qs)


def hessian(p, qs):
    """Σ_q a_q a_qᵀ."""
    H = np.zeros((p, p))
    for q in qs:
        v = constraint(p, q)
        H += np.outer(v, v)
    return H


def flow(theta0, qs, times, lr, dt, scheme="gd"):
    """(T, p) phases at ``times`` of θ' = −lr ∇ℓ, Euler (gd, dt = 1) or RK4, equal sub-steps <= dt."""
    theta = np.array(theta0, dtype=float)
    out = np.empty((len(times), len(theta)))
    f = lambda x: -lr * grad(x, qs)  # noqa: E731
    t_prev = 0.0
    for it, t in enumerate(times):
        span = t - t_prev
        n = max(1, math.ceil(span / dt * (1 - 1e-12))) if span > 0 else 0
        for _ in range(n):
            h = span / n
            if scheme == "gd":
                theta = theta + h * f(theta)
            else:
                k1 = f(theta)
                k2 = f(theta + 0.5 * h * k1)
                k3 = f(theta + 0.5 * h * k2)
                k4 = f(theta + h * k3)
                theta = theta + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        out[it] = theta
        t_prev = t
    return out


def descend(theta0, qs, lr, max_steps, gtol):
    """Gradient descent until max |∇ℓ| < gtol or max_steps: (θ, ℓ, steps)."""
    theta = np.array(theta0, dtype=float)
    steps = 0
    g = grad(theta, qs)
    while steps < max_steps and np.max(np.abs(g)) >= gtol:
        theta = theta - lr * g
        steps += 1
        g = grad(theta, qs)
    return theta, loss(theta, qs), steps


def rqi(theta, qs, delta):
    """Fraction of qs with 1 − cos φ_q < delta."""
    return sum(1.0 - math.cos(phi(theta, q)) < delta for q in qs) / len(qs)


def coherence(theta, f):
    p = len(theta)
    return abs(sum(np.exp(1j * (theta[a] - 2 * math.pi * f * a / p)) for a in range(p))) / p


def frequency(theta):
    """(f in 1..p−1 maximising the coherence, that coherence)."""
    p = len(theta)
    cohs = [coherence(theta, f) for f in range(1, p)]
    best = int(np.argmax(cohs))
    return best + 1, cohs[best]


class BatchFlow:
    """The flow as one would write it in numpy: the constraint matrix A (M, p), whole batch at once.

    φ = Θ Aᵀ (B, M), ∇ℓ = sin(φ) A / M (B, p); one Python-level step at a time.
    """

    def __init__(self, p, qs):
        self.A = np.array([constraint(p, q) for q in qs])

    def grad(self, theta):
        return np.sin(theta @ self.A.T) @ self.A / self.A.shape[0]

    def run(self, theta0, lr, steps, scheme="gd", dt=1.0):
        """(B, p) phases after ``steps`` steps of length dt (in steps at learning rate lr)."""
        theta = np.array(theta0, dtype=float)
        h = lr * dt
        for _ in range(steps):
            if scheme == "gd":
                theta = theta - h * self.grad(theta)
            else:
                k1 = self.grad(theta)
                k2 = self.grad(theta - 0.5 * h * k1)
                k3 = self.grad(theta - 0.5 * h * k2)
                k4 = self.grad(theta - h * k3)
                theta = theta - h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        return theta
