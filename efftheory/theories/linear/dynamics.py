"""Effective-loss dynamics of embeddings (docs/theory.md §8).

Embeddings ``E`` are (p, d) arrays, or batches (B, p, d) of independent initial conditions.
With the normalised Hessian ``Ĥ`` (p, p) of a training split:

    ℓ_eff(E) = tr(Eᵀ Ĥ E) / Z(E),   Z(E) = tr(Eᵀ E),
    ∇ℓ_eff  = (2 / Z) (Ĥ E − ℓ_eff E).

The gradient flow ``dE/dt = −η ∇ℓ_eff`` counts time ``t`` in optimisation steps at learning
rate ``η``, so effective-theory time and network training steps share a unit: explicit Euler
with ``dt = 1`` is exactly gradient descent at learning rate ``η``. ℓ_eff is scale invariant,
so ``E · ∇ℓ_eff = 0`` and Z is conserved by the flow; with Ĥ = V Λ Vᵀ the flow is solved by

    F(t) = V diag(exp(−2 η λ_k t / Z0)) Vᵀ E0,   E(t) = sqrt(Z0) F(t) / ||F(t)||_F.

:func:`evolve` is the one entry point: ``method="exact"`` uses that closed form
(:class:`ExactFlow`, eigendecomposition cached per Ĥ); ``"euler"``, ``"rk4"`` and their
sphere-projected variants integrate the flow with numba kernels (batch in parallel); ``"adam"``
runs discrete Adam (PyTorch semantics) on ℓ_eff, one optimiser step per unit of time.
"""

from __future__ import annotations

import math
import numbers
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from efftheory.errors import positive_number, require
from efftheory.theories.linear.metrics import DEFAULT_DELTA, predicted_accuracy, rqi

METHODS = ("exact", "rk4", "euler", "rk4-projected", "euler-projected", "adam")
"""Accepted values of ``method``."""

#: An effective loss whose magnitude is below this fraction of its starting value is round-off
#: (ℓ_eff >= 0 exactly): reports print it as 0 and plots floor it there.
LOSS_ROUND_OFF = 1e-12

ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8

# Default integration step, as a fraction of the fastest relaxation time Z0 / (2 η λ_max).
# RK4 is stable up to 2.78 on the negative real axis; at 0.5 its error on the modes that
# matter (the slow ones) is far below what the plots or RQI can see. Euler is first order,
# so it gets a ten times smaller step.
_STEP_FRACTION = {"rk4": 0.5, "rk4-projected": 0.5, "euler": 0.05, "euler-projected": 0.05}

# How many slowest relaxation times the default horizon spans: e^-20 ~ 2e-9 of the slowest
# non-structural mode remains, so a unique split reaches its linear limit.
HORIZON_RELAXATION_TIMES = 20.0
# Adam takes one kernel step per unit of time; its default horizon is capped here.
ADAM_MAX_DEFAULT_STEPS = 20_000
# Adam's steps have a size set by lr, not by the gradient, so the flow's time scale does not
# bound its horizon from below (tiny embeddings relax in a fraction of a step under the flow).
ADAM_MIN_DEFAULT_STEPS = 2_000
# A very stiff spectrum (λ_slow << λ_max) would need many integrator steps; the default
# horizon of the flow methods is capped at this many default RK4 steps.
FLOW_MAX_DEFAULT_STEPS = 20_000
# The most integrator steps (RK4/Euler steps, or Adam updates) one initial condition may take
# in a call of evolve; more is refused with InputError before any work. At p = 59, d = 2 one core
# does about 2e5 RK4 member-steps/s, so 1e8 steps is about 8 minutes per member: beyond that a
# run is a typo (a horizon or dt off by orders of magnitude), not an experiment.
MAX_INTEGRATOR_STEPS = 10**8


# ---------------------------------------------------------------- result


