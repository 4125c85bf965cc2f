"""The circle flow of one modular-addition split from random phases (``efftheory simulate --task
modadd``): trajectories, circle RQI, outcomes and frequencies."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from efftheory.errors import require
from efftheory.theories.circle.flow import CircleTrajectory, circle_flow
from efftheory.theories.circle.ring import OUTCOMES, RING_RQI_THRESHOLD, classify_outcome, ring_frequency


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
    from efftheory.theories.linear.theory import linear_theory
    from efftheory.tasks.parallelograms import parallelogram_quads

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
