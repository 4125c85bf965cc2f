"""The circle theory of modular addition: one phase per symbol, rings as zero-loss solutions.

The additive effective theory cannot represent modular addition: with the modular classes the
full-table Hessian is c (I − 11ᵀ/p) for odd p (c = p(p+3)/2), so only a constant additive embedding satisfies every
parallelogram. Networks learn a ring instead. Here each symbol a carries a phase θ_a (the 2-d
embedding (cos θ_a, sin θ_a)), and a parallelogram q = (a, b, c, d), meaning
a + b ≡ c + d (mod p), has the residual phase

    φ_q = θ_a + θ_b − θ_c − θ_d = a_q · θ,    a_q = e_a + e_b − e_c − e_d.

Parallelograms come as an int64 array ``quads`` (M, 4) of symbol quadruples (a, b, c, d).

Effective loss and gradient (mean over the M parallelograms of the training set, P0(D)):

    ℓ_circ(θ) = (1/M) Σ_q (1 − cos φ_q) ∈ [0, 2],    ∇ℓ_circ = (1/M) Σ_q sin(φ_q) a_q.

Every a_q sums to zero, so Σ_a ∂ℓ/∂θ_a = 0: gradient descent and gradient flow conserve Σ_a θ_a
(the global rotation is free and never moves).

Rings θ_a = θ_0 + 2π f a / p have φ_q ≡ 0 (mod 2π) on every modular parallelogram, so every
frequency f (f = 0 is the collapsed representation) has ℓ_circ = 0 on any training set. Near a
ring the Hessian of ℓ_circ is (1/M) Σ_q cos(φ_q) a_q a_qᵀ = Ĥ_mod = H_mod / M with
H_mod = Σ_q a_q a_qᵀ, the same for every f; see :func:`circle_linear_theory` for the linearised
flow. ℓ_circ is not convex, so a flow from random phases may stall in a local minimum or fit the
training parallelograms without forming a ring; :func:`classify_outcome` tells these apart and
:func:`ring_probability` estimates how often each happens.

Time is counted in optimisation steps at learning rate η, as in :mod:`efftheory.theories.linear.dynamics`:
the flow is dθ/dt = −η ∇ℓ_circ and gradient descent at learning rate η is its Euler scheme with
a step of 1.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import numpy as np
from numba import njit, prange

from efftheory.theories.linear.dynamics import log_times, substeps
from efftheory.errors import InputError, positive_number, require
from efftheory.theories.linear.metrics import normalize
from efftheory.stats import wilson_interval
from efftheory.tasks import ModularAddition
from efftheory.theories.linear.theory import class_hessian

METHODS = ("gd", "rk4")
"""Accepted values of ``method`` in :func:`circle_flow`."""

OUTCOMES = ("ring", "collapsed", "stalled", "fits-without-ring")
"""Outcomes of a flow from random phases, in the order :func:`ring_probability` reports them.

