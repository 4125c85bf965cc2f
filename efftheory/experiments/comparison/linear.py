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

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from efftheory.experiments.comparison.trajectories import effective_counterpart
from efftheory.models.toy.config import NetworkConfig
from efftheory.models.toy.training import train_network
from efftheory.stats import bootstrap_interval, crossing, wilson_interval
from efftheory.theories.linear.dynamics import time_scale
from efftheory.theories.linear.metrics import DEFAULT_DELTA, predicted_accuracy
from efftheory.theories.linear.theory import linear_theory

# ------------------------------------------------------------------ one run of a grid

#: Network settings of ``efftheory compare``: the paper's toy (its authors' defaults) and a
#: setting in the comprehension zone of Fig 5a, chosen by measurement over seeds
#: (paper_repro/comprehension_preset.py; docs/theory.md §12).
PRESETS = {
    "paper": NetworkConfig(),
    "comprehension": NetworkConfig(embed_lr=1e-2, decoder_lr=1e-4),
}
#: The exact flow's structure time is searched up to this many times the network's budget.
FLOW_HORIZON_FACTOR = 1000
#: Adam on ℓ_eff runs for up to this many times the network's budget.
ADAM_HORIZON_FACTOR = 4


@dataclass(frozen=True)
class GridRun:
    """One network of a comparison grid, scored against the theory of its split (picklable).

    Steps are network steps; None means "never within the budget" (or "no prediction").

    Attributes:
        n_train, seed: the split (and network seed); dof, ideal_test_acc: its linear theory.
        full_acc, final_test_acc: the network's accuracy over D0 and on the test set at the end.
        predicted_full_acc, predicted_test_acc: Âcc of its final embeddings.
        generalised: test accuracy reached 0.9; reached_ideal: final test accuracy >= ideal.
        steps_to_train, steps_to_test, steps_to_rqi, phase, diverged: from the training run.
        tau: the time scale Z0/(2ηλ3) of its split from its own E0 (None for dof > 0).
        predicted_rqi_flow: the exact flow's first step with RQI >= 0.95 from E0 at the
            network's embedding lr (None if not within FLOW_HORIZON_FACTOR x budget).
        predicted_rqi_adam: the same for Adam on ℓ_eff (within ADAM_HORIZON_FACTOR x budget).
        rms_*, rms_unscaled_*, scale_*, fit_at_bound_* (* = rk4, adam): trajectory match
            (None without trajectories; scale NaN when the fit sits at its grid's edge).
        seconds: wall time of the training run.
    """

    n_train: int
    seed: int
    dof: int
    ideal_test_acc: float | None
    full_acc: float
    final_test_acc: float
    predicted_full_acc: float
    predicted_test_acc: float
    generalised: bool
    reached_ideal: bool
    steps_to_train: int | None
    steps_to_test: int | None
    steps_to_rqi: int | None
    phase: str
    diverged: bool
    tau: float | None
    predicted_rqi_flow: float | None
    predicted_rqi_adam: float | None
    seconds: float
    rms_rk4: float | None = None
    rms_adam: float | None = None
    rms_unscaled_rk4: float | None = None
    rms_unscaled_adam: float | None = None
    scale_rk4: float | None = None
    scale_adam: float | None = None
    fit_at_bound_rk4: str | None = None
    fit_at_bound_adam: str | None = None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _finite_or_none(x: float) -> float | None:
    return None if math.isinf(x) else float(x)


def run_one(task, n_train: int, seed: int, steps: int, config: NetworkConfig,
            delta: float = DEFAULT_DELTA, trajectory: bool = True) -> GridRun:
    """Train one network of the grid (split and network both seeded by ``seed``) and score it.

    ``task`` is a :class:`efftheory.tasks.Task` or a symbol count p (addition).
    """
    from efftheory.theories.linear.critical import _as_task
    from efftheory.theories.linear.simulation import adam_structure_step, exact_structure_time

    task = _as_task(task)
    split = task.split(n_train=n_train, seed=seed)
    config = dataclasses.replace(config, seed=seed)
    result = train_network(split, config, steps, delta=delta)
    theory = linear_theory(split)
    pred_test, pred_full = predicted_accuracy(result.embeddings[-1], split, delta)
    lr = config.embed_lr
    tau = time_scale(theory.grokking_rate if theory.unique else None, float(np.sum(result.E0**2)), lr)
    fields = {}
    if theory.n_parallelograms and not result.diverged:
        fields["predicted_rqi_flow"] = _finite_or_none(exact_structure_time(
            theory.H_hat, result.E0, lr, FLOW_HORIZON_FACTOR * steps, task=task, delta=delta))
        fields["predicted_rqi_adam"] = _finite_or_none(adam_structure_step(
            theory.H_hat, result.E0, lr, ADAM_HORIZON_FACTOR * steps, task=task, delta=delta))
    if trajectory and not result.diverged:
        for method in ("rk4", "adam"):
            c = effective_counterpart(result, theory.H_hat, method, delta)
            # a fit at the grid's edge is no fit: its scale is NaN (null in JSON)
            fields.update({f"rms_{method}": c.rms, f"scale_{method}": c.fitted_scale or math.nan,
                           f"fit_at_bound_{method}": c.fit_at_bound, f"rms_unscaled_{method}": c.rms_unscaled})
    final_test = float(result.test_acc[-1])
    ideal = theory.ideal_test_accuracy
    return GridRun(
        n_train=n_train, seed=seed, dof=theory.dof, ideal_test_acc=ideal,
        full_acc=result.final_full_acc, final_test_acc=final_test,
        predicted_full_acc=float(pred_full), predicted_test_acc=float(pred_test),
        generalised=result.steps_to_test is not None,
        # the network got every test sample the linear theory implies (a ceiling below 0.9
        # whenever some test sum has no training sample)
        reached_ideal=ideal is not None and final_test >= ideal - 1e-9,
        steps_to_train=result.steps_to_train, steps_to_test=result.steps_to_test,
        steps_to_rqi=result.steps_to_rqi, phase=result.phase, diverged=result.diverged, tau=tau,
        predicted_rqi_flow=fields.pop("predicted_rqi_flow", None),
        predicted_rqi_adam=fields.pop("predicted_rqi_adam", None),
        seconds=result.seconds, **fields,
    )


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


