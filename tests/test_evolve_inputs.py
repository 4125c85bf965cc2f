"""``evolve`` refuses, before any integration, the inputs that would make it fail late, run
for ever, or answer nonsense: each with its own one-line InputError naming the value."""

from __future__ import annotations

import numpy as np
import pytest

from efftheory.theories.linear.dynamics import MAX_INTEGRATOR_STEPS, _integrator_steps, evolve
from efftheory.errors import InputError
from efftheory.tasks import Addition
from efftheory.theories.linear.theory import linear_theory

H = linear_theory(Addition(6).split(frac=0.8, seed=0)).H_hat
E0 = np.random.default_rng(0).uniform(-0.5, 0.5, (2, 6, 1))


def _refused(*args, **kwargs) -> str:
    with pytest.raises(InputError) as err:
        evolve(*args, **kwargs)
    message = str(err.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("scale, needle", [(1e200, "too large"), (1e-170, "too small")])
def test_initial_embeddings_whose_z0_cannot_be_represented(scale, needle):
    message = _refused(H, E0 * scale)
    assert needle in message and "Z0" in message and "t_max" not in message
    assert f"{np.abs(E0 * scale).max():.3g}" in message


def test_all_zero_member_is_named_as_such():
    E = E0.copy()
    E[1] = 0.0
    assert "all zero" in _refused(H, E)


def test_non_symmetric_hessian_names_the_asymmetry():
    bad = H.copy()
    bad[0, 1] += 0.25
    assert "symmetric" in _refused(bad, E0) and "0.25" in _refused(bad, E0)


def test_indefinite_hessian_names_its_smallest_eigenvalue():
    bad = H - 0.5 * np.eye(6)
    expected = np.linalg.eigvalsh(bad)[0]
    message = _refused(bad, E0)
    assert "positive semi-definite" in message and f"{expected:.6g}" in message


def test_rounding_negative_eigenvalues_are_accepted():
    lam, V = np.linalg.eigh(H)
    jittered = (V * np.where(np.abs(lam) < 1e-9, -1e-14, lam)) @ V.T
    evolve((jittered + jittered.T) / 2, E0, [0.0, 1.0], lr=1e-3, method="exact")


@pytest.mark.parametrize("method", ["rk4", "euler", "adam"])
def test_runs_above_the_step_cap_are_refused_by_their_count(method):
    dt = 1.0 if method == "adam" else 0.5
    t_end = 2 * MAX_INTEGRATOR_STEPS * dt
    message = _refused(H, E0, [0.0, t_end], lr=1e-3, method=method, dt=dt)
    unit = "updates" if method == "adam" else "integrator steps"
    assert f"{2 * MAX_INTEGRATOR_STEPS:.3g} {unit}" in message and "MAX_INTEGRATOR_STEPS" in message


def test_exact_method_has_no_step_cap():
    traj = evolve(H, E0, [0.0, 1e15], lr=1e-3, method="exact")
    assert traj.times[-1] == 1e15


def test_integrator_step_count_matches_the_kernel():
    times = np.array([0.0, 0.0, 1.0, 2.5, 2.5, 10.0])
    # intervals 1, 1.5, 7.5 at dt 0.5: 2 + 3 + 15 steps; exact multiples do not add a step
    assert _integrator_steps(times, 0.5) == 20
    assert _integrator_steps(times, np.inf) == 3
