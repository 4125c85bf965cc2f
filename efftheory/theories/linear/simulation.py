"""One effective-theory run of a training split, scored by RQI and predicted accuracy.

:func:`simulate` draws ``trials`` random initial embeddings (uniform in [-0.5, 0.5) times
``init_scale``, shape (B, p, d)), evolves them under ℓ_eff of the split's Ĥ
(:func:`efftheory.theories.linear.dynamics.evolve`), solves the same problem in closed form at the same times
for comparison, and scores every saved embedding (docs/theory.md §7). This is what
``efftheory simulate`` prints; it is a library function so that other code can reuse it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from efftheory.theories.linear.dynamics import ExactFlow, Trajectory, default_horizon, evolve, time_scale
from efftheory.errors import positive_number, require
from efftheory.theories.linear.metrics import DEFAULT_DELTA, RQI_THRESHOLD, predicted_accuracy, rqi
from efftheory.stats import first_at_or_above
from efftheory.theories.linear.theory import LinearTheory


@dataclass(frozen=True)
class Simulation:
    """Result of :func:`simulate` (T saved times, B initial conditions).

    Attributes:
        theory: the split's linear theory.
        trajectory: the integrated run (method as asked).
        exact: the closed-form flow from the same E0 at the same times (the same object as
            ``trajectory`` when method == "exact").
        rqi: (T, B) RQI of ``trajectory``; exact_rqi: (T, B) RQI of ``exact``.
        predicted_test_accuracy, predicted_full_accuracy: (T, B) of ``trajectory``.
        delta: RQI tolerance δ.
        time_scale: Z0 / (2 η λ3) in steps (Z0 averaged over the batch); None unless unique.
        steps_to_rqi: (B,) first saved time with RQI >= 0.95 (inf if never).
        exact_steps_to_rqi: (B,) the same for the closed-form flow.
        max_deviation_from_exact: max over times and batch of ||E − E_exact||_F / ||E_exact||_F
            (over the members that did not diverge; NaN if all did).
        diverged: (B,) bool, members whose integration became non-finite (stopped there).
        predicted_steps_to_rqi: (B,) the calibrated prediction of steps_to_rqi per member:
            the exact flow's first crossing of RQI 0.95 (:func:`exact_structure_time`, not tied
            to the saved times), or for method "adam" Adam's first step at RQI >= 0.95
            (:func:`adam_structure_step`); inf when not reached within the horizon.
    """

    theory: LinearTheory
    trajectory: Trajectory
    exact: Trajectory
    rqi: np.ndarray
    exact_rqi: np.ndarray
    predicted_test_accuracy: np.ndarray
    predicted_full_accuracy: np.ndarray
    delta: float
    time_scale: float | None
    steps_to_rqi: np.ndarray
    exact_steps_to_rqi: np.ndarray
    max_deviation_from_exact: float
    diverged: np.ndarray
    predicted_steps_to_rqi: np.ndarray


def initial_embeddings(p: int, dim: int, trials: int, init_scale: float, seed: int) -> np.ndarray:
    """(trials, p, dim) uniform in [-0.5, 0.5) * init_scale from ``default_rng([seed, 1])``.

    The extra stream number keeps the embeddings independent of the split drawn with ``seed``.
    """
    rng = np.random.default_rng([int(seed), 1])
    return init_scale * rng.uniform(-0.5, 0.5, size=(trials, p, dim))


#: The largest memory a simulation may ask for (bytes): a third of a 24 GiB machine.
MEMORY_BUDGET = 8 * 2**30
#: Float arrays of shape (T, B, p, d) a simulation holds at once: the trajectory, the exact
#: flow, their difference and the normalised copy the metrics make.
_TRAJECTORY_COPIES = 4


def memory_estimate(p: int, dim: int, trials: int, n_times: int) -> int:
    """Bytes the saved trajectories of :func:`simulate` need (float64, all copies)."""
    return _TRAJECTORY_COPIES * 8 * int(n_times) * int(trials) * int(p) * int(dim)


def simulate(theory: LinearTheory, *, dim: int = 1, trials: int = 8, init_scale: float = 1.0,
             seed: int = 0, lr: float = 1e-3, method: str = "rk4", steps=None, dt=None,
             delta: float = DEFAULT_DELTA, n_times: int = 200, progress=None) -> Simulation:
    """Evolve ``trials`` random embeddings of dimension ``dim`` under the split's ℓ_eff.

    ``steps`` is the final time in optimisation steps (default: :func:`default_horizon`);
    times are saved at 0 and log-spaced up to ``steps`` (:func:`efftheory.theories.linear.dynamics.log_times`).
    Raises InputError when the training set holds no parallelogram (ℓ_eff ≡ 0: nothing to
    simulate).
    """
    split = theory.split
    require(theory.n_parallelograms > 0,
            f"the training set ({split.n_train} samples at p={split.p}) holds no parallelogram, "
            "so the effective loss is zero; use a larger training set")
    for name, value in (("dim", dim), ("trials", trials), ("n_times", n_times)):
        require(isinstance(value, (int, np.integer)) and value >= 1, f"{name} must be a positive integer, got {value!r}")
    require(math.isfinite(init_scale) and init_scale > 0, f"init_scale must be positive, got {init_scale!r}")
    need = memory_estimate(split.p, dim, trials, max(n_times, 2))
    require(need <= MEMORY_BUDGET,
            f"trials={trials} x n_times={n_times} x p={split.p} x dim={dim} would hold {need / 2**30:.1f} GiB of "
            f"trajectories (limit {MEMORY_BUDGET / 2**30:.0f} GiB); use fewer trials or saved times")
    E0 = initial_embeddings(split.p, dim, trials, init_scale, seed)
    if steps is None:
        steps = default_horizon(theory.H_hat, E0, lr, method)
    traj = evolve(theory.H_hat, E0, t_max=steps, lr=lr, method=method, dt=dt,
                  n_times=max(n_times, 2), progress=progress)
    exact = traj if method == "exact" else evolve(theory.H_hat, E0, traj.times, lr=lr, method="exact")
    task = split.task
    r = np.asarray(rqi(traj.E, delta=delta, task=task))
    r_exact = r if exact is traj else np.asarray(rqi(exact.E, delta=delta, task=task))
    test_acc, full_acc = predicted_accuracy(traj.E, split, delta=delta)
    dev = np.linalg.norm(traj.E - exact.E, axis=(-2, -1)) / np.linalg.norm(exact.E, axis=(-2, -1))
    scale = time_scale(theory.grokking_rate if theory.unique else None, float(traj.Z0.mean()), lr)
    return Simulation(
        theory=theory,
        trajectory=traj,
        exact=exact,
        rqi=r,
        exact_rqi=r_exact,
        predicted_test_accuracy=np.asarray(test_acc),
        predicted_full_accuracy=np.asarray(full_acc),
        delta=float(delta),
        time_scale=scale,
        steps_to_rqi=first_at_or_above(traj.times, r, RQI_THRESHOLD),
        exact_steps_to_rqi=first_at_or_above(traj.times, r_exact, RQI_THRESHOLD),
        max_deviation_from_exact=float(dev[:, ~traj.diverged].max()) if (~traj.diverged).any() else math.nan,
        diverged=traj.diverged,
        predicted_steps_to_rqi=_predicted_crossings(theory, E0, lr, method, float(traj.times[-1]), delta),
    )


#: the exact flow's crossing is searched up to this many times the simulated horizon
_PREDICTION_HORIZON_FACTOR = 100


def _predicted_crossings(theory, E0, lr, method, horizon, delta) -> np.ndarray:
    """(B,) calibrated steps to RQI 0.95 per member: Adam's own for method "adam", else the
    exact flow's (inf for a split that leaves the structure free, or beyond the horizon)."""
    task = theory.split.task
    if method == "adam":
        return np.array([adam_structure_step(theory.H_hat, e, lr, int(horizon), task=task, delta=delta) for e in E0])
    if not theory.unique:
        return np.full(E0.shape[0], np.inf)
    return np.array([exact_structure_time(theory.H_hat, e, lr, _PREDICTION_HORIZON_FACTOR * horizon, task=task,
                                          delta=delta) for e in E0])