def _mae(real, pred) -> float | None:
    return float(np.mean(np.abs(real - pred))) if len(real) else None


@dataclass(frozen=True)
class AccuracyAgreement:
    """(a) Real against predicted full-table accuracy (Fig 3) over the runs that did not diverge.

    mean_abs_diff with its 95% bootstrap interval (ci); equal_fraction: runs with Acc = Âcc
    exactly (to 1e-12); correlation: Pearson r (None when undefined).
    """

    mean_abs_diff: float | None
    ci: tuple[float, float] | None
    equal_fraction: float | None
    correlation: float | None


@dataclass(frozen=True)
class StructureFormation:
    """(b) Per training-set size n (sorted): how often the structure forms, against P_unique(n).

    structure_rate: fraction of networks with RQI >= 0.95 within the budget, ci its Wilson 95%
    intervals; generalised: fraction with test accuracy >= 0.9; reached_ideal: fraction whose
    final test accuracy reached the split's ideal accuracy; unique: fraction of the drawn splits
    with dof = 0 (a sample of P_unique); p_unique: the Monte Carlo P_unique(n). largest_gap:
    max_n |structure_rate - p_unique|; network_critical_fraction: where structure_rate first
    crosses 1/2 (interpolated, as a fraction of N); critical_fraction: r_c of P_unique.
    """

    n: list[int]
    structure_rate: list[float]
    ci: list[tuple[float, float]]
    generalised: list[float]
    reached_ideal: list[float]
    unique: list[float]
    p_unique: list[float]
    ideal_test_acc: list[float | None]
    largest_gap: float | None
    network_critical_fraction: float | None
    critical_fraction: float | None
    mean_abs_diff: float | None
    correlation: float | None


@dataclass(frozen=True)
class TimeToStructure:
    """(c) Over the runs with dof = 0 that formed the structure: network steps to RQI 0.95
    against the time scale Z0/(2ηλ3): Spearman ρ with a 95% bootstrap interval, and the slope
    of log(steps) on log(time scale). Counts of runs that never formed it, by dof."""

    spearman: float | None
    spearman_ci: tuple[float, float] | None
    loglog_slope: float | None
    runs_used: int
    never_dof0: int
    runs_dof0: int
    never_dof_pos: int
    runs_dof_pos: int


@dataclass(frozen=True)
class Calibration:
    """(d') Network steps to RQI 0.95 divided by a predicted step, over the runs that have both:
    median and quartiles of the ratio, and n (runs used)."""

    median: float | None
    q25: float | None
    q75: float | None
    n: int


@dataclass(frozen=True)
class ComparisonSummary:
    """Every comparison of a grid; ``trajectory`` is None when trajectories were skipped.

    trajectory[m] for m in ("rk4", "adam"): rms_mean, rms_median, rms_unscaled_median,
    scale_median (fitted scales only), fits_at_bound.
    """

    runs: int
    diverged: int
    accuracy: AccuracyAgreement
    structure: StructureFormation
    timing: TimeToStructure
    calibration: dict[str, Calibration]
    trajectory: dict | None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _accuracy(runs: list[GridRun]) -> AccuracyAgreement:
    real = np.array([r.full_acc for r in runs])
    pred = np.array([r.predicted_full_acc for r in runs])
    return AccuracyAgreement(
        mean_abs_diff=_mae(real, pred),
        ci=bootstrap_interval(_mae, [real, pred]),
        equal_fraction=float(np.mean(np.abs(real - pred) < 1e-12)) if runs else None,
        correlation=_pearson(real, pred),
    )