@dataclass(frozen=True)
class Trajectory:
    """Embeddings saved along an effective-theory run.

    Attributes:
        times: (T,) float64, times in optimisation steps at learning rate ``lr``; ``times[0]``
            may be 0, in which case ``E[0]`` is the initial condition.
        E: (T, B, p, d) float64 embeddings; the batch axis is kept even for B = 1.
        loss: (T, B) float64, ℓ_eff at each saved time.
        Z: (T, B) float64, tr(Eᵀ E) at each saved time.
        E0: (B, p, d) float64, the initial embeddings.
        method: one of :data:`METHODS`.
        lr: the learning rate η.
        dt: the largest integration step in units of steps (None for "exact"; 1 for "adam").
    """

    times: np.ndarray
    E: np.ndarray
    loss: np.ndarray
    Z: np.ndarray
    E0: np.ndarray
    method: str
    lr: float
    dt: float | None

    @property
    def batch(self) -> int:
        return int(self.E.shape[1])

    @property
    def Z0(self) -> np.ndarray:
        """(B,) initial Z."""
        return np.einsum("bpd,bpd->b", self.E0, self.E0)

    @property
    def diverged(self) -> np.ndarray:
        """(B,) bool: members whose loss or Z became non-finite (integration stopped there;
        later saved values are NaN)."""
        return ~np.all(np.isfinite(self.loss) & np.isfinite(self.Z), axis=0)

    @property
    def z_drift(self) -> float:
        """max over saved times and the members that did not diverge of |Z(t) / Z0 − 1|
        (NaN when every member diverged)."""
        ok = ~self.diverged
        if not ok.any():
            return float("nan")
        return float(np.max(np.abs(self.Z[:, ok] / self.Z0[None, ok] - 1.0)))

    def rqi(self, delta: float = DEFAULT_DELTA, task=None) -> np.ndarray:
        """(T, B) representation quality index of every saved embedding (docs/theory.md §7);
        ``task`` defaults to addition on p symbols."""
        return np.asarray(rqi(self.E, delta=delta, task=task), dtype=np.float64)

    def predicted_accuracy(self, split, delta: float = DEFAULT_DELTA) -> tuple[np.ndarray, np.ndarray]:
        """((T, B) predicted test accuracy, (T, B) predicted full-table accuracy)."""
        test, full = predicted_accuracy(self.E, split, delta=delta)
        return np.asarray(test, dtype=np.float64), np.asarray(full, dtype=np.float64)


def time_scale(grokking_rate: float | None, Z0, lr: float):
    """Z0 / (2 η λ): the e-folding time, in steps at learning rate η, of the slowest structural
    mode of the flow (docs/theory.md §8). ``Z0`` may be an array (one time per member).

    None when the split leaves the structure free (rate 0) or has no rate (addition at p = 2).
    """
    if grokking_rate is None or grokking_rate <= 0.0:
        return None
    out = np.asarray(Z0, dtype=np.float64) / (2.0 * lr * grokking_rate)
    return float(out) if out.ndim == 0 else out


# ---------------------------------------------------------------- loss and gradient


def effective_loss(H_hat, E) -> float | np.ndarray:
    """ℓ_eff of (p, d) embeddings (a float) or of (..., p, d) embeddings (an array (...))."""
    H, E = _check_H(H_hat), np.asarray(E, dtype=np.float64)
    _check_E_shape(E, H.shape[0], allow_any_batch=True)
    num = np.einsum("...pd,pq,...qd->...", E, H, E)
    Z = np.einsum("...pd,...pd->...", E, E)
    require(bool(np.all(Z > 0)), "embeddings must not be all zero (Z = 0)")
    out = num / Z
    return float(out) if out.ndim == 0 else out


def effective_gradient(H_hat, E) -> np.ndarray:
    """∇ℓ_eff = (2/Z)(Ĥ E − ℓ_eff E) with the shape of E ((..., p, d))."""
    H, E = _check_H(H_hat), np.asarray(E, dtype=np.float64)
    _check_E_shape(E, H.shape[0], allow_any_batch=True)
    HE = np.einsum("pq,...qd->...pd", H, E)
    Z = np.einsum("...pd,...pd->...", E, E)[..., None, None]
    require(bool(np.all(Z > 0)), "embeddings must not be all zero (Z = 0)")
    loss = np.einsum("...pd,...pd->...", E, HE)[..., None, None] / Z
    return 2.0 / Z * (HE - loss * E)


# ---------------------------------------------------------------- exact solution


