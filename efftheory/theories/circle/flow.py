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

from efftheory.errors import positive_number, require
from efftheory.theories.circle.ring import (
    check_p,
    check_quads,
    check_samples,
    check_theta,
    circle_rqi,
    classify_outcome,
    ring_frequency,
)
from efftheory.theories.circle.theory import constraint_matrix, modular_hessian, modular_hessian_from_classes, theory_of
from efftheory.theories.linear.dynamics import log_times, substeps

METHODS = ("gd", "rk4")
"""Accepted values of ``method`` in :func:`circle_flow`."""


#: ring_probability stops a member once max_a |∂ℓ/∂θ_a| falls below this.
DEFAULT_GTOL = 1e-10

#: Default RK4 step as a fraction of 1 / (η λ_max(Ĥ_mod)): λ_max(Ĥ_mod) bounds the curvature of
#: ℓ_circ everywhere (−Ĥ_mod ≤ (1/M) Σ cos φ_q a_q a_qᵀ ≤ Ĥ_mod), RK4 is stable to 2.78 on the
#: negative real axis, and 0.5 keeps its error far below what the loss or RQI can see.
_RK4_STEP_FRACTION = 0.5


# ---------------------------------------------------------------- loss and gradient (numpy)


def _residuals(theta: np.ndarray, quads: np.ndarray) -> np.ndarray:
    """φ_q for every quad: (..., M)."""
    return theta[..., quads[:, 0]] + theta[..., quads[:, 1]] - theta[..., quads[:, 2]] - theta[..., quads[:, 3]]


def circle_loss(theta, quads) -> float | np.ndarray:
    """ℓ_circ = mean_q (1 − cos φ_q) of phases ``theta`` (..., p): a float or an array (...).

    Computed as mean 2 sin²(φ_q / 2), which keeps full relative precision near a ring.
    """
    theta = check_theta(theta)
    quads = check_quads(quads, theta.shape[-1])
    out = np.mean(2.0 * np.sin(0.5 * _residuals(theta, quads)) ** 2, axis=-1)
    return float(out) if out.ndim == 0 else out


def circle_gradient(theta, quads) -> np.ndarray:
    """∇ℓ_circ = (1/M) Σ_q sin(φ_q) a_q, with the shape of ``theta`` (..., p)."""
    theta = check_theta(theta)
    quads = check_quads(quads, theta.shape[-1])
    return np.sin(_residuals(theta, quads)) @ constraint_matrix(quads, theta.shape[-1]) / quads.shape[0]


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
    quads = check_quads(quads, check_p(p))
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
    theta0 = np.ascontiguousarray(np.atleast_2d(check_theta(theta0)))
    require(theta0.ndim == 2 and theta0.shape[0] >= 1, f"theta0 must have shape (p,) or (B, p), got {theta0.shape}")
    p = theta0.shape[1]
    require((quads is None) != (samples is None), "give exactly one of quads and samples")
    if samples is None:
        quads = check_quads(quads, p)
        H, M = modular_hessian(p, quads), quads.shape[0]
        pairs, class_starts, n_quads = np.zeros((0, 2), np.int64), np.zeros(1, np.int64), M
    else:
        samples = check_samples(samples, p)
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


# ---------------------------------------------------------------- coming to rest


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
    theta = np.array(np.atleast_2d(check_theta(theta0)), dtype=np.float64)
    require(theta.ndim == 2, f"theta0 must have shape (p,) or (B, p), got {np.shape(theta0)}")
    B, p = theta.shape
    require(isinstance(max_steps, numbers.Integral) and max_steps >= 1, f"max_steps must be a positive integer, got {max_steps!r}")
    gtol = positive_number(gtol, "gtol")
    if isinstance(train, (list, tuple)):
        require(len(train) == B, f"train must hold one training set per start ({B}), got {len(train)}")
        train = [check_samples(d, p) for d in train]
    else:
        train = [check_samples(train, p)] * B
    pairs, class_starts, n_quads = _by_class(p, train)
    theories = [theory_of(p, modular_hessian_from_classes(p, d), int(m)) for d, m in zip(train, n_quads)]
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


