"""The effective theory against the small real networks (paper Figs 3 and 4).

Per run: the theory's time scale for the split, and the effective-theory trajectory started
from the network's own initial embeddings, matched to the network after the best single
rescaling of time. Over a grid of runs: the four comparisons of ``efftheory compare``
(:func:`summarise`), each reduced to numbers.

Time-rescaling match. Let Ê_net(t) be the network's normalised embeddings at its evaluated
steps t and Ê_th(τ) the normalised effective-theory embeddings at theory time τ (steps at the
network's embedding learning rate). For a scale s the mismatch is
``rms(s) = sqrt(mean over t, symbols, dims of (Ê_net(t) - Ê_th(s t))^2)`` with t running over
about 200 log-spaced evaluated steps from 1 to the last, so that every decade of training time
weighs the same (uniform steps would let the long converged tail decide, and any theory that
converges fast would match a converged network); Ê_th between saved times is linearly
interpolated; s runs over a log grid and the best s is reported with its rms.

A best s at either end of the grid is no fit, and is reported as such (``fit_at_bound``,
``fitted_scale`` None): at the lower end the network stays closer to the theory's starting
point E0 than to any later point of its path (s -> 0 freezes the theory at E0); at the upper
end even the fastest theory on the grid lags the network, which is closest to the latest
theory state computed (s -> infinity is the converged theory). The lower limit is no time
rescaling at all; the upper one might be reached at a larger s, but the grid is not widened
to chase it: the theory would have to be run in proportion to s (Adam on ℓ_eff is stepped one
step at a time), and a fit that needs a theory over 100 times faster than the network is not
the match the theory claims.
At each compared step, each embedding dimension of the theory may be mirrored (Ê -> -Ê),
whichever fits better: the distance is between representations modulo the mirror symmetry of
ℓ_eff (RQI and Âcc are mirror invariant too). The theory does not model the decoder, which is
what picks the network's orientation: a network and its effective theory from the same E0 often
settle on mirror images of the same linear structure (``mirrored`` says whether the final step
fits better mirrored). The unscaled rms without any mirroring is reported too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from efftheory.dynamics import time_scale
from efftheory.metrics import DEFAULT_DELTA, RQI_THRESHOLD, normalize
from efftheory.metrics import rqi as rqi_of
from efftheory.stats import first_at_or_above

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
        method: "rk4" (gradient flow) or "adam" (discrete Adam on ℓ_eff).
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
    network's last step.
    """
    from efftheory.dynamics import evolve

    t_last = float(result.steps[-1])
    t_max = max(1, int(math.ceil(max(scales) * t_last)))
    times = np.unique(np.r_[0.0, np.round(np.geomspace(1.0, t_max, THEORY_POINTS))])
    traj = evolve(H_hat, result.E0, times, lr=result.config.embed_lr, method=method)
    En = normalize(traj.E[:, 0])
    r = np.asarray(rqi_of(En, delta, task=result.split.task), dtype=np.float64)
    scale, rms, flips, unscaled = match_rms(result.steps, result.embeddings, times, En, scales)
    first = first_at_or_above(times, r, RQI_THRESHOLD)
    first = None if math.isinf(first) else first
    return Counterpart(method, times, En, r, first, scale, rms, unscaled, bool(np.any(flips[-1])),
                       bound_of(scale, scales))


# ------------------------------------------------------------------ grid summary


def _pearson(x, y) -> float | None:
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.size < 2 or np.std(x) == 0 or np.std(y) == 0:
        return None
    return float(np.corrcoef(x, y)[0, 1])


def _spearman(x, y) -> float | None:
    from scipy.stats import spearmanr

    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.size < 3 or np.all(x == x[0]) or np.all(y == y[0]):
        return None
    return float(spearmanr(x, y).statistic)


def _fitted_median(scales) -> float | None:
    """Median of the fitted time scales, NaN (no fit at the grid's edge) left out; None if none fit."""
    fitted = [x for x in scales if x is not None and math.isfinite(x)]
    return float(np.median(fitted)) if fitted else None