class ExactFlow:
    """The closed-form gradient flow of ℓ_eff for one Ĥ (eigendecomposition done once).

    Attributes:
        eigenvalues: (p,) ascending eigenvalues of Ĥ.
        eigenvectors: (p, p) orthonormal columns.
    """

    def __init__(self, H_hat):
        H = _check_H(H_hat)
        lam, V = np.linalg.eigh(H)
        self.H_hat = H
        self.eigenvalues = lam
        self.eigenvectors = V

    def __call__(self, E0, times, lr: float) -> Trajectory:
        """Trajectory of ``E0`` ((p, d) or (B, p, d)) at ``times`` (T,) for learning rate ``lr``."""
        E0 = _as_batch(E0, self.H_hat.shape[0])
        times = _check_times(times)
        lr = positive_number(lr, "lr")
        return self._solve(E0, times, lr)

    def _solve(self, E0: np.ndarray, times: np.ndarray, lr: float) -> Trajectory:
        lam, V = self.eigenvalues, self.eigenvectors
        Z0 = np.einsum("bpd,bpd->b", E0, E0)  # (B,)
        C = np.einsum("pk,bpd->bkd", V, E0)  # coefficients in the eigenbasis
        weight = np.einsum("bkd,bkd->bk", C, C)  # |C_k|^2 per member
        # Shift each member's rates by its slowest populated eigenvalue: the common factor
        # drops out of the normalisation and nothing underflows to 0/0 at late times.
        populated = weight > 1e-300
        lam_ref = np.where(populated, lam[None, :], np.inf).min(axis=1)  # (B,)
        rate = 2.0 * lr * np.maximum(lam[None, :] - lam_ref[:, None], 0.0) / Z0[:, None]
        decay = np.exp(-rate[None, :, :] * times[:, None, None])  # (T, B, p)
        norm2 = np.einsum("tbk,bk->tb", decay**2, weight)
        coeff = decay[..., None] * C[None] * np.sqrt(Z0 / norm2)[..., None, None]
        E = np.einsum("pk,tbkd->tbpd", V, coeff)
        E[times == 0] = E0  # exactly, not via a round trip through the eigenbasis
        loss = np.einsum("tbk,bk,k->tb", decay**2, weight, lam) / norm2
        Z = np.einsum("tbpd,tbpd->tb", E, E)
        return Trajectory(times, E, loss, Z, E0.copy(), "exact", lr, None)

    def relaxation_times(self, Z0: float, lr: float) -> np.ndarray:
        """(p,) Z0 / (2 η λ_k) (inf for λ_k <= 0): e-folding time of each mode, in steps."""
        lam = self.eigenvalues
        with np.errstate(divide="ignore"):
            return np.where(lam > 0, Z0 / (2.0 * lr * np.where(lam > 0, lam, 1.0)), np.inf)


_FLOW_CACHE: OrderedDict = OrderedDict()
_FLOW_CACHE_SIZE = 8


def exact_flow(H_hat) -> ExactFlow:
    """A cached :class:`ExactFlow` for ``H_hat`` (one eigendecomposition per distinct Ĥ)."""
    H = _check_H(H_hat)
    key = (H.shape, H.tobytes())
    flow = _FLOW_CACHE.get(key)
    if flow is None:
        flow = ExactFlow(H)
        _FLOW_CACHE[key] = flow
        if len(_FLOW_CACHE) > _FLOW_CACHE_SIZE:
            _FLOW_CACHE.popitem(last=False)
    else:
        _FLOW_CACHE.move_to_end(key)
    return flow


# ---------------------------------------------------------------- numba kernels


# The kernels hold each member transposed, Et = Eᵀ of shape (d, p): then (Ĥ E)_ik is a dot
# product of two contiguous rows, which LLVM vectorises once reassociation is allowed
# (about 3x faster than the (p, d) layout at p = 59, d = 2).