"collapsed" is the f = 0 ring (all phases equal): a zero-loss solution of the full table like
every ring, but one that cannot tell the classes apart."""

#: A parallelogram holds when |φ_q| (mod 2π) is below this fraction of the ring spacing 2π/p.
#: Decoding by the nearest ring point is right for any |φ_q| < π/p (fraction 0.5); 0.3 keeps a
#: margin and matches the additive RQI, whose tolerance δ·110/(p(p+1)) on the mean squared
#: normalised residual is a residual of sqrt(1.1 (p−1) / (12 p)) ≈ 0.29 of the spacing.
DEFAULT_KAPPA = 0.3

#: Training loss above which a flow that has come to rest counts as stalled. Measured (p = 23 and 59,
#: fractions 0.1-0.4, seed 0): every state that fitted ended at ℓ <= 1e-17 (<= 1e-12 at p = 59,
#: frac 0.05, where the flow is slow along free directions); every stalled one at ℓ >= 0.007.
DEFAULT_LOSS_TOL = 1e-6

#: Coherence at and above which a fitted state is a ring. A ring with independent phase errors of
#: rms σ has coherence ≈ exp(−σ²/2), so 0.99 allows σ ≈ 0.14 rad. When the training set leaves no
#: free direction the split is clean: fitted rings have coherence 1 − 1e-15 and the fitted
#: non-rings seen at most (p − 2)/p (a ring with two symbols out of place). With free directions
#: the zero-loss set contains deformed rings and the coherence of fitted states is a continuum
#: (p = 23, frac 0.2: 44 of 1000 in (0.9, 0.99)), so there the split depends on this value.
DEFAULT_COHERENCE_MIN = 0.99

#: ring_probability stops a member once max_a |∂ℓ/∂θ_a| falls below this.
DEFAULT_GTOL = 1e-10

#: Default RK4 step as a fraction of 1 / (η λ_max(Ĥ_mod)): λ_max(Ĥ_mod) bounds the curvature of
#: ℓ_circ everywhere (−Ĥ_mod ≤ (1/M) Σ cos φ_q a_q a_qᵀ ≤ Ĥ_mod), RK4 is stable to 2.78 on the
#: negative real axis, and 0.5 keeps its error far below what the loss or RQI can see.
_RK4_STEP_FRACTION = 0.5


# ---------------------------------------------------------------- parallelograms


def modular_quads(p: int, samples=None) -> np.ndarray:
    """(M, 4) int64 parallelograms of ``samples`` (default: the full table) under addition mod p.

    A parallelogram is an unordered pair of distinct samples (a, b), (c, d) (samples in the
    order given, the earlier one first) with a + b ≡ c + d (mod p); it is returned as the
    quadruple (a, b, c, d). Distinct unordered samples never give a zero constraint vector.
    """
    p = _check_p(p)
    samples = ModularAddition(p).pairs if samples is None else _check_samples(samples, p)
    cls = samples.sum(axis=1) % p
    blocks = []
    for s in range(p):
        members = np.flatnonzero(cls == s)
        i, j = np.triu_indices(members.size, k=1)
        blocks.append(np.concatenate([samples[members[i]], samples[members[j]]], axis=1))
    return np.ascontiguousarray(np.concatenate(blocks, axis=0), dtype=np.int64)


# ---------------------------------------------------------------- loss and gradient (numpy)


def _residuals(theta: np.ndarray, quads: np.ndarray) -> np.ndarray:
    """φ_q for every quad: (..., M)."""
    return theta[..., quads[:, 0]] + theta[..., quads[:, 1]] - theta[..., quads[:, 2]] - theta[..., quads[:, 3]]


def circle_loss(theta, quads) -> float | np.ndarray:
    """ℓ_circ = mean_q (1 − cos φ_q) of phases ``theta`` (..., p): a float or an array (...).

    Computed as mean 2 sin²(φ_q / 2), which keeps full relative precision near a ring.
    """
    theta = _check_theta(theta)
    quads = _check_quads(quads, theta.shape[-1])
    out = np.mean(2.0 * np.sin(0.5 * _residuals(theta, quads)) ** 2, axis=-1)
    return float(out) if out.ndim == 0 else out


def circle_gradient(theta, quads) -> np.ndarray:
    """∇ℓ_circ = (1/M) Σ_q sin(φ_q) a_q, with the shape of ``theta`` (..., p)."""
    theta = _check_theta(theta)
    quads = _check_quads(quads, theta.shape[-1])
    return np.sin(_residuals(theta, quads)) @ _constraint_matrix(quads, theta.shape[-1]) / quads.shape[0]


def _constraint_matrix(quads: np.ndarray, p: int) -> np.ndarray:
    """(M, p) rows a_q = e_a + e_b − e_c − e_d (np.add.at: a = b gives 2 e_a)."""
    A = np.zeros((quads.shape[0], p))
    rows = np.arange(quads.shape[0])
    for col, sign in ((0, 1.0), (1, 1.0), (2, -1.0), (3, -1.0)):
        np.add.at(A, (rows, quads[:, col]), sign)
    return A


# ---------------------------------------------------------------- numba kernels


@njit(cache=True)
def _trig_table(theta, c, s, g):
    """c, s <- cos θ, sin θ per symbol; g <- 0 (the gradient accumulator)."""
    for k in range(theta.shape[0]):
        c[k] = math.cos(theta[k])
        s[k] = math.sin(theta[k])
        g[k] = 0.0


@njit(cache=True)
def _loss_grad(theta, quads, c, s, g):
    """ℓ_circ of theta (p,) over quads (M >= 1, 4); writes ∇ℓ_circ into g (p,); returns ℓ_circ.

    c, s (p,) are scratch. With z_a = exp(iθ_a), exp(iφ_q) = z_a z_b conj(z_c z_d): p sin/cos
    per call instead of one per parallelogram. 1 − cos φ = sin²φ / (1 + cos φ) when cos φ > 0
    avoids the cancellation of 1 − cos φ near a ring.
    """
    p = theta.shape[0]
    _trig_table(theta, c, s, g)
    total = 0.0
    for q in range(quads.shape[0]):
        a, b, u, v = quads[q, 0], quads[q, 1], quads[q, 2], quads[q, 3]
        xr = c[a] * c[b] - s[a] * s[b]  # z_a z_b
        xi = c[a] * s[b] + s[a] * c[b]
        yr = c[u] * c[v] - s[u] * s[v]  # z_c z_d
        yi = c[u] * s[v] + s[u] * c[v]
        cos_phi = xr * yr + xi * yi  # Re, Im of (z_a z_b) conj(z_c z_d)
        sin_phi = xi * yr - xr * yi
        if cos_phi > 0.0:
            total += sin_phi * sin_phi / (1.0 + cos_phi)
        else:
            total += 1.0 - cos_phi
        g[a] += sin_phi
        g[b] += sin_phi
        g[u] -= sin_phi
        g[v] -= sin_phi
    inv = 1.0 / quads.shape[0]
    for k in range(p):
        g[k] *= inv
    return total * inv


@njit(cache=True)
def _any_loss_grad(theta, by_class, quads, pairs, class_starts, n_quads, c, s, wr, wi, g):
    """:func:`_class_loss_grad` over all classes if ``by_class``, else :func:`_loss_grad`."""
    if by_class:
        return _class_loss_grad(theta, pairs, class_starts, 0, class_starts.shape[0] - 1, n_quads, c, s, wr, wi, g)
    return _loss_grad(theta, quads, c, s, g)


@njit(cache=True)
def _rk4_step(theta, h, by_class, quads, pairs, class_starts, n_quads, c, s, wr, wi, k1, k2, k3, k4, tmp):
    """One classical RK4 step of dθ/dt = −∇ℓ_circ of length h (the caller folds η into h)."""
    p = theta.shape[0]
    _any_loss_grad(theta, by_class, quads, pairs, class_starts, n_quads, c, s, wr, wi, k1)
    for k in range(p):
        tmp[k] = theta[k] - 0.5 * h * k1[k]
    _any_loss_grad(tmp, by_class, quads, pairs, class_starts, n_quads, c, s, wr, wi, k2)
    for k in range(p):
        tmp[k] = theta[k] - 0.5 * h * k2[k]
    _any_loss_grad(tmp, by_class, quads, pairs, class_starts, n_quads, c, s, wr, wi, k3)
    for k in range(p):
        tmp[k] = theta[k] - h * k3[k]
    _any_loss_grad(tmp, by_class, quads, pairs, class_starts, n_quads, c, s, wr, wi, k4)
    for k in range(p):
        theta[k] -= h / 6.0 * (k1[k] + 2.0 * k2[k] + 2.0 * k3[k] + k4[k])


@njit(cache=True, parallel=True)
def _integrate(theta_start, by_class, quads, pairs, class_starts, n_quads, times, dt, lr, rk4, theta_out, loss_out):
    """Integrate dθ/dt = −lr ∇ℓ_circ from theta_start (B, p) at time 0, saving at ``times``.

    The parallelograms are ``quads`` (M, 4), or with ``by_class`` all pairs of samples within
    each class of ``pairs`` / ``class_starts`` (n_quads of them; see :func:`_class_loss_grad`).
    Each interval between saved times is cut into the fewest equal steps no longer than ``dt``
    (so saved times are hit exactly); the step is explicit Euler (gradient descent when
    dt = 1) or RK4. Writes theta_out (T, B, p) and loss_out (T, B).
    """
    B, p = theta_start.shape
    T = times.shape[0]
    largest = 1
    for k in range(class_starts.shape[0] - 1):
        largest = max(largest, class_starts[k + 1] - class_starts[k])
    for b in prange(B):
        theta = theta_start[b].copy()
        c, s, wr, wi = np.empty(p), np.empty(p), np.empty(largest), np.empty(largest)
        k1, k2, k3, k4, tmp = np.empty(p), np.empty(p), np.empty(p), np.empty(p), np.empty(p)
        t_prev = 0.0
        for it in range(T):
            span = times[it] - t_prev
            if span > 0.0:
                n = substeps(span, dt)
                h = lr * span / n
                for _ in range(n):
                    if rk4:
                        _rk4_step(theta, h, by_class, quads, pairs, class_starts, n_quads, c, s, wr, wi,
                                  k1, k2, k3, k4, tmp)
                    else:
                        _any_loss_grad(theta, by_class, quads, pairs, class_starts, n_quads, c, s, wr, wi, k1)
                        for k in range(p):
                            theta[k] -= h * k1[k]
            t_prev = times[it]
            theta_out[it, b] = theta
            loss_out[it, b] = _any_loss_grad(theta, by_class, quads, pairs, class_starts, n_quads, c, s, wr, wi, k1)


@njit(cache=True)
def _class_loss_grad(theta, pairs, class_starts, k0, k1, n_quads, c, s, wr, wi, g):
    """ℓ_circ and ∇ℓ_circ (into g) from class sums, for all parallelograms of a modular training set.

    Class k (k0 <= k < k1) holds the samples pairs[class_starts[k]:class_starts[k+1]] (n_k of
    them, equal (a + b) mod p) and its parallelograms are all n_k (n_k − 1) / 2 pairs of them;
    n_quads is their total M. With w_i = z_a z_b for sample i = (a, b), z = exp(iθ), and W the
    class sum, φ between samples i, j is arg w_i − arg w_j, so per class

        Σ_{i<j} (1 − cos φ_ij) = (n_k² − |W|²) / 2 = (n_k / 2) Σ_i |w_i − W / n_k|²,
        ∂/∂θ_a Σ_{i<j} (1 − cos φ_ij) = Σ_{i ∋ a} Im(w_i conj W)  (a counted twice in (a, a)),

    which costs O(n) per evaluation instead of O(M). The deviation form keeps the loss precise
    near a ring. wr, wi are scratch of at least the largest class size; c, s (p,) scratch.
    """
    p = theta.shape[0]
    _trig_table(theta, c, s, g)
    total = 0.0
    for k in range(k0, k1):
        u, v = class_starts[k], class_starts[k + 1]
        m = v - u
        if m < 2:
            continue  # a lone sample is in no parallelogram
        Wr, Wi = 0.0, 0.0
        for i in range(m):
            a, b = pairs[u + i, 0], pairs[u + i, 1]
            wr[i] = c[a] * c[b] - s[a] * s[b]
            wi[i] = c[a] * s[b] + s[a] * c[b]
            Wr += wr[i]
            Wi += wi[i]
        mr, mi = Wr / m, Wi / m
        dev = 0.0
        for i in range(m):
            dr, di = wr[i] - mr, wi[i] - mi
            dev += dr * dr + di * di
            im = wi[i] * Wr - wr[i] * Wi  # Im(w_i conj W)
            g[pairs[u + i, 0]] += im
            g[pairs[u + i, 1]] += im
        total += 0.5 * m * dev
    inv = 1.0 / n_quads if n_quads > 0 else 0.0  # no parallelograms: ℓ = 0, nothing moves
    for k in range(p):
        g[k] *= inv
    return total * inv


@njit(cache=True, parallel=True)
def _descend_classes(theta, pairs, class_starts, class_offsets, n_quads, lr, max_steps, gtol, loss_out, steps_out):
    """Gradient descent for members with different modular training sets, each until it comes to rest.

    Member b owns the classes class_offsets[b] .. class_offsets[b+1] − 1 (see
    :func:`_class_loss_grad`), with n_quads[b] parallelograms and learning rate lr[b]; it stops
    once max_a |∂ℓ/∂θ_a| < gtol or after max_steps steps. theta (B, p) is updated in place;
    writes the final loss into loss_out (B,) and the number of steps taken into steps_out (B,).
    """
    B, p = theta.shape
    for b in prange(B):
        k0, k1 = class_offsets[b], class_offsets[b + 1]
        largest = 1
        for k in range(k0, k1):
            largest = max(largest, class_starts[k + 1] - class_starts[k])
        c, s, g = np.empty(p), np.empty(p), np.empty(p)
        wr, wi = np.empty(largest), np.empty(largest)
        th = theta[b].copy()
        done = 0
        loss = _class_loss_grad(th, pairs, class_starts, k0, k1, n_quads[b], c, s, wr, wi, g)
        while done < max_steps and np.max(np.abs(g)) >= gtol:
            for k in range(p):
                th[k] -= lr[b] * g[k]
            done += 1
            loss = _class_loss_grad(th, pairs, class_starts, k0, k1, n_quads[b], c, s, wr, wi, g)
        theta[b] = th
        loss_out[b] = loss
        steps_out[b] = done


@njit(cache=True, parallel=True)
def _holds_count(theta, quads, delta):
    """For each row b of theta (B, p): how many quads have 1 − cos φ_q < delta. (B,) int64."""
    B = theta.shape[0]
    out = np.zeros(B, np.int64)
    for b in prange(B):
        count = 0
        for q in range(quads.shape[0]):
            phi = theta[b, quads[q, 0]] + theta[b, quads[q, 1]] - theta[b, quads[q, 2]] - theta[b, quads[q, 3]]
            half = math.sin(0.5 * phi)
            if 2.0 * half * half < delta:  # 1 − cos φ without cancellation
                count += 1
        out[b] = count
    return out


# ---------------------------------------------------------------- flow


@dataclass(frozen=True)
class CircleTrajectory:
    """Phases saved along a circle flow.

    Attributes:
        times: (T,) float64 times in optimisation steps at learning rate ``lr`` (times[0] may be
            0, then theta[0] is the initial condition).
        theta: (T, B, p) float64 phases (not reduced mod 2π); the batch axis is kept for B = 1.
        loss: (T, B) float64 ℓ_circ on the flow's parallelograms at each saved time.
        method: "gd" or "rk4".
        lr: the learning rate η.
        dt: the largest integration step, in steps (1 for "gd").
    """

    times: np.ndarray
    theta: np.ndarray
    loss: np.ndarray
    method: str
    lr: float
    dt: float

    def frequency(self) -> tuple[np.ndarray, np.ndarray]:
        """((T, B) signed ring frequency, (T, B) coherence) of every saved state."""
        return ring_frequency(self.theta)

    def rqi(self, full_quads, delta: float | None = None) -> np.ndarray:
        """(T, B) circle RQI of every saved state on ``full_quads``."""
        return circle_rqi(self.theta, full_quads, delta)


def curvature_bound(p: int, quads) -> float:
    """λ_max(Ĥ_mod): an upper bound on |curvature| of ℓ_circ everywhere (see :data:`_RK4_STEP_FRACTION`).

    Gradient descent decreases ℓ_circ at every step for any lr < 2 / λ_max (descent lemma).
    """
    quads = _check_quads(quads, _check_p(p))
    return float(np.linalg.eigvalsh(modular_hessian(p, quads))[-1]) / quads.shape[0]


def circle_flow(theta0, quads=None, *, samples=None, lr: float | None = None, steps: int | None = None,
                times=None, method: str = "gd", dt: float | None = None, n_times: int = 200) -> CircleTrajectory:
    """Evolve phases by gradient descent or the gradient flow of ℓ_circ; all members in parallel.

    Args:
        theta0: (p,) or (B, p) initial phases (B independent initial conditions).
        quads: (M, 4) int64 training parallelograms (a, b, c, d), M >= 1. Or instead:
        samples: (n, 2) int64 training samples (a, b) of addition mod p; their parallelograms
            are all pairs with equal (a + b) mod p, handled through class sums (O(n) per step
            instead of O(M); the same flow as ``quads=modular_quads(p, samples)``).
        lr: learning rate η > 0; default 1 / λ_max(Ĥ_mod), for which every gradient-descent
            step decreases ℓ_circ (the curvature never exceeds λ_max(Ĥ_mod)).
        steps: horizon in steps; the trajectory is saved at 0 and up to ``n_times - 1``
            log-spaced whole steps up to ``steps``. Give ``steps`` or ``times``.
        times: (T,) non-decreasing times >= 0 to save at (whole numbers for "gd").
        method: "gd" (gradient descent, θ ← θ − η ∇ℓ once per unit of time) or "rk4" (the flow
            dθ/dt = −η ∇ℓ_circ, classical RK4).
        dt: "rk4" only: largest integration step in steps; default 0.5 / (η λ_max(Ĥ_mod)).
    """
    require(method in METHODS, f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    theta0 = np.ascontiguousarray(np.atleast_2d(_check_theta(theta0)))
    require(theta0.ndim == 2 and theta0.shape[0] >= 1, f"theta0 must have shape (p,) or (B, p), got {theta0.shape}")
    p = theta0.shape[1]
    require((quads is None) != (samples is None), "give exactly one of quads and samples")
    if samples is None:
        quads = _check_quads(quads, p)
        H, M = modular_hessian(p, quads), quads.shape[0]
        pairs, class_starts, n_quads = np.zeros((0, 2), np.int64), np.zeros(1, np.int64), M
    else:
        samples = _check_samples(samples, p)
        pairs, class_starts, counts = _by_class(p, [samples])
        H, M = modular_hessian_from_classes(p, samples), int(counts[0])
        require(M >= 1, "the training samples form no parallelogram")
        quads, n_quads = np.zeros((0, 4), np.int64), M
    lam_max = float(np.linalg.eigvalsh(H)[-1]) / M
    lr = 1.0 / lam_max if lr is None else positive_number(lr, "lr")
    times = _flow_times(steps, times, n_times, integer=(method == "gd"))
    if method == "gd":
        require(dt is None or float(dt) == 1.0, f"gd takes one step per unit of time; dt must be 1, got {dt!r}")
        dt = 1.0
    else:
        dt = _RK4_STEP_FRACTION / (lr * lam_max) if dt is None else positive_number(dt, "dt")
    T, B = times.size, theta0.shape[0]
    theta_out, loss_out = np.empty((T, B, p)), np.empty((T, B))
    _integrate(theta0, samples is not None, quads, pairs, class_starts, n_quads, times, float(dt), lr,
               method == "rk4", theta_out, loss_out)
    return CircleTrajectory(times, theta_out, loss_out, method, lr, float(dt))


def _flow_times(steps, times, n_times: int, integer: bool) -> np.ndarray:
    require((steps is None) != (times is None), "give exactly one of steps and times")
    if steps is not None:
        require(isinstance(steps, numbers.Integral) and steps >= 1, f"steps must be a positive integer, got {steps!r}")
        return log_times(float(steps), n_times, integer=True)
    times = np.ascontiguousarray(times, dtype=np.float64)
    require(times.ndim == 1 and times.size >= 1, f"times must be a non-empty 1-D array, got shape {times.shape}")
    require(bool(np.all(np.isfinite(times))) and bool(np.all(times >= 0)), "times must be finite and >= 0")
    require(bool(np.all(np.diff(times) >= 0)), "times must be non-decreasing")
    if integer:
        require(bool(np.all(times == np.round(times))), "gd needs whole-number times (steps)")
    return times


# ---------------------------------------------------------------- ring diagnostics


def circle_threshold(p: int, kappa: float = DEFAULT_KAPPA) -> float:
    """δ_circ = 1 − cos(2π κ / p): a parallelogram holds when |φ_q| < κ · (ring spacing 2π/p)."""
    p = _check_p(p)
    return 1.0 - math.cos(2.0 * math.pi * positive_number(kappa, "kappa") / p)


def circle_rqi(theta, full_quads, delta: float | None = None) -> float | np.ndarray:
    """Circle RQI: fraction of ``full_quads`` with 1 − cos φ_q < δ_circ, for phases (..., p);
    0 for collapsed phases.

    ``delta`` defaults to :func:`circle_threshold` (κ = 0.3 of the ring spacing). A ring of any
    frequency f ≠ 0 perturbed by less than κ/4 of the spacing per phase scores 1. Phases closer
    to the collapsed f = 0 ring than to any other (:func:`collapsed`) score 0: they satisfy
    every parallelogram trivially but separate no classes, the way a constant dimension scores
    0 in the additive RQI (docs/theory.md §7, §13). Uniform random phases score about 2κ/p.
    """
    theta = _check_theta(theta)
    p = theta.shape[-1]
    quads = _check_quads(full_quads, p)
    delta = circle_threshold(p) if delta is None else positive_number(delta, "delta")
    flat = np.ascontiguousarray(theta.reshape(-1, p))
    out = (_holds_count(flat, quads, delta) / quads.shape[0]).reshape(theta.shape[:-1])
    out = np.where(collapsed(theta), 0.0, out)
    return float(out) if out.ndim == 0 else out


def collapsed(theta) -> bool | np.ndarray:
    """Whether phases (..., p) are closer to the collapsed ring than to any ring of frequency f ≠ 0:
    |mean_a exp(iθ_a)| (the coherence at f = 0) >= the best coherence at f ≠ 0
    (:func:`ring_frequency`). All phases equal gives 1 against 0; an exact ring f ≠ 0 the reverse."""
    theta = _check_theta(theta)
    _, best = ring_frequency(theta)
    out = np.abs(np.mean(np.exp(1j * theta), axis=-1)) >= best
    return bool(out) if out.ndim == 0 else out


def ring_frequency(theta) -> tuple[np.ndarray | int, np.ndarray | float]:
    """The ring a phase vector is closest to: (signed frequency k, coherence), batched over (...).

    coherence_f = |mean_a exp(i(θ_a − 2π f a / p))|, maximised over f = 1..p−1. Frequencies f and
    p − f are the same ring traversed in opposite directions, so the result is the signed
    frequency k ≡ f (mod p) with |k| <= p/2: |k| is the ring's frequency and the sign its
    orientation (θ_a ≈ θ_0 + 2π k a / p). The coherence is 1 exactly on a ring.
    """
    theta = _check_theta(theta)
    p = theta.shape[-1]
    f = np.arange(1, p)
    a = np.arange(p)
    z = np.exp(1j * theta)  # (..., p)
    basis = np.exp(-2j * np.pi * np.outer(a, f) / p)  # (p, p-1)
    coh = np.abs(z @ basis) / p  # (..., p-1)
    best = np.argmax(coh, axis=-1)
    fbest = f[best]
    k = np.where(fbest > p // 2, fbest - p, fbest)
    c = np.take_along_axis(coh, best[..., None], axis=-1)[..., 0]
    if k.ndim == 0:
        return int(k), float(c)
    return k.astype(np.int64), c


@dataclass(frozen=True)
class RingFit:
    """A ring fitted to d-dimensional embeddings.

    Attributes:
        phases: (p,) float64 angle of each symbol in the fitted plane, in (−π, π].
        frequency: signed ring frequency k of the phases (see :func:`ring_frequency`).
        coherence: coherence of the phases at that frequency (1 on a perfect ring).
        variance_explained: fraction of the normalised embeddings' variance in the plane.
        method: "pca" or "fourier".
    """

    phases: np.ndarray
    frequency: int
    coherence: float
    variance_explained: float
    method: str


def ring_fit(E, method: str = "pca") -> RingFit:
    """Fit a ring to embeddings E (p, d), d >= 2.

    E is normalised per dimension (mean 0, ddof=1 std; constant dimensions are dropped). Then

    - "pca": the plane of the two leading principal components (SVD of the normalised E);
    - "fourier": the plane spanned by Re F_f and Im F_f of the Fourier component
      F_f = Σ_a Ê_a exp(−2πi f a/p) with the largest power ||F_f||², f = 1..⌊p/2⌋.

    The phases are the angles of the symbols projected on that (orthonormalised) plane; the
    variance fraction is the plane's share of ||Ê||²_F.
    """
    require(method in ("pca", "fourier"), f"unknown ring-fit method {method!r}; choose pca or fourier")
    E = np.asarray(E, dtype=np.float64)
    require(E.ndim == 2 and E.shape[0] >= 3 and E.shape[1] >= 2, f"E must have shape (p, d) with p >= 3, d >= 2, got {E.shape}")
    require(bool(np.all(np.isfinite(E))), "E has non-finite entries")
    En = _normalize(E)
    basis = _pca_plane(En) if method == "pca" else _fourier_plane(En)  # (d', 2) orthonormal
    xy = En @ basis
    phases = np.arctan2(xy[:, 1], xy[:, 0])
    k, coh = ring_frequency(phases)
    explained = float(np.sum(xy**2) / np.sum(En**2))
    return RingFit(phases, int(k), float(coh), explained, method)


def fit_phases(embeddings) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ring fits of (T, p, d) embeddings: ((T, p) phases, (T,) coherence, (T,) variance share).

    The same fit as :func:`ring_fit` (method "pca") at every step, batched: the
    steps whose every dimension varies go through one batched normalisation and SVD (a run has
    thousands of evaluated steps), the others one by one. Steps that cannot be fitted
    (non-finite, or fewer than two non-constant dimensions) get NaN everywhere. A PCA basis is
    defined up to the sign of each axis, so phases may differ from ring_fit's by a reflection or a
    half turn; the frequency's magnitude, the coherence and the circle RQI do not.
    """
    E = np.asarray(embeddings, dtype=np.float64)
    require(E.ndim == 3 and E.shape[2] >= 2, f"embeddings must have shape (T, p, d) with d >= 2, got {E.shape}")
    T, p, _ = E.shape
    phases, coh, var = np.full((T, p), np.nan), np.full(T, np.nan), np.full(T, np.nan)
    En = normalize(E)  # constant (or non-finite) dimensions become NaN
    whole = np.all(np.isfinite(En), axis=(1, 2))
    if whole.any():
        X = En[whole]
        _, _, Vt = np.linalg.svd(X, full_matrices=False)  # (T', d, d)
        xy = X @ np.swapaxes(Vt[:, :2, :], 1, 2)  # (T', p, 2): the two leading components
        phases[whole] = np.arctan2(xy[..., 1], xy[..., 0])
        _, coh[whole] = ring_frequency(phases[whole])
        var[whole] = np.sum(xy**2, axis=(1, 2)) / np.sum(X**2, axis=(1, 2))
    for t in np.flatnonzero(~whole):  # some dimension constant: the fit drops it, if two remain
        if not np.all(np.isfinite(E[t])):
            continue
        try:
            fit = ring_fit(E[t])
        except InputError:  # fewer than two non-constant dimensions: no plane
            continue
        phases[t], coh[t], var[t] = fit.phases, fit.coherence, fit.variance_explained
    return phases, coh, var


