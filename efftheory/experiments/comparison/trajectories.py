"""A network's embedding trajectory against the effective theory's from the same initial
embeddings (Fig 4c/d): the theory's run (:func:`effective_counterpart`) and the rms mismatch
after the best time rescaling (:func:`match_rms`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from efftheory.stats import first_at_or_above
from efftheory.theories.linear.metrics import DEFAULT_DELTA, RQI_THRESHOLD, normalize
from efftheory.theories.linear.metrics import rqi as rqi_of

#: Time scales tried for the best rescaling: 0.01 ... 100, 81 points log-spaced.
SCALES = np.geomspace(0.01, 100.0, 81)


#: Network steps compared per run (log-spaced).
LOG_POINTS = 200


#: Saved theory times per run (the theory is integrated to max(SCALES) x the last step).
THEORY_POINTS = 3000


@dataclass(frozen=True)
class Counterpart:
    """The effective theory run from a network's initial embeddings, and its match.

    Attributes:
        method: "rk4" (the gradient flow, in closed form) or "adam" (discrete Adam on ℓ_eff).
        times: (S,) float64 theory times in steps at the network's embedding lr.
        embeddings: (S, p, d) normalised theory embeddings.
        rqi: (S,) RQI along the theory trajectory.
        steps_to_rqi: first saved theory time with RQI >= 0.95 (None if never).
        scale: the best time scale s on the grid (theory time = s x network step), even
            when it lies at the grid's edge.
        rms: mismatch at the best scale, mirror allowed; rms_unscaled: at s = 1, no mirror.
        mirrored: whether, at the last step, the best fit mirrors some dimension of the theory.
        fit_at_bound: "lower" or "upper" when the best s is the grid's first or last value
            (no fit, module docstring), else None.
    """

    method: str
    times: np.ndarray = field(repr=False)
    embeddings: np.ndarray = field(repr=False)
    rqi: np.ndarray = field(repr=False)
    steps_to_rqi: float | None
    scale: float
    rms: float
    rms_unscaled: float
    mirrored: bool
    fit_at_bound: str | None = None

    @property
    def fitted_scale(self) -> float | None:
        """The best time scale s, or None when it sits at the grid's edge (no fit)."""
        return None if self.fit_at_bound else self.scale


def _interp(times: np.ndarray, E: np.ndarray, at: np.ndarray) -> np.ndarray:
    """E (S, p, d) saved at increasing ``times`` (S,), linearly interpolated at ``at`` (T,)."""
    at = np.clip(at, times[0], times[-1])
    i0 = np.clip(np.searchsorted(times, at, side="right") - 1, 0, times.size - 2)
    w = ((at - times[i0]) / (times[i0 + 1] - times[i0]))[:, None, None]
    return (1.0 - w) * E[i0] + w * E[i0 + 1]


def _sq_err(net, th, mirror: bool) -> tuple[float, np.ndarray]:
    """Mean squared difference of (T, p, d) trajectories and, per step and dimension, whether
    the mirrored theory fits better (always False without ``mirror``)."""
    plus = np.nansum((net - th) ** 2, axis=1)  # (T, d)
    if not mirror:
        return float(plus.sum() / net.size), np.zeros(plus.shape, bool)
    minus = np.nansum((net + th) ** 2, axis=1)
    return float(np.minimum(plus, minus).sum() / net.size), minus < plus


def match_rms(net_steps, net_embeddings, times, theory_embeddings, scales=SCALES):
    """(best scale, rms there, mirrored (T', d) bool per compared step, rms at scale 1 without
    mirroring).

    Module docstring for the definition.
    """
    net_steps = np.asarray(net_steps, dtype=np.float64)
    if net_steps[-1] >= 1:  # ~200 log-spaced evaluated steps (module docstring)
        want = np.geomspace(1.0, net_steps[-1], LOG_POINTS)
        pick = np.unique(np.minimum(np.searchsorted(net_steps, want), net_steps.size - 1))
        net_steps, net_embeddings = net_steps[pick], net_embeddings[pick]
    best = (1.0, math.inf, None)
    for s in scales:
        err, flips = _sq_err(net_embeddings, _interp(times, theory_embeddings, s * net_steps), True)
        if err < best[1]:
            best = (float(s), err, flips)
    plain, _ = _sq_err(net_embeddings, _interp(times, theory_embeddings, net_steps), False)
    return best[0], math.sqrt(best[1]), best[2], math.sqrt(plain)


def bound_of(scale: float, scales=SCALES) -> str | None:
    """"lower" / "upper" when ``scale`` is the first / last of a grid of several ``scales``,
    else None (an interior fit; a one-point grid has no edge to stick to)."""
    scales = np.asarray(scales, dtype=np.float64)
    if scales.size < 2:
        return None
    if np.isclose(scale, scales.min(), rtol=1e-12):
        return "lower"
    if np.isclose(scale, scales.max(), rtol=1e-12):
        return "upper"
    return None


def effective_counterpart(result, H_hat: np.ndarray, method: str = "rk4", delta: float = DEFAULT_DELTA,
                          scales=SCALES) -> Counterpart:
    """Run the effective theory from ``result.E0`` and match it to the network's trajectory.

    The theory uses the network's embedding learning rate and is saved at about
    ``THEORY_POINTS`` log-spaced whole-number times (and 0) up to ``max(scales)`` x the
    network's last step. ``method="rk4"`` means the gradient flow of ℓ_eff, evaluated in closed
    form (the solution RK4 approximates; tests hold RK4 to it within 1e-4): its cost does not
    grow with the learning rate, where an integrator's step count does.
    """
    from efftheory.theories.linear.dynamics import evolve

    t_last = float(result.steps[-1])
    t_max = max(1, int(math.ceil(max(scales) * t_last)))
    times = np.unique(np.r_[0.0, np.round(np.geomspace(1.0, t_max, THEORY_POINTS))])
    traj = evolve(H_hat, result.E0, times, lr=result.config.embed_lr, method="exact" if method == "rk4" else method)
    En = normalize(traj.E[:, 0])
    r = np.asarray(rqi_of(En, delta, task=result.split.task), dtype=np.float64)
    scale, rms, flips, unscaled = match_rms(result.steps, result.embeddings, times, En, scales)
    first = first_at_or_above(times, r, RQI_THRESHOLD)
    first = None if math.isinf(first) else first
    return Counterpart(method, times, En, r, first, scale, rms, unscaled, bool(np.any(flips[-1])),
                       bound_of(scale, scales))