@njit(cache=True, fastmath={"reassoc", "contract"})
def _loss_grad(H, Et, Gt):
    """Write (∇ℓ_eff)ᵀ of Et = Eᵀ (d, p) into Gt (d, p); return (ℓ_eff, Z)."""
    d, p = Et.shape
    num = 0.0
    Z = 0.0
    for k in range(d):
        for i in range(p):
            s = 0.0
            for j in range(p):
                s += H[i, j] * Et[k, j]
            Gt[k, i] = s
            num += Et[k, i] * s
            Z += Et[k, i] * Et[k, i]
    loss = num / Z
    scale = 2.0 / Z
    for k in range(d):
        for i in range(p):
            Gt[k, i] = scale * (Gt[k, i] - loss * Et[k, i])
    return loss, Z


@njit(cache=True)
def _rescale(E, target_Z):
    """Scale E in place so that tr(EᵀE) = target_Z (the sphere projection)."""
    Z = 0.0
    for v in E.ravel():
        Z += v * v
    E *= math.sqrt(target_Z / Z)


@njit(cache=True)
def _axpy(out, x, a, y):
    """out = x + a y elementwise on 2-D arrays, without temporaries."""
    n, m = x.shape
    for i in range(n):
        for k in range(m):
            out[i, k] = x[i, k] + a * y[i, k]


@njit(cache=True)
def _euler_step(H, E, h, G):
    _loss_grad(H, E, G)
    _axpy(E, E, -h, G)


@njit(cache=True)
def _rk4_step(H, E, h, k1, k2, k3, k4, tmp):
    # dE/dt = -lr ∇ℓ; the caller folds lr into h, so each k is ∇ℓ and the update subtracts.
    _loss_grad(H, E, k1)
    _axpy(tmp, E, -0.5 * h, k1)
    _loss_grad(H, tmp, k2)
    _axpy(tmp, E, -0.5 * h, k2)
    _loss_grad(H, tmp, k3)
    _axpy(tmp, E, -h, k3)
    _loss_grad(H, tmp, k4)
    n, m = E.shape
    c = h / 6.0
    for i in range(n):
        for k in range(m):
            E[i, k] -= c * (k1[i, k] + 2.0 * k2[i, k] + 2.0 * k3[i, k] + k4[i, k])


@njit(cache=True)
def substeps(span, dt_max):
    """The fewest equal steps no longer than ``dt_max`` that cover ``span`` > 0 exactly, so that
    saved times are hit exactly. 1e-12 slack: span/dt_max = 100.00000000000001 is 100 steps."""
    return max(1, int(math.ceil(span / dt_max * (1.0 - 1e-12))))


@njit(cache=True)
def _mark_dead(E_out, loss_out, Z_out, it, b):
    """Saved time ``it`` of member ``b`` after it diverged: NaN everywhere."""
    E_out[it, b] = np.nan
    loss_out[it, b] = np.nan
    Z_out[it, b] = np.nan


@njit(cache=True, parallel=True)
def _integrate(H, E_start, Z0, t_start, times, dt_max, lr, rk4, project, E_out, loss_out, Z_out):
    """Integrate dE/dt = -lr ∇ℓ_eff from E_start (B, p, d) at time t_start, saving at ``times``.

    Each interval between saved times is cut into the fewest equal steps no longer than
    ``dt_max``, so saved times are hit exactly. Z0 (B,) is the sphere the projected variants
    return to. Writes E_out (T, B, p, d), loss_out and Z_out (T, B).
    """
    B, p, d = E_start.shape
    T = times.shape[0]
    for b in prange(B):
        E = E_start[b].T.copy()  # (d, p); a copy, never a view of the caller's E_start (d = 1)
        k1 = np.empty((d, p))
        k2 = np.empty((d, p))
        k3 = np.empty((d, p))
        k4 = np.empty((d, p))
        tmp = np.empty((d, p))
        t_prev = t_start
        alive = True
        for it in range(T):
            if not alive:  # diverged earlier: the rest of this member's trajectory is NaN
                _mark_dead(E_out, loss_out, Z_out, it, b)
                continue
            span = times[it] - t_prev
            if span > 0.0:
                n = substeps(span, dt_max)
                h = lr * span / n
                for _ in range(n):
                    if rk4:
                        _rk4_step(H, E, h, k1, k2, k3, k4, tmp)
                    else:
                        _euler_step(H, E, h, k1)
                    if project:
                        _rescale(E, Z0[b])
            t_prev = times[it]
            E_out[it, b] = E.T
            loss, Z = _loss_grad(H, E, k1)
            loss_out[it, b] = loss
            Z_out[it, b] = Z
            alive = math.isfinite(loss) and math.isfinite(Z)