def _structure(runs: list[GridRun], p_unique, n_samples: int, r_c) -> StructureFormation:
    ns = sorted({r.n_train for r in runs})
    by_n = {n: [r for r in runs if r.n_train == n] for n in ns}
    formed = [sum(r.steps_to_rqi is not None for r in by_n[n]) for n in ns]
    rate = [k / len(by_n[n]) for k, n in zip(formed, ns)]
    pu = [float(p_unique[n - 1]) for n in ns]
    crossing_n = crossing(np.array(ns, float), np.array(rate), 0.5) if ns else None

    def mean_of(attr):
        return [float(np.mean([bool(getattr(r, attr)) for r in by_n[n]])) for n in ns]

    def ideal(n):
        vals = [r.ideal_test_acc for r in by_n[n] if r.ideal_test_acc is not None]
        return float(np.mean(vals)) if vals else None

    return StructureFormation(
        n=ns, structure_rate=rate,
        ci=[tuple(wilson_interval(k, len(by_n[n]))) for k, n in zip(formed, ns)],
        generalised=mean_of("generalised"), reached_ideal=mean_of("reached_ideal"),
        unique=[float(np.mean([r.dof == 0 for r in by_n[n]])) for n in ns], p_unique=pu,
        ideal_test_acc=[ideal(n) for n in ns],
        largest_gap=float(np.max(np.abs(np.subtract(rate, pu)))) if ns else None,
        network_critical_fraction=None if crossing_n is None else crossing_n / n_samples,
        critical_fraction=r_c,
        mean_abs_diff=float(np.mean(np.abs(np.subtract(rate, pu)))) if ns else None,
        correlation=_pearson(rate, pu),
    )


def _timing(runs: list[GridRun]) -> TimeToStructure:
    timed = [r for r in runs if r.tau is not None and r.steps_to_rqi is not None]
    tau = np.array([r.tau for r in timed], float)
    steps = np.array([max(r.steps_to_rqi, 1) for r in timed], float)  # step 0: log needs > 0
    slope = None
    if len(timed) >= 3 and np.ptp(np.log(tau)) > 0:
        slope = float(np.polyfit(np.log(tau), np.log(steps), 1)[0])
    return TimeToStructure(
        spearman=_spearman(tau, steps),
        spearman_ci=bootstrap_interval(_spearman, [tau, steps]) if len(timed) >= 3 else None,
        loglog_slope=slope, runs_used=len(timed),
        never_dof0=sum(r.steps_to_rqi is None for r in runs if r.dof == 0),
        runs_dof0=sum(r.dof == 0 for r in runs),
        never_dof_pos=sum(r.steps_to_rqi is None for r in runs if r.dof > 0),
        runs_dof_pos=sum(r.dof > 0 for r in runs),
    )


def _calibration(runs: list[GridRun], attr: str) -> Calibration:
    ratio = [max(r.steps_to_rqi, 1) / getattr(r, attr) for r in runs
             if r.steps_to_rqi is not None and getattr(r, attr)]  # a prediction of 0 has no ratio
    if not ratio:
        return Calibration(None, None, None, 0)
    q25, med, q75 = np.quantile(ratio, [0.25, 0.5, 0.75])
    return Calibration(float(med), float(q25), float(q75), len(ratio))


def _trajectory(runs: list[GridRun]) -> dict | None:
    if not runs or runs[0].rms_rk4 is None:
        return None
    return {
        m: {"rms_mean": float(np.nanmean([getattr(r, f"rms_{m}") for r in runs])),
            "rms_median": float(np.nanmedian([getattr(r, f"rms_{m}") for r in runs])),
            "rms_unscaled_median": float(np.nanmedian([getattr(r, f"rms_unscaled_{m}") for r in runs])),
            "scale_median": _fitted_median([getattr(r, f"scale_{m}") for r in runs]),
            "fits_at_bound": sum(bool(getattr(r, f"fit_at_bound_{m}")) for r in runs)}
        for m in ("rk4", "adam")
    }


def summarise(runs, p_unique: np.ndarray, n_samples: int | None = None,
              critical_fraction: float | None = None) -> ComparisonSummary:
    """The comparisons over a grid of :class:`GridRun` (docstrings of the result types).

    ``p_unique`` (N,) is P_unique(n) for n = 1..N; ``n_samples`` defaults to its length.
    Diverged runs are counted and left out of every comparison (their numbers are not results).
    """
    n_samples = len(p_unique) if n_samples is None else n_samples
    ok = [r for r in runs if not r.diverged]
    return ComparisonSummary(
        runs=len(runs), diverged=len(runs) - len(ok), accuracy=_accuracy(ok),
        structure=_structure(ok, p_unique, n_samples, critical_fraction), timing=_timing(ok),
        calibration={"flow": _calibration(ok, "predicted_rqi_flow"), "adam": _calibration(ok, "predicted_rqi_adam")},
        trajectory=_trajectory(ok),
    )


