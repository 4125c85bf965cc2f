"""The calibrated predictions of when the structure forms (exact flow and Adam on ℓ_eff)."""

import math

import numpy as np

from efftheory.theories.linear.dynamics import evolve, log_times
from efftheory.theories.linear.metrics import rqi
from efftheory.theories.linear.simulation import adam_structure_step, exact_structure_time
from efftheory.stats import first_at_or_above
from efftheory.tasks import Addition
from efftheory.theories.linear.theory import linear_theory


def _setup(p=10, frac=0.8, seed=0):
    th = linear_theory(Addition(p).split(frac=frac, seed=seed))
    E0 = np.random.default_rng(seed).uniform(-0.5, 0.5, (p, 1))
    return th, E0


def test_exact_crossing_agrees_with_a_dense_grid_and_is_sharp():
    th, E0 = _setup()
    lr = 1e-3
    t = exact_structure_time(th.H_hat, E0, lr, horizon=1e7)
    assert math.isfinite(t) and t > 0
    # RQI just before is below 0.95, just after at or above it, on the closed form
    traj = evolve(th.H_hat, E0, np.array([t * (1 - 1e-6), t]), lr=lr, method="exact")
    before, at = rqi(traj.E[:, 0])
    assert before < 0.95 <= at
    # and a dense saved grid finds the same crossing to its resolution
    times = log_times(1e7, 4000)
    dense = evolve(th.H_hat, E0, times, lr=lr, method="exact")
    t_grid = first_at_or_above(times, dense.rqi()[:, 0], 0.95)
    assert t <= t_grid <= t * 1.01


def test_crossing_scales_as_one_over_lr_and_with_z0():
    """ℓ_eff's flow depends on time only through η t / Z0 (docs/theory.md §8)."""
    th, E0 = _setup()
    t1 = exact_structure_time(th.H_hat, E0, 1e-3, horizon=1e8)
    assert math.isclose(exact_structure_time(th.H_hat, E0, 2e-3, horizon=1e8), t1 / 2, rel_tol=1e-6)
    assert math.isclose(exact_structure_time(th.H_hat, 3 * E0, 1e-3, horizon=1e9), 9 * t1, rel_tol=1e-6)


def test_non_unique_split_never_reaches_structure_and_adam_agrees_in_order():
    th, E0 = _setup(frac=0.2, seed=1)
    assert th.dof > 0
    assert exact_structure_time(th.H_hat, E0, 1e-3, horizon=1e7) == math.inf
    th, E0 = _setup()
    adam = adam_structure_step(th.H_hat, E0, 1e-3, max_steps=20_000)
    assert math.isfinite(adam) and adam == int(adam)
    traj = evolve(th.H_hat, E0, np.array([adam - 1.0, adam]), lr=1e-3, method="adam")
    assert rqi(traj.E[0, 0]) < 0.95 <= rqi(traj.E[1, 0])