@njit(cache=True, parallel=True)
def _adam(H, E_start, m_all, v_all, done_start, steps, lr, beta1, beta2, eps, E_out, loss_out, Z_out):
    """Discrete Adam (PyTorch semantics, no weight decay) on ℓ_eff for every member of E_start.

    E_start (B, p, d) are the embeddings after ``done_start`` steps, with moment estimates
    m_all, v_all (B, p, d), which are updated in place. ``steps`` (T,) are non-decreasing
    integers >= done_start: E_out[i] holds the embeddings after ``steps[i]`` steps.
    """
    B, p, d = E_start.shape
    T = steps.shape[0]
    for b in prange(B):
        E = E_start[b].T.copy()  # (d, p), like m, v, G; copies, never views of the inputs
        m = m_all[b].T.copy()
        v = v_all[b].T.copy()
        G = np.empty((d, p))
        done = done_start
        alive = True
        for it in range(T):
            if not alive:  # diverged earlier: the rest of this member's trajectory is NaN
                _mark_dead(E_out, loss_out, Z_out, it, b)
                continue
            while done < steps[it]:
                done += 1
                _loss_grad(H, E, G)
                bc1 = 1.0 - beta1**done
                bc2 = 1.0 - beta2**done
                for k in range(d):
                    for i in range(p):
                        g = G[k, i]
                        m[k, i] = beta1 * m[k, i] + (1.0 - beta1) * g
                        v[k, i] = beta2 * v[k, i] + (1.0 - beta2) * g * g
                        denom = math.sqrt(v[k, i]) / math.sqrt(bc2) + eps
                        E[k, i] -= lr / bc1 * m[k, i] / denom
            E_out[it, b] = E.T
            loss, Z = _loss_grad(H, E, G)
            loss_out[it, b] = loss
            Z_out[it, b] = Z
            alive = math.isfinite(loss) and math.isfinite(Z)
        m_all[b] = m.T
        v_all[b] = v.T


# ---------------------------------------------------------------- step size and horizon


def default_step(H_hat, E0, lr: float, method: str = "rk4") -> float | None:
    """Largest integration step (in steps) for ``method``, from the spectrum of Ĥ.

    A fixed fraction (0.5 for RK4, 0.05 for Euler) of the fastest relaxation time
    Z0_min / (2 η λ_max), Z0_min being the smallest initial Z in the batch. None for "exact";
    1 for "adam" (one optimiser step per unit of time); inf when Ĥ = 0 (nothing moves).
    """
    method = _check_method(method)
    if method == "exact":
        return None
    if method == "adam":
        return 1.0
    flow = exact_flow(H_hat)
    E0 = _as_batch(E0, flow.H_hat.shape[0])
    lr = positive_number(lr, "lr")
    lam_max = float(flow.eigenvalues[-1])
    if lam_max <= 0.0:
        return math.inf
    Z0_min = float(np.einsum("bpd,bpd->b", E0, E0).min())
    return _STEP_FRACTION[method] * Z0_min / (2.0 * lr * lam_max)


