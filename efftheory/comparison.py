"""The effective theory against the small real networks (paper Figs 3 and 4).

Per run: the theory's time scale for the split, and the effective-theory trajectory started
from the network's own initial embeddings, matched to the network after the best single
rescaling of time. Over a grid of runs: the four comparisons of ``efftheory compare``
(:func:`summarise`), each reduced to numbers.

Time-rescaling match. Let Ê_net(t) be the network's normalised embeddings at its evaluated
steps t and Ê_th(τ) the normalised effective-theory embeddings at theory time τ (steps at the
network's embedding learning rate). For a scale s the mismatch is
``rms(s) = sqrt(mean over t, symbols, dims of (Ê_net(t) - Ê_th(s t))^2)``; Ê_th between saved
times is linearly interpolated; s runs over a log grid and the best s is reported with its rms.
Both start from the same E0, so rms is 0 at t = 0 whatever s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from efftheory.metrics import normalize
from efftheory.metrics import rqi as rqi_of

#: Time scales tried for the best rescaling: 0.1 ... 10, 61 points log-spaced.
SCALES = np.geomspace(0.1, 10.0, 61)
#: Saved theory times per run (the theory is integrated to max(SCALES) x the last step).
THEORY_POINTS = 3000


def theory_time_scale(grokking_rate: float | None, E0: np.ndarray, lr: float) -> float | None:
    """Z0 / (2 η λ3): the e-folding time (in steps) of the slowest structural mode (design §5).

    None when the split leaves the structure free (λ3 = 0) or has no λ3 (p = 2).
    """
    if grokking_rate is None or grokking_rate <= 0.0:
        return None
    Z0 = float(np.sum(np.asarray(E0, dtype=np.float64) ** 2))
    return Z0 / (2.0 * lr * grokking_rate)


@dataclass(frozen=True)
class Counterpart:
    """The effective theory run from a network's initial embeddings, and its match.

    Attributes:
        method: "rk4" (gradient flow) or "adam" (discrete Adam on ℓ_eff).
        times: (S,) float64 theory times in steps at the network's embedding lr.
        embeddings: (S, p, d) normalised theory embeddings.
        rqi: (S,) RQI along the theory trajectory.
        steps_to_rqi: first saved theory time with RQI >= 0.95 (None if never).
        scale: the best time scale s (theory time = s x network step).
        rms: mismatch at the best scale; rms_unscaled: at s = 1.
    """

    method: str
    times: np.ndarray = field(repr=False)
    embeddings: np.ndarray = field(repr=False)
    rqi: np.ndarray = field(repr=False)
    steps_to_rqi: float | None
    scale: float
    rms: float
    rms_unscaled: float


def _interp(times: np.ndarray, E: np.ndarray, at: np.ndarray) -> np.ndarray:
    """E (S, p, d) at uniformly spaced ``times`` linearly interpolated at ``at`` (T,)."""
    step = times[1] - times[0]
    u = np.clip(at / step, 0.0, times.size - 1.0)
    i0 = np.minimum(np.floor(u).astype(np.int64), times.size - 2)
    w = (u - i0)[:, None, None]
    return (1.0 - w) * E[i0] + w * E[i0 + 1]


def match_rms(net_steps, net_embeddings, times, theory_embeddings, scales=SCALES):
    """(best scale, rms at best scale, rms at scale 1); module docstring for the definition."""
    net_steps = np.asarray(net_steps, dtype=np.float64)
    best = (1.0, math.inf)
    rms = []
    for s in scales:
        diff = net_embeddings - _interp(times, theory_embeddings, s * net_steps)
        rms.append(float(np.sqrt(np.nanmean(diff**2))))
        if rms[-1] < best[1]:
            best = (float(s), rms[-1])
    unscaled = float(np.sqrt(np.nanmean((net_embeddings - _interp(times, theory_embeddings, net_steps)) ** 2)))
    return best[0], best[1], unscaled


def effective_counterpart(result, H_hat: np.ndarray, method: str = "rk4", delta: float = 0.01,
                          scales=SCALES) -> Counterpart:
    """Run the effective theory from ``result.E0`` and match it to the network's trajectory.

    The theory uses the network's embedding learning rate, is saved at ``THEORY_POINTS``
    uniformly spaced whole-number times up to ``max(scales)`` x the network's last step.
    """
    from efftheory.dynamics import evolve

    t_last = float(result.steps[-1])
    t_max = max(1, int(math.ceil(max(scales) * t_last)))
    stride = max(1, int(math.ceil(t_max / THEORY_POINTS)))
    times = np.arange(0, t_max + stride, stride, dtype=np.float64)
    traj = evolve(H_hat, result.E0, times, lr=result.config.embed_lr, method=method)
    En = normalize(traj.E[:, 0])
    r = np.asarray(rqi_of(En, delta), dtype=np.float64)
    hit = np.flatnonzero(r >= 0.95)
    scale, rms, unscaled = match_rms(result.steps, result.embeddings, times, En, scales)
    return Counterpart(method, times, En, r, float(times[hit[0]]) if hit.size else None, scale, rms, unscaled)


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


def summarise(runs: list[dict], p_unique: np.ndarray) -> dict:
    """The four comparisons over a grid of runs.

    Each run is a dict with: n_train, seed, dof, full_acc (real, final), predicted_full_acc
    (from the final embeddings), generalised (test accuracy reached 0.9), steps_to_rqi, tau
    (:func:`theory_time_scale`, None for dof > 0) and optionally rms_rk4 / rms_adam /
    scale_rk4 / scale_adam. ``p_unique`` (N,) is P_unique(n) for n = 1..N.
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
    out["generalisation"] = {  # (b) Fig 4a
        "n": ns, "fraction": frac, "p_unique": pu,
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
                "scale_median": float(np.nanmedian([r[f"scale_{m}"] for r in runs]))}
            for m in ("rk4", "adam")
        }
    return out


def run_one(p: int, n_train: int, seed: int, steps: int, config, delta: float = 0.01,
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
        "steps_to_train": result.steps_to_train, "steps_to_test": result.steps_to_test,
        "steps_to_rqi": result.steps_to_rqi, "phase": result.phase,
        "tau": theory_time_scale(theory.grokking_rate if theory.unique else None, result.E0, config.embed_lr),
        "seconds": result.seconds,
    }
    if trajectory:
        for method in ("rk4", "adam"):
            c = effective_counterpart(result, theory.H_hat, method, delta)
            run[f"rms_{method}"], run[f"scale_{method}"] = c.rms, c.scale
            run[f"rms_unscaled_{method}"] = c.rms_unscaled
    return run
