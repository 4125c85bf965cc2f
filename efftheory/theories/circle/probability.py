"""The probability that the circle flow from random phases forms a ring, against the training
fraction (docs/theory.md §13): the circle theory's critical-size survey."""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field

import numpy as np

from efftheory.errors import require
from efftheory.stats import wilson_interval
from efftheory.tasks import ModularAddition
from efftheory.theories.circle.flow import DEFAULT_GTOL, settle
from efftheory.theories.circle.ring import (
    DEFAULT_COHERENCE_MIN,
    DEFAULT_LOSS_TOL,
    OUTCOMES,
    check_p,
    circle_rqi,
    classify_outcome,
    modular_quads,
    ring_frequency,
)


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
    p = check_p(p)
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