def default_horizon(H_hat, E0, lr: float, method: str = "rk4") -> float:
    """Default final time (steps): 20 slowest relaxation times Z0_max / (2 η λ_slow).

    λ_slow is λ3 for a unique split, otherwise the smallest eigenvalue above the rank
    tolerance (beyond that the flow has converged, to a non-linear limit); 1000 steps when
    Ĥ = 0. The flow methods (and "exact", so that all of them share a horizon) are capped at
    :data:`FLOW_MAX_DEFAULT_STEPS` default RK4 steps, which only binds when
    λ_max / λ_slow > 500; "adam" is clipped to [:data:`ADAM_MIN_DEFAULT_STEPS`,
    :data:`ADAM_MAX_DEFAULT_STEPS`] steps and rounded up to an integer.
    """
    method = _check_method(method)
    flow = exact_flow(H_hat)
    E0 = _as_batch(E0, flow.H_hat.shape[0])
    lr = positive_number(lr, "lr")
    lam = flow.eigenvalues
    positive = lam[lam > 1e-9 * max(1.0, float(lam[-1]))]
    if positive.size == 0:
        t_max = 1000.0
    else:
        Z0 = np.einsum("bpd,bpd->b", E0, E0)
        t_max = HORIZON_RELAXATION_TIMES * float(Z0.max()) / (2.0 * lr * float(positive[0]))
        rk4_step = _STEP_FRACTION["rk4"] * float(Z0.min()) / (2.0 * lr * float(lam[-1]))
        t_max = min(t_max, FLOW_MAX_DEFAULT_STEPS * rk4_step)
    if method == "adam":
        t_max = float(math.ceil(min(max(t_max, ADAM_MIN_DEFAULT_STEPS), ADAM_MAX_DEFAULT_STEPS)))
    # the saved times and the scans below them reach 1e-13 of the horizon: keep them normal floats
    require(t_max >= 1e-290, f"lr = {lr!r} is too large: the default horizon, {t_max:.3g} steps, is too short "
                             "to resolve in float64; use a smaller lr")
    return t_max


def log_times(t_max: float, n: int = 200, integer: bool = False) -> np.ndarray:
    """0 followed by log-spaced times up to ``t_max`` (at most ``n`` points in all).

    The first positive time is 1 step, or t_max / 10^4 when t_max < 10^4 steps (a short
    horizon, e.g. tiny initial embeddings, still gets four decades). With ``integer=True``
    the times are rounded to whole steps and repeats dropped (Adam).
    """
    t_max = positive_number(t_max, "t_max")
    require(isinstance(n, numbers.Integral) and n >= 2, f"n must be an integer >= 2, got {n!r}")
    t_min = 1.0 if integer else min(1.0, t_max / 1e4)
    t_min = min(t_min, t_max)
    times = np.concatenate([[0.0], np.geomspace(t_min, t_max, int(n) - 1)])
    if integer:
        times = np.unique(np.round(times))
    else:
        times[-1] = t_max  # geomspace may miss the end by one ulp
        times = np.unique(times)
    return times


# ---------------------------------------------------------------- public entry point


def evolve(H_hat, E0, times=None, *, lr: float = 1e-3, method: str = "rk4", dt=None, t_max=None,
           n_times: int = 200, progress=None) -> Trajectory:
    """Evolve embeddings under the effective loss of ``H_hat`` and return the :class:`Trajectory`.

    Args:
        H_hat: (p, p) symmetric normalised Hessian Ĥ.
        E0: (p, d) or (B, p, d) initial embeddings (B independent runs), none all zero.
        times: (T,) non-decreasing times >= 0 (in steps at learning rate ``lr``) at which to
            save. Default: 0 and ``n_times - 1`` log-spaced times from 1 to ``t_max``. For
            "adam" the times must be whole numbers of steps.
        lr: learning rate η > 0.
        method: one of :data:`METHODS` ("rk4" by default).
        dt: largest integration step in steps (flow integrators only). Default:
            :func:`default_step`. Euler with ``dt=1`` is gradient descent at learning rate η.
        t_max: final time when ``times`` is not given. Default: :func:`default_horizon`.
        n_times: number of default times.
        progress: optional callable ``progress(k)``, told as each k more saved times are done
            (the run is then cut into about 20 kernel calls; the results are identical).

    Raises InputError, before any integration, for a bad argument: among them a non-symmetric
    or not positive semi-definite Ĥ, initial embeddings whose Z0 overflows or underflows, and a
    run that would take more than :data:`MAX_INTEGRATOR_STEPS` integrator steps per member.
    """
    method = _check_method(method)
    H = _check_H(H_hat)
    E0 = _as_batch(E0, H.shape[0])
    lr = positive_number(lr, "lr")
    _check_psd(H)
    if times is None:
        t_max = _default_t_max(H, E0, lr, method) if t_max is None else positive_number(t_max, "t_max")
        times = log_times(t_max, n_times, integer=(method == "adam"))
    else:
        require(t_max is None, "give either times or t_max, not both")
        times = _check_times(times)
    if method == "exact":
        require(dt is None, "dt has no meaning for method 'exact'")
        traj = exact_flow(H)._solve(E0, times, lr)
        if progress is not None:
            progress(times.size)
        return traj
    if method == "adam":
        require(dt is None or float(dt) == 1.0, f"adam takes one step per unit of time; dt must be 1, got {dt!r}")
        steps = np.round(times)
        require(bool(np.all(np.abs(steps - times) < 1e-9)), "adam needs whole-number times (steps)")
        _check_work(float(steps[-1]), f"adam up to step {steps[-1]:.4g} takes", "updates", "ask for fewer steps")
        return _run_adam(H, E0, steps.astype(np.int64), lr, progress)
    dt = default_step(H, E0, lr, method) if dt is None else positive_number(dt, "dt")
    _check_work(_integrator_steps(times, dt), f"{method} up to time {times[-1]:.4g} at dt = {dt:.4g} takes",
                "integrator steps", "ask for a shorter time or a larger dt")
    return _run_flow(H, E0, times, lr, method, dt, progress)