def summarise(runs: list[dict], p_unique: np.ndarray) -> dict:
    """The four comparisons over a grid of runs.

    Each run is a dict with: n_train, seed, dof, full_acc (real, final), predicted_full_acc
    (from the final embeddings), generalised (test accuracy reached 0.9), steps_to_rqi, tau
    (:func:`efftheory.dynamics.time_scale`, None for dof > 0) and optionally rms_rk4 / rms_adam /
    scale_rk4 / scale_adam (NaN when the fit sits at the grid's edge, fit_at_bound_* then
    "lower" or "upper"). ``p_unique`` (N,) is P_unique(n) for n = 1..N. The trajectory
    summary's scale_median leaves such no-fits out (None if no run fits) and fits_at_bound
    counts them.
    """
    out: dict = {"runs": len(runs)}
    real = np.array([r["full_acc"] for r in runs])
    pred = np.array([r["predicted_full_acc"] for r in runs])
    out["accuracy"] = {  # (a) Fig 3
        "mean_abs_diff": float(np.mean(np.abs(real - pred))) if runs else None,
        "correlation": _pearson(real, pred),
    }
    ns = sorted({r["n_train"] for r in runs})
    frac = [float(np.mean([r["generalised"] for r in runs if r["n_train"] == n])) for n in ns]
    pu = [float(p_unique[n - 1]) for n in ns]
    ideal = [float(np.mean([r.get("reached_ideal", False) for r in runs if r["n_train"] == n])) for n in ns]
    out["generalisation"] = {  # (b) Fig 4a
        "n": ns, "fraction": frac, "p_unique": pu, "fraction_reaching_ideal": ideal,
        "mean_abs_diff": float(np.mean(np.abs(np.subtract(frac, pu)))) if ns else None,
        "correlation": _pearson(frac, pu),
    }
    timed = [r for r in runs if r["tau"] is not None and r["steps_to_rqi"] is not None]
    out["time_to_structure"] = {  # (c) Fig 4b
        "spearman": _spearman([r["tau"] for r in timed], [r["steps_to_rqi"] for r in timed]),
        "runs_used": len(timed),
        "never_dof0": sum(r["steps_to_rqi"] is None for r in runs if r["dof"] == 0),
        "runs_dof0": sum(r["dof"] == 0 for r in runs),
        "never_dof_pos": sum(r["steps_to_rqi"] is None for r in runs if r["dof"] > 0),
        "runs_dof_pos": sum(r["dof"] > 0 for r in runs),
    }
    if runs and "rms_rk4" in runs[0]:  # (d) Fig 4c/d
        out["trajectory"] = {
            m: {"rms_mean": float(np.nanmean([r[f"rms_{m}"] for r in runs])),
                "rms_median": float(np.nanmedian([r[f"rms_{m}"] for r in runs])),
                "rms_unscaled_median": float(np.nanmedian([r[f"rms_unscaled_{m}"] for r in runs])),
                "scale_median": _fitted_median([r[f"scale_{m}"] for r in runs]),
                "fits_at_bound": sum(bool(r.get(f"fit_at_bound_{m}")) for r in runs)}
            for m in ("rk4", "adam")
        }
    return out


def run_one(p: int, n_train: int, seed: int, steps: int, config, delta: float = DEFAULT_DELTA,
            trajectory: bool = True) -> dict:
    """Train one network of the grid (split and network both seeded by ``seed``) and score it.

    Returns the per-run dict :func:`summarise` takes (plain floats, picklable).
    """
    import dataclasses

    from efftheory.metrics import predicted_accuracy
    from efftheory.network import train_network
    from efftheory.tasks import Addition
    from efftheory.theory import linear_theory

    split = Addition(p).split(n_train=n_train, seed=seed)
    config = dataclasses.replace(config, seed=seed)
    result = train_network(split, config, steps, delta=delta)
    theory = linear_theory(split)
    _, pred_full = predicted_accuracy(result.embeddings[-1], split, delta)
    run = {
        "n_train": n_train, "seed": seed, "dof": theory.dof,
        "full_acc": result.final_full_acc, "predicted_full_acc": float(pred_full),
        "final_test_acc": float(result.test_acc[-1]),
        "generalised": result.steps_to_test is not None,
        "ideal_test_acc": theory.ideal_test_accuracy,
        # the network got every test sample the linear theory implies (a ceiling below 0.9
        # whenever some test sum has no training sample)
        "reached_ideal": theory.ideal_test_accuracy is not None
        and float(result.test_acc[-1]) >= theory.ideal_test_accuracy - 1e-9,
        "steps_to_train": result.steps_to_train, "steps_to_test": result.steps_to_test,
        "steps_to_rqi": result.steps_to_rqi, "phase": result.phase,
        "tau": time_scale(theory.grokking_rate if theory.unique else None, float(np.sum(result.E0**2)), config.embed_lr),
        "seconds": result.seconds,
    }
    if trajectory:
        for method in ("rk4", "adam"):
            c = effective_counterpart(result, theory.H_hat, method, delta)
            # a fit at the grid's edge is no fit: its scale is NaN (null in JSON)
            run[f"rms_{method}"], run[f"scale_{method}"] = c.rms, c.fitted_scale or math.nan
            run[f"fit_at_bound_{method}"] = c.fit_at_bound
            run[f"rms_unscaled_{method}"] = c.rms_unscaled
    return run
