"""Outcome fractions of the matrix flow against the training fraction (docs/theory.md §14): the
matrix theory's critical-size survey."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from efftheory.errors import require
from efftheory.stats import wilson_interval
from efftheory.tasks import FiniteGroup, as_int
from efftheory.theories.group.flow import DEFAULT_GTOL, DEFAULT_MAX_STEPS, group_flow
from efftheory.theories.group.loss import DEFAULT_K, check_group, group_quads, haar_rotations
from efftheory.theories.group.score import DEFAULT_DISTANCE_TOL, DEFAULT_LOSS_TOL, OUTCOMES, classify, score_matrices


@dataclass(frozen=True)
class GroupOutcomeCurve:
    """Outcome probabilities of the flow from Haar-random rotations against the training fraction.

    Each trial draws its own training set (n_train distinct samples) and its own start.

    Attributes:
        task: the group's description; k: rotation size; trials, seed.
        fracs: (F,) requested fractions; n_train: (F,) int64 samples per training set.
        outcomes: the column order, :data:`OUTCOMES`.
        counts: (F, O) int64 trials per outcome; fraction, ci_low, ci_high: (F, O) the fraction
            and its Wilson 95% interval.
        outcome: (F, trials) str per trial; train_loss, full_loss, min_distance, n_quads,
            steps: (F, trials); converged: (F, trials) bool.
        max_steps, gtol, loss_tol, distance_tol: the settings used.
    """

    task: str
    k: int
    trials: int
    seed: int
    fracs: np.ndarray
    n_train: np.ndarray
    outcomes: tuple
    counts: np.ndarray
    fraction: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    outcome: np.ndarray = field(repr=False)
    train_loss: np.ndarray = field(repr=False)
    full_loss: np.ndarray = field(repr=False)
    min_distance: np.ndarray = field(repr=False)
    n_quads: np.ndarray = field(repr=False)
    steps: np.ndarray = field(repr=False)
    converged: np.ndarray = field(repr=False)
    max_steps: int = DEFAULT_MAX_STEPS
    gtol: float = DEFAULT_GTOL
    loss_tol: float = DEFAULT_LOSS_TOL
    distance_tol: float = DEFAULT_DISTANCE_TOL


def outcome_curve(task: FiniteGroup, fracs, trials: int, seed: int = 0, *, k: int = DEFAULT_K,
                  max_steps: int = DEFAULT_MAX_STEPS, gtol: float = DEFAULT_GTOL, loss_tol: float = DEFAULT_LOSS_TOL,
                  distance_tol: float = DEFAULT_DISTANCE_TOL, progress=None) -> GroupOutcomeCurve:
    """Run ``trials`` flows per training fraction and count their outcomes.

    Fraction f uses n = round(f · N) samples; its trials draw their training sets and Haar starts
    from ``default_rng([seed, n])``, so a row does not depend on the other fractions asked for.
    ``progress(1)`` is called after each fraction.
    """
    check_group(task)
    fr = np.atleast_1d(np.asarray(fracs, dtype=np.float64))
    require(fr.ndim == 1 and fr.size >= 1 and bool(np.all((fr > 0) & (fr <= 1))), f"fracs must lie in (0, 1], got {fracs!r}")
    trials, seed, k = as_int(trials, "trials", 1), as_int(seed, "seed", 0), as_int(k, "k", 2)
    N = task.n_samples
    n_train = np.array([task.n_train_for(frac=float(f)) for f in fr], dtype=np.int64)
    shape = (fr.size, trials)
    outcome = np.empty(shape, dtype=object)
    train_loss, full_loss, dmin = np.empty(shape), np.empty(shape), np.empty(shape)
    n_quads, steps, conv = np.empty(shape, np.int64), np.empty(shape, np.int64), np.empty(shape, bool)
    for i, n in enumerate(n_train):
        rng = np.random.default_rng([seed, int(n)])
        sets = [np.sort(rng.choice(N, int(n), replace=False)) for _ in range(trials)]
        M0 = haar_rotations((trials, task.p), k, rng)
        blocks = [group_quads(task, s) for s in sets]
        sizes = np.array([b.shape[0] for b in blocks], np.int64)
        ends = np.cumsum(sizes)
        flow = group_flow(M0, np.concatenate(blocks), quad_ranges=np.stack([ends - sizes, ends], axis=1),
                          max_steps=max_steps, gtol=gtol, n_record=2)
        score = score_matrices(task, flow.M, loss_tol=loss_tol, distance_tol=distance_tol)
        outcome[i] = classify(flow.loss, score.full_loss, score.min_distance, loss_tol=loss_tol, distance_tol=distance_tol)
        train_loss[i], full_loss[i], dmin[i] = flow.loss, score.full_loss, score.min_distance
        n_quads[i], steps[i], conv[i] = sizes, flow.steps, flow.converged
        if progress is not None:
            progress(1)
    counts = np.array([[int(np.sum(outcome[i] == o)) for o in OUTCOMES] for i in range(fr.size)], np.int64)
    low, high = wilson_interval(counts, trials)
    return GroupOutcomeCurve(
        task=task.describe(), k=k, trials=trials, seed=seed, fracs=fr, n_train=n_train, outcomes=OUTCOMES,
        counts=counts, fraction=counts / trials, ci_low=np.asarray(low), ci_high=np.asarray(high), outcome=outcome,
        train_loss=train_loss, full_loss=full_loss, min_distance=dmin, n_quads=n_quads, steps=steps, converged=conv,
        max_steps=int(max_steps), gtol=float(gtol), loss_tol=float(loss_tol), distance_tol=float(distance_tol),
    )