def _normalize(E: np.ndarray) -> np.ndarray:
    """The metrics' normalisation (docs/theory.md §7), constant dimensions dropped."""
    En = normalize(E)
    keep = ~np.isnan(En).any(axis=0)
    require(int(keep.sum()) >= 2, "E needs at least two non-constant dimensions for a ring fit")
    return En[:, keep]


def _pca_plane(En: np.ndarray) -> np.ndarray:
    _, _, Vt = np.linalg.svd(En, full_matrices=False)
    return Vt[:2].T


def _fourier_plane(En: np.ndarray) -> np.ndarray:
    p = En.shape[0]
    f = np.arange(1, p // 2 + 1)
    F = np.exp(-2j * np.pi * np.outer(f, np.arange(p)) / p) @ En  # (p//2, d)
    best = int(np.argmax(np.sum(np.abs(F) ** 2, axis=1)))
    Q, _ = np.linalg.qr(np.stack([F[best].real, F[best].imag], axis=1))
    return Q


# ---------------------------------------------------------------- linear theory


def modular_hessian(p: int, quads) -> np.ndarray:
    """H_mod = Σ_q a_q a_qᵀ (p, p) float64, a_q = e_a + e_b − e_c − e_d."""
    p = _check_p(p)
    A = _constraint_matrix(_check_quads(quads, p, allow_empty=True), p)
    return A.T @ A


@dataclass(frozen=True)
class CircleTheory:
    """Linearisation of ℓ_circ around a ring for one training set.

    Near any ring θ* (of any frequency) write θ(t) = θ∞ + ε(t), θ∞ the zero-loss point the flow
    settles on, and expand ε in the eigenvectors v_k of Ĥ_mod (eigenvalues λ_k). The gradient
    flow dθ/dt = −η ∇ℓ_circ linearises to dε/dt = −η Ĥ_mod ε, so ε_k(t) = ε_k(0) exp(−η λ_k t)
    for λ_k > 0, while components in the null space do not move (they only pick θ∞), and

        ℓ_circ(t) = ½ Σ_{λ_k > 0} λ_k ε_k(0)² exp(−2 η λ_k t) + O(|ε|⁴)
                  ~ ½ λ_min ε_min(0)² exp(−2 η λ_min t)   (t → ∞),

    with λ_min = ``rate`` the smallest non-zero eigenvalue; the distance to the ring decays like
    exp(−η λ_min t). Gradient descent at learning rate η replaces exp(−η λ_k t) by (1 − η λ_k)^t.

    Attributes:
        p, n_quads (M).
        H_mod: (p, p) Σ_q a_q a_qᵀ; H_hat: (p, p) H_mod / M.
        eigenvalues: (p,) ascending eigenvalues of H_hat.
        rank: rank of H_mod (<= p − 1: the global rotation 1 is always in the null space).
        free_directions: p − 1 − rank, the directions besides the rotation that the training
            parallelograms leave free at the ring (0 iff the ring is locally unique).
        locally_unique: rank == p − 1.
        rate: λ_min, the smallest eigenvalue of Ĥ_mod above the rank tolerance (None if M = 0).
    """

    p: int
    n_quads: int
    H_mod: np.ndarray = field(repr=False)
    H_hat: np.ndarray = field(repr=False)
    eigenvalues: np.ndarray = field(repr=False)
    rank: int
    free_directions: int
    locally_unique: bool
    rate: float | None


def circle_linear_theory(p: int, quads_train) -> CircleTheory:
    """Rank, free directions and slowest rate λ_min of Ĥ_mod for training parallelograms (M, 4)."""
    quads = _check_quads(quads_train, _check_p(p), allow_empty=True)
    return _theory_of(int(p), modular_hessian(p, quads), quads.shape[0])


def modular_hessian_from_classes(p: int, samples) -> np.ndarray:
    """H_mod of all modular parallelograms of ``samples`` (n, 2), from class sums
    (:func:`efftheory.theories.linear.theory.class_hessian` with classes (a + b) mod p): the same matrix as
    :func:`modular_hessian` of :func:`modular_quads`, in O(n + p³) instead of O(M p²)."""
    p = _check_p(p)
    samples = _check_samples(samples, p)
    return class_hessian(p, samples, samples.sum(axis=1) % p, p).astype(np.float64)


def _theory_of(p: int, H: np.ndarray, M: int) -> CircleTheory:
    lam = np.linalg.eigvalsh(H)
    # the entries of H are integers, so a non-zero eigenvalue is far above round-off
    positive = lam[lam > 1e-9 * max(1.0, float(lam[-1]))]
    rank = int(positive.size)
    scale = 1.0 / M if M else 1.0
    return CircleTheory(
        p=p, n_quads=M, H_mod=H, H_hat=H * scale, eigenvalues=lam * scale, rank=rank,
        free_directions=p - 1 - rank, locally_unique=rank == p - 1,
        rate=float(positive[0]) * scale if rank else None,
    )


# ---------------------------------------------------------------- outcomes


def classify_outcome(theta_final, loss_final, *, loss_tol: float = DEFAULT_LOSS_TOL,
                     coherence_min: float = DEFAULT_COHERENCE_MIN) -> np.ndarray | str:
    """Outcome of a flow from its final phases (..., p) and final training loss (...).

    - "stalled": ℓ_circ > ``loss_tol`` (default 1e-6): the training parallelograms are not fitted;
    - "ring": ℓ_circ <= loss_tol and coherence >= ``coherence_min`` (default 0.99) at the best
      frequency f ≠ 0 (see :func:`ring_frequency`);
    - "collapsed": ℓ_circ <= loss_tol and |mean_a exp(iθ_a)| >= coherence_min (the f = 0 ring);
    - "fits-without-ring": ℓ_circ <= loss_tol and neither coherence reaches coherence_min.

    Call it on states that have come to rest (e.g. from :func:`ring_probability`); a flow cut
    short may still be on its way to a ring.
    """
    theta_final = _check_theta(theta_final)
    loss_final = np.asarray(loss_final, dtype=np.float64)
    require(loss_final.shape == theta_final.shape[:-1],
            f"loss_final must have shape {theta_final.shape[:-1]}, got {loss_final.shape}")
    _, coh = ring_frequency(theta_final)
    coh0 = np.abs(np.mean(np.exp(1j * theta_final), axis=-1))
    fitted = np.where(coh >= coherence_min, "ring",
                      np.where(coh0 >= coherence_min, "collapsed", "fits-without-ring"))
    out = np.where(loss_final > loss_tol, "stalled", fitted)
    return str(out) if out.ndim == 0 else out


@dataclass(frozen=True)
class RingProbability:
    """How often gradient descent from uniform random phases finds a ring, per outcome.

    Attributes:
        p, frac, n_train (samples per training set, round(frac · p(p+1)/2)), trials, seed.
        outcomes: (trials,) str, one of :data:`OUTCOMES` per trial.
        fraction, ci_low, ci_high: dicts outcome -> fraction of trials and its Wilson 95% bounds.
        loss: (trials,) final training ℓ_circ; coherence, frequency: (trials,) of the final phases.
        full_rqi: (trials,) circle RQI of the final phases on the full table.
        free_directions: (trials,) p − 1 − rank H_mod of each training set.
        steps: (trials,) int64 steps taken; converged: (trials,) bool, came to rest before
            max_steps (max |∂ℓ/∂θ_a| < gtol).
        lr: (trials,) the learning rate of each trial, 1 / λ_max(Ĥ_mod).
        max_steps, gtol, loss_tol, coherence_min: the settings used.
    """

    p: int
    frac: float
    n_train: int
    trials: int
    seed: int
    outcomes: np.ndarray = field(repr=False)
    fraction: dict
    ci_low: dict
    ci_high: dict
    loss: np.ndarray = field(repr=False)
    coherence: np.ndarray = field(repr=False)
    frequency: np.ndarray = field(repr=False)
    full_rqi: np.ndarray = field(repr=False)
    free_directions: np.ndarray = field(repr=False)
    steps: np.ndarray = field(repr=False)
    converged: np.ndarray = field(repr=False)
    lr: np.ndarray = field(repr=False)
    max_steps: int = 0
    gtol: float = DEFAULT_GTOL
    loss_tol: float = DEFAULT_LOSS_TOL
    coherence_min: float = DEFAULT_COHERENCE_MIN


def ring_probability(p: int, frac: float, trials: int, seed: int = 0, *, max_steps: int = 100_000,
                     gtol: float = DEFAULT_GTOL, loss_tol: float = DEFAULT_LOSS_TOL,
                     coherence_min: float = DEFAULT_COHERENCE_MIN) -> RingProbability:
    """Fractions of the :data:`OUTCOMES` (ring, collapsed, stalled, fits-without-ring) over random training sets.

    Each trial draws n = round(frac · p(p+1)/2) distinct unordered samples a <= b (their modular
    parallelograms are all pairs of samples with equal (a + b) mod p, handled through class
    sums, see :func:`_class_loss_grad`), draws phases uniform in [0, 2π) and runs gradient descent at
    lr = 1 / λ_max(Ĥ_mod) (monotone in ℓ_circ) until max_a |∂ℓ/∂θ_a| < gtol or ``max_steps``
    steps, then classifies the final state (:func:`classify_outcome`). Trials run in parallel;
    everything is drawn from ``numpy.random.default_rng(seed)``, so the result depends only on
    the arguments. A trial whose training set has no parallelogram is "fits-without-ring" if
    its random phases are not a ring (ℓ = 0 trivially).
    """
    p = _check_p(p)
    require(isinstance(frac, numbers.Real) and 0.0 < float(frac) <= 1.0, f"frac must be in (0, 1], got {frac!r}")
    require(isinstance(trials, numbers.Integral) and trials >= 1, f"trials must be a positive integer, got {trials!r}")
    require(isinstance(seed, numbers.Integral) and seed >= 0, f"seed must be a non-negative integer, got {seed!r}")
    require(isinstance(max_steps, numbers.Integral) and max_steps >= 1, f"max_steps must be a positive integer, got {max_steps!r}")
    samples = ModularAddition(p).pairs
    n = int(round(float(frac) * samples.shape[0]))
    require(n >= 2, f"frac {frac} gives {n} training samples; need at least 2")
    rng = np.random.default_rng(seed)
    train, theta = [], np.empty((trials, p))
    for t in range(trials):
        train.append(samples[np.sort(rng.choice(samples.shape[0], n, replace=False))])
        theta[t] = rng.uniform(0.0, 2.0 * np.pi, p)
    rest = settle(theta, train, max_steps=max_steps, gtol=gtol)
    theories, theta, loss, steps, lr = rest.theories, rest.theta, rest.loss, rest.steps, rest.lr
    outcomes = np.asarray(classify_outcome(theta, loss, loss_tol=loss_tol, coherence_min=coherence_min))
    freq, coh = ring_frequency(theta)
    counts = {o: int(np.sum(outcomes == o)) for o in OUTCOMES}
    bounds = {o: wilson_interval(counts[o], trials) for o in OUTCOMES}
    return RingProbability(
        p=p, frac=float(frac), n_train=n, trials=int(trials), seed=int(seed), outcomes=outcomes,
        fraction={o: counts[o] / trials for o in OUTCOMES},
        ci_low={o: bounds[o][0] for o in OUTCOMES}, ci_high={o: bounds[o][1] for o in OUTCOMES},
        loss=loss, coherence=np.asarray(coh), frequency=np.asarray(freq),
        full_rqi=np.asarray(circle_rqi(theta, modular_quads(p))),
        free_directions=np.array([th.free_directions for th in theories]),
        steps=steps, converged=steps < max_steps, lr=lr, max_steps=int(max_steps), gtol=float(gtol),
        loss_tol=float(loss_tol), coherence_min=float(coherence_min),
    )


@dataclass(frozen=True)
class Settled:
    """Phases brought to rest by gradient descent on ℓ_circ of their own training sets (:func:`settle`).

    Attributes:
        theta: (B, p) final phases (not reduced mod 2π).
        loss: (B,) final training ℓ_circ.
        steps: (B,) int64 steps taken; converged: (B,) bool, came to rest (max |∂ℓ/∂θ_a| < gtol)
            before max_steps.
        lr: (B,) learning rate of each member, 1 / λ_max(Ĥ_mod) of its training set (1 when the
            set has no parallelogram: then nothing moves).
        theories: the :class:`CircleTheory` of each member's training set.
        outcomes: (B,) str, :func:`classify_outcome` of each final state.
    """

    theta: np.ndarray
    loss: np.ndarray
    steps: np.ndarray
    converged: np.ndarray
    lr: np.ndarray
    theories: list = field(repr=False)
    outcomes: np.ndarray = field(repr=False)


def settle(theta0, train, *, max_steps: int = 100_000, gtol: float = DEFAULT_GTOL) -> Settled:
    """Gradient descent on ℓ_circ from each start until it comes to rest, members in parallel.

    ``theta0`` (B, p) or (p,) starting phases; ``train`` the training samples (n, 2) of addition
    mod p, one array for all members or a list of B arrays (member b descends on train[b]). Each
    member runs at lr = 1 / λ_max(Ĥ_mod) of its own set (monotone in ℓ_circ, see
    :func:`curvature_bound`) until max_a |∂ℓ/∂θ_a| < ``gtol`` or ``max_steps`` steps, through
    class sums (O(n) per step). The final states are classified with the default thresholds.
    """
    theta = np.array(np.atleast_2d(_check_theta(theta0)), dtype=np.float64)
    require(theta.ndim == 2, f"theta0 must have shape (p,) or (B, p), got {np.shape(theta0)}")
    B, p = theta.shape
    require(isinstance(max_steps, numbers.Integral) and max_steps >= 1, f"max_steps must be a positive integer, got {max_steps!r}")
    gtol = positive_number(gtol, "gtol")
    if isinstance(train, (list, tuple)):
        require(len(train) == B, f"train must hold one training set per start ({B}), got {len(train)}")
        train = [_check_samples(d, p) for d in train]
    else:
        train = [_check_samples(train, p)] * B
    pairs, class_starts, n_quads = _by_class(p, train)
    theories = [_theory_of(p, modular_hessian_from_classes(p, d), int(m)) for d, m in zip(train, n_quads)]
    lr = np.array([1.0 / th.eigenvalues[-1] if th.rank else 1.0 for th in theories])
    loss, steps = np.zeros(B), np.zeros(B, np.int64)
    class_offsets = np.arange(0, (B + 1) * p, p, dtype=np.int64)  # p classes per member
    _descend_classes(theta, pairs, class_starts, class_offsets, n_quads, lr, int(max_steps), float(gtol), loss, steps)
    outcomes = np.asarray(classify_outcome(theta, loss), dtype=object).reshape(-1)
    return Settled(theta=theta, loss=loss, steps=steps, converged=steps < max_steps, lr=lr, theories=theories,
                   outcomes=outcomes)


def _by_class(p: int, train: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training sets grouped by class (a + b) mod p, for :func:`_descend_classes`.

    Returns the samples of all sets, each set sorted by class and the sets one after another,
    (Σn, 2) int64; the (len(train) · p + 1,) int64 start of every class (set t owns classes
    t·p .. t·p + p − 1); and the (len(train),) int64 number of parallelograms of each set.
    """
    blocks, sizes = [], []
    for samples in train:
        cls = samples.sum(axis=1) % p
        blocks.append(samples[np.argsort(cls, kind="stable")])
        sizes.append(np.bincount(cls, minlength=p))
    sizes = np.concatenate(sizes)
    starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    n_quads = (sizes * (sizes - 1) // 2).reshape(len(train), p).sum(axis=1).astype(np.int64)
    return np.ascontiguousarray(np.concatenate(blocks), dtype=np.int64), starts, n_quads


# ---------------------------------------------------------------- validation


def _check_p(p) -> int:
    require(isinstance(p, numbers.Integral) and not isinstance(p, bool) and p >= 3, f"p must be an integer >= 3, got {p!r}")
    return int(p)


def _check_theta(theta) -> np.ndarray:
    theta = np.asarray(theta, dtype=np.float64)
    require(theta.ndim >= 1 and theta.shape[-1] >= 3, f"phases must have shape (..., p) with p >= 3, got {theta.shape}")
    require(bool(np.all(np.isfinite(theta))), "phases have non-finite entries")
    return theta


def _check_quads(quads, p: int | None, allow_empty: bool = False) -> np.ndarray:
    quads = np.ascontiguousarray(quads, dtype=np.int64)
    require(quads.ndim == 2 and quads.shape[1] == 4, f"quads must have shape (M, 4), got {quads.shape}")
    require(allow_empty or quads.shape[0] >= 1, "quads is empty: no parallelograms")
    if p is not None:
        _check_quads_fit(quads, p)
    return quads


def _check_quads_fit(quads: np.ndarray, p: int) -> None:
    require(quads.size == 0 or (int(quads.min()) >= 0 and int(quads.max()) < p),
            f"quads must hold symbols in 0..{p - 1}")


def _check_samples(samples, p: int) -> np.ndarray:
    samples = np.asarray(samples, dtype=np.int64)
    require(samples.ndim == 2 and samples.shape[1] == 2, f"samples must have shape (n, 2), got {samples.shape}")
    require(samples.size == 0 or (int(samples.min()) >= 0 and int(samples.max()) < p), f"samples must hold symbols in 0..{p - 1}")
    return samples


# ---------------------------------------------------------------- one split, many starts


#: circle RQI at which a flow has formed its ring
RING_RQI_THRESHOLD = 0.95


@dataclass(frozen=True)
class RingSimulation:
    """The circle flow of one modular-addition split from B uniform random phase vectors.

    Attributes:
        theory: ``linear_theory`` of the split (rank, dof = free directions at a ring, the rate
            λ of Ĥ_mod, ideal accuracy).
        trajectory: the gradient-descent run (times (T,), theta (T, B, p), loss (T, B)).
        rqi: (T, B) circle RQI on the full table.
        outcomes: (B,) str, one of :data:`OUTCOMES` for the final state.
        frequency, coherence: (B,) the final ring frequency (signed, |f| <= p/2; 0 for a
            collapsed state) and coherence.
        steps_to_rqi: (B,) first saved step with circle RQI >= 0.95 (inf if never).
        fraction: outcome -> fraction of the B starts.
    """

    theory: object
    trajectory: CircleTrajectory
    rqi: np.ndarray
    outcomes: np.ndarray
    frequency: np.ndarray
    coherence: np.ndarray
    steps_to_rqi: np.ndarray
    fraction: dict


def simulate_ring(split, *, trials: int = 8, seed: int = 0, steps: int = 20_000, n_times: int = 200) -> RingSimulation:
    """Gradient descent on ℓ_circ of ``split`` (a ModularAddition split) from ``trials`` uniform
    random phase vectors (``default_rng([seed, 1])``) at lr = 1/λ_max(Ĥ_mod), saved at log-spaced
    steps up to ``steps``; each final state classified (docs/theory.md §13)."""
    from efftheory.stats import first_at_or_above
    from efftheory.tasks import ModularAddition
    from efftheory.theories.linear.theory import linear_theory, parallelogram_quads

    require(isinstance(split.task, ModularAddition) and not split.task.ordered,
            f"the circle theory runs on unordered modular addition, got {split.task.describe()}")
    theory = linear_theory(split)
    require(theory.n_parallelograms > 0, f"the training set ({split.n_train} samples at p={split.p}) holds no "
                                         "parallelogram, so ℓ_circ is zero; use a larger training set")
    theta0 = np.random.default_rng([int(seed), 1]).uniform(0.0, 2.0 * np.pi, (int(trials), split.p))
    traj = circle_flow(theta0, samples=split.train_pairs, steps=int(steps), n_times=n_times)
    rqi = traj.rqi(parallelogram_quads(split.task))
    outcomes = np.asarray(classify_outcome(traj.theta[-1], traj.loss[-1]), dtype=object).reshape(-1)
    freq, coh = ring_frequency(traj.theta[-1])
    freq = np.where(outcomes == "collapsed", 0, np.atleast_1d(freq))  # the f = 0 ring
    return RingSimulation(
        theory=theory, trajectory=traj, rqi=rqi, outcomes=outcomes, frequency=freq,
        coherence=np.atleast_1d(coh), steps_to_rqi=np.atleast_1d(first_at_or_above(traj.times, rqi, RING_RQI_THRESHOLD)),
        fraction={o: float(np.mean(outcomes == o)) for o in OUTCOMES},
    )