def median_or_none(values: np.ndarray) -> float | None:
    """Median of per-trial times with never = inf; None when at least half never arrive."""
    med = float(np.median(values))
    return med if math.isfinite(med) else None


#: Log-spaced times per decade scanned for the exact flow's first RQI crossing before bisection.
_SCAN_PER_DECADE = 40
#: Bisection steps that refine it (the crossing is then known to 2^-30 of one scan interval).
_BISECTIONS = 30


def exact_structure_time(H_hat, E0, lr: float, horizon: float, *, task=None,
                         delta: float = DEFAULT_DELTA, level: float = RQI_THRESHOLD) -> float:
    """First time (steps at ``lr``) at which the exact flow from E0 (p, d) reaches RQI >= level.

    The closed-form solution is scanned on a log grid from 1e-3 of the slowest relaxation time
    to ``horizon``, then the first crossing is bisected on the closed form itself, so the answer
    does not depend on a saving grid. inf when the flow does not reach the level by ``horizon``.
    This is the calibrated prediction of when a network started from E0 forms its structure
    (docs/theory.md §8): the bare time scale Z0/(2ηλ3) is only its unit.
    """
    horizon = positive_number(horizon, "horizon")  # a finite number of steps > 0
    lr = positive_number(lr, "lr")
    flow = ExactFlow(H_hat)
    E0 = np.asarray(E0, dtype=np.float64)

    def quality(t):
        return np.asarray(rqi(flow(E0, np.atleast_1d(t), lr).E[:, 0], delta=delta, task=task))

    if quality(0.0)[0] >= level:
        return 0.0
    lo = max(horizon * 1e-9, 1e-9)
    if lo >= horizon:  # a horizon below 1e-9 steps (a huge lr): scan the nine decades below it
        lo = horizon * 1e-9
    n = max(2, int(_SCAN_PER_DECADE * np.log10(horizon / lo)) + 1)
    times = np.geomspace(lo, horizon, n)
    hit = np.flatnonzero(quality(times) >= level)
    if hit.size == 0:
        return math.inf
    k = int(hit[0])
    a, b = (0.0 if k == 0 else float(times[k - 1])), float(times[k])
    for _ in range(_BISECTIONS):
        mid = 0.5 * (a + b)
        a, b = (a, mid) if quality(mid)[0] >= level else (mid, b)
    return b


def adam_structure_step(H_hat, E0, lr: float, max_steps: int, *, task=None,
                        delta: float = DEFAULT_DELTA, level: float = RQI_THRESHOLD) -> float:
    """First step at which discrete Adam on ℓ_eff from E0 (p, d) at ``lr`` has RQI >= level.

    Adam is the optimiser the networks use for their embeddings, so this is the effective
    theory's prediction for a network's step count, optimiser included. inf if not reached
    within ``max_steps`` (or if the run diverges).
    """
    steps = np.arange(0, int(max_steps) + 1, dtype=np.float64)
    traj = evolve(H_hat, E0, steps, lr=lr, method="adam")
    return first_at_or_above(steps, traj.rqi(delta, task=task)[:, 0], level)