def _chunks(T: int, progress) -> list[tuple[int, int]]:
    """Saved-time index ranges to integrate in one kernel call each (about 20 with progress)."""
    if progress is None or T <= 1:
        return [(0, T)]
    size = max(1, -(-T // 20))
    return [(i, min(i + size, T)) for i in range(0, T, size)]


def _run_flow(H, E0, times, lr, method, dt, progress=None) -> Trajectory:
    T, (B, p, d) = times.size, E0.shape
    E_out = np.empty((T, B, p, d))
    loss, Z = np.empty((T, B)), np.empty((T, B))
    Z0 = np.einsum("bpd,bpd->b", E0, E0)
    # inf step (Ĥ = 0): one step per interval; numba wants a finite float
    dt_kernel = dt if math.isfinite(dt) else max(float(times[-1]), 1.0)
    rk4, project = method.startswith("rk4"), method.endswith("projected")
    E, t = E0, 0.0
    # The flow is Markov in E, so integrating chunk by chunk gives the same steps bit for bit.
    for i0, i1 in _chunks(T, progress):
        _integrate(H, E, Z0, t, times[i0:i1], dt_kernel, lr, rk4, project, E_out[i0:i1], loss[i0:i1], Z[i0:i1])
        E, t = np.ascontiguousarray(E_out[i1 - 1]), float(times[i1 - 1])
        if progress is not None:
            progress(i1 - i0)
    return Trajectory(times, E_out, loss, Z, E0.copy(), method, lr, float(dt))


def _run_adam(H, E0, steps, lr, progress=None) -> Trajectory:
    T, (B, p, d) = steps.size, E0.shape
    E_out = np.empty((T, B, p, d))
    loss, Z = np.empty((T, B)), np.empty((T, B))
    m, v = np.zeros_like(E0), np.zeros_like(E0)  # Adam's moments carry over between chunks
    E, done = E0, 0
    for i0, i1 in _chunks(T, progress):
        _adam(H, E, m, v, done, steps[i0:i1], lr, ADAM_BETAS[0], ADAM_BETAS[1], ADAM_EPS,
              E_out[i0:i1], loss[i0:i1], Z[i0:i1])
        E, done = np.ascontiguousarray(E_out[i1 - 1]), int(steps[i1 - 1])
        if progress is not None:
            progress(i1 - i0)
    return Trajectory(steps.astype(np.float64), E_out, loss, Z, E0.copy(), "adam", lr, 1.0)


# ---------------------------------------------------------------- validation


def _check_method(method) -> str:
    require(method in METHODS, f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    return method


def _check_H(H_hat) -> np.ndarray:
    H = np.ascontiguousarray(H_hat, dtype=np.float64)
    require(H.ndim == 2 and H.shape[0] == H.shape[1] and H.shape[0] >= 2,
            f"H_hat must be a square (p, p) matrix with p >= 2, got shape {H.shape}")
    require(bool(np.all(np.isfinite(H))), "H_hat has non-finite entries")
    scale = max(1.0, float(np.abs(H).max()))
    asymmetry = float(np.abs(H - H.T).max())
    require(asymmetry <= 1e-12 * scale, f"H_hat must be symmetric, but max |H - Hᵀ| = {asymmetry:.3g}")
    return H


def _check_psd(H: np.ndarray) -> None:
    """Ĥ is a Hessian of summed squared residuals: refuse a negative eigenvalue (beyond rounding)."""
    lam = exact_flow(H).eigenvalues
    tol = 1e-10 * max(1.0, float(np.abs(lam).max()))
    require(lam[0] >= -tol, f"H_hat must be positive semi-definite, but its smallest eigenvalue is {lam[0]:.6g}")


def _default_t_max(H: np.ndarray, E0: np.ndarray, lr: float, method: str) -> float:
    """:func:`default_horizon`, refused when it overflows (a huge Z0 with a tiny lr)."""
    t_max = default_horizon(H, E0, lr, method)
    require(math.isfinite(t_max), f"the default horizon overflows (Z0 up to {np.einsum('bpd,bpd->b', E0, E0).max():.3g}, "
            f"lr = {lr!r}); give t_max or times")
    return t_max


def _integrator_steps(times: np.ndarray, dt: float) -> float:
    """Steps per member that _run_flow takes to reach every saved time (as _integrate counts them)."""
    spans = np.diff(times, prepend=0.0)
    spans = spans[spans > 0]
    if not math.isfinite(dt):
        return float(spans.size)
    with np.errstate(over="ignore"):
        return float(np.maximum(1.0, np.ceil(spans / dt * (1.0 - 1e-12))).sum())


def _check_work(steps: float, what: str, unit: str, hint: str) -> None:
    """Refuse a run of more than MAX_INTEGRATOR_STEPS ``unit`` per member: "<what> N <unit> ..."."""
    require(steps <= MAX_INTEGRATOR_STEPS,
            f"{what} {steps:.3g} {unit} per initial condition, above the cap "
            f"MAX_INTEGRATOR_STEPS = {MAX_INTEGRATOR_STEPS:.0e}; {hint}")


def _check_E_shape(E: np.ndarray, p: int, allow_any_batch: bool = False) -> None:
    ok = E.ndim >= 2 if allow_any_batch else E.ndim in (2, 3)
    require(ok and E.shape[-2] == p and E.shape[-1] >= 1,
            f"embeddings must have shape (p, d) or (B, p, d) with p = {p}, got {E.shape}")
    require(bool(np.all(np.isfinite(E))), "embeddings have non-finite entries")


def _as_batch(E0, p: int) -> np.ndarray:
    """(p, d) or (B, p, d) -> contiguous float64 (B, p, d) with every Z0 > 0."""
    E0 = np.asarray(E0, dtype=np.float64)
    _check_E_shape(E0, p)
    E0 = np.ascontiguousarray(E0[None] if E0.ndim == 2 else E0)
    require(E0.shape[0] >= 1, "the batch of initial embeddings is empty")
    require(bool(np.all(np.any(E0 != 0, axis=(1, 2)))), "initial embeddings must not be all zero (Z0 = 0)")
    with np.errstate(over="ignore", under="ignore"):
        Z0 = np.einsum("bpd,bpd->b", E0, E0)
    largest = float(np.abs(E0).max())
    require(bool(np.all(np.isfinite(Z0))),
            f"initial embeddings are too large: Z0 = tr(E0ᵀ E0) overflows float64 (largest |entry| {largest:.3g})")
    require(bool(np.all(Z0 >= np.finfo(np.float64).tiny)),
            f"initial embeddings are too small: Z0 = tr(E0ᵀ E0) = {Z0.min():.3g} underflows float64 "
            f"(largest |entry| {largest:.3g})")
    return E0


def _check_times(times) -> np.ndarray:
    times = np.ascontiguousarray(times, dtype=np.float64)
    require(times.ndim == 1 and times.size >= 1, f"times must be a non-empty 1-D array, got shape {times.shape}")
    require(bool(np.all(np.isfinite(times))) and bool(np.all(times >= 0)), "times must be finite and >= 0")
    require(bool(np.all(np.diff(times) >= 0)), "times must be non-decreasing")
    return times
