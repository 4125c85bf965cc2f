"""Effective-loss dynamics (docs/theory.md §8) against exact oracles, limits and numpy twins."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import solve_ivp

from efftheory.theories.linear.dynamics import (
    METHODS,
    default_step,
    effective_gradient,
    effective_loss,
    evolve,
    exact_flow,
)
from efftheory.errors import InputError
from efftheory.theories.linear.metrics import predicted_accuracy, rqi
from efftheory.tasks import Addition
from efftheory.theories.linear.theory import linear_theory
from efftheory.reference import dynamics as naive

LR = 1e-3
FLOW_METHODS = ("rk4", "euler", "rk4-projected", "euler-projected")


@dataclass(frozen=True)
class Problem:
    """A reference split: p, training fraction, seed, embedding dimension, expected dof."""

    name: str
    p: int
    frac: float
    seed: int
    d: int
    dof: int

    @property
    def theory(self):
        return _theory(self.p, self.frac, self.seed)

    def E0(self, batch: int = 2, seed: int = 1) -> np.ndarray:
        rng = np.random.default_rng(seed)
        return rng.uniform(-0.5, 0.5, size=(batch, self.p, self.d))

    def slow_time(self, E0) -> float:
        """Z0 / (2 η λ) for the smallest positive eigenvalue (λ3 when unique)."""
        lam = self.theory.eigenvalues
        lam_pos = lam[lam > 1e-9 * lam[-1]][0]
        return float(np.einsum("bpd,bpd->b", E0, E0).max() / (2 * LR * lam_pos))

    def fast_time(self, E0) -> float:
        """Z0 / (2 η λ_max), the fastest relaxation time."""
        return float(np.einsum("bpd,bpd->b", E0, E0).min() / (2 * LR * self.theory.eigenvalues[-1]))


_THEORIES: dict = {}


def _theory(p, frac, seed):
    key = (p, frac, seed)
    if key not in _THEORIES:
        _THEORIES[key] = linear_theory(Addition(p).split(frac=frac, seed=seed))
    return _THEORIES[key]


# Several p, unique (dof = 0) and under-determined (dof > 0) splits, d = 1 and d = 2.
PROBLEMS = [
    Problem("p5-full-d1", 5, 1.0, 0, 1, 0),
    Problem("p7-0.6-d2", 7, 0.6, 0, 2, 0),
    Problem("p8-0.5-dof1-d1", 8, 0.5, 0, 1, 1),
    Problem("p10-0.8-d2", 10, 0.8, 0, 2, 0),
    Problem("p10-0.3-dof2-d2", 10, 0.3, 1, 2, 2),
    Problem("p12-0.4-d1", 12, 0.4, 2, 1, 0),
    Problem("p59-0.4-d2", 59, 0.4, 0, 2, 0),  # the headline split of `efftheory simulate`
]
UNIQUE = [pb for pb in PROBLEMS if pb.dof == 0]
ids = lambda problems: [pb.name for pb in problems]  # noqa: E731


def _rel_dev(A, B):
    """max over leading axes of ||A − B||_F / ||B||_F (last two axes are p, d)."""
    return float(np.max(np.linalg.norm(A - B, axis=(-2, -1)) / np.linalg.norm(B, axis=(-2, -1))))


@pytest.mark.parametrize("pb", PROBLEMS, ids=ids(PROBLEMS))
def test_registry_is_what_it_claims(pb):
    th = pb.theory
    assert th.dof == pb.dof
    assert (th.grokking_rate > 0) == (pb.dof == 0)


# ---------------------------------------------------------------- loss and gradient


@pytest.mark.parametrize("pb", PROBLEMS[:4], ids=ids(PROBLEMS[:4]))
def test_loss_and_gradient_match_twin_and_finite_differences(pb):
    H, E = pb.theory.H_hat, pb.E0(1)[0]
    assert effective_loss(H, E) == pytest.approx(naive.loss(H, E), rel=1e-13)
    G = effective_gradient(H, E)
    np.testing.assert_allclose(G, naive.grad(H, E), rtol=1e-12, atol=1e-15)
    # scale invariance => E · ∇ℓ = 0; the gradient is a derivative (central differences)
    assert abs(np.sum(E * G)) < 1e-13 * np.linalg.norm(G) * np.linalg.norm(E)
    rng = np.random.default_rng(0)
    V = rng.normal(size=E.shape)
    eps = 1e-6
    fd = (naive.loss(H, E + eps * V) - naive.loss(H, E - eps * V)) / (2 * eps)
    assert np.sum(G * V) == pytest.approx(fd, rel=1e-6, abs=1e-10)


# ---------------------------------------------------------------- exact solution


@pytest.mark.parametrize("pb", PROBLEMS, ids=ids(PROBLEMS))
def test_exact_flow_matches_matrix_exponential_and_solve_ivp(pb):
    H, E0 = pb.theory.H_hat, pb.E0(1)
    times = np.array([0.0, 0.1, 0.5, 1.0, 3.0]) * pb.slow_time(E0)
    traj = evolve(H, E0, times, lr=LR, method="exact")
    np.testing.assert_allclose(traj.E[:, 0], naive.exact_expm(H, E0[0], times, LR), rtol=0, atol=1e-11)

    def rhs(_t, y):
        return (-LR * naive.grad(H, y.reshape(E0[0].shape))).ravel()

    sol = solve_ivp(rhs, (0, times[-1]), E0[0].ravel(), method="DOP853", t_eval=times, rtol=1e-11, atol=1e-13)
    ivp = sol.y.T.reshape(traj.E[:, 0].shape)
    assert _rel_dev(traj.E[:, 0], ivp) < 1e-8


@pytest.mark.parametrize("method", METHODS)
def test_time_zero_returns_E0(method):
    pb = PROBLEMS[3]
    E0 = pb.E0(3)
    traj = evolve(pb.theory.H_hat, E0, [0.0, 5.0], lr=LR, method=method)
    np.testing.assert_array_equal(traj.E[0], E0)
    assert traj.E.shape == (2, 3, pb.p, pb.d) and traj.loss.shape == traj.Z.shape == (2, 3)


def test_exact_flow_caches_its_eigendecomposition():
    H = PROBLEMS[1].theory.H_hat
    assert exact_flow(H) is exact_flow(H.copy())


@pytest.mark.jit_heavy
@pytest.mark.parametrize("pb", UNIQUE, ids=ids(UNIQUE))
def test_long_time_limit_of_a_unique_split_is_linear(pb):
    th, E0 = pb.theory, pb.E0(2)
    t_end = 300 * pb.slow_time(E0)
    E = evolve(th.H_hat, E0, [t_end], lr=LR, method="exact").E[-1]
    assert np.all(rqi(E) == 1.0)
    test_acc, _ = predicted_accuracy(E, th.split)
    if th.ideal_test_accuracy is not None:
        np.testing.assert_allclose(test_acc, th.ideal_test_accuracy, rtol=0, atol=1e-12)
    # each dimension is affine in the symbol: E_k = a + k b
    k = np.arange(pb.p)
    for member in E:
        for col in member.T:
            fit = np.polyval(np.polyfit(k, col, 1), k)
            assert np.max(np.abs(col - fit)) < 1e-9 * np.max(np.abs(col))


# ---------------------------------------------------------------- integrators vs exact


@pytest.mark.jit_heavy
@pytest.mark.parametrize("method", FLOW_METHODS)
@pytest.mark.parametrize("pb", PROBLEMS, ids=ids(PROBLEMS))
def test_integrators_follow_the_exact_flow(pb, method):
    H, E0 = pb.theory.H_hat, pb.E0(2)
    traj = evolve(H, E0, lr=LR, method=method)  # default step and horizon
    exact = evolve(H, E0, traj.times, lr=LR, method="exact")
    tol = 1e-4 if method.startswith("rk4") else 5e-2
    assert _rel_dev(traj.E, exact.E) < tol
    # ℓ_eff never increases along the flow (round-off aside)
    assert np.all(np.diff(traj.loss, axis=0) <= 1e-12 * traj.loss[0])
    assert np.all(np.diff(exact.loss, axis=0) <= 1e-12 * exact.loss[0])


def _observed_order(pb, method, steps_fraction):
    H, E0 = pb.theory.H_hat, pb.E0(2)
    t_end = pb.slow_time(E0)
    n = int(np.ceil(t_end / (steps_fraction * pb.fast_time(E0))))
    ref = evolve(H, E0, [t_end], lr=LR, method="exact").E[-1]
    errs = [_rel_dev(evolve(H, E0, [t_end], lr=LR, method=method, dt=t_end / m).E[-1], ref) for m in (n, 2 * n)]
    return np.log2(errs[0] / errs[1])


@pytest.mark.jit_heavy
@pytest.mark.parametrize("pb", PROBLEMS, ids=ids(PROBLEMS))
def test_convergence_orders(pb):
    assert _observed_order(pb, "euler", 0.05) == pytest.approx(1.0, abs=0.15)
    assert _observed_order(pb, "euler-projected", 0.05) == pytest.approx(1.0, abs=0.15)
    assert _observed_order(pb, "rk4", 0.5) == pytest.approx(4.0, abs=0.4)
    assert _observed_order(pb, "rk4-projected", 0.5) == pytest.approx(4.0, abs=0.4)


@pytest.mark.parametrize("method", ["exact", pytest.param("rk4-projected", marks=pytest.mark.jit_heavy),
                                    pytest.param("euler-projected", marks=pytest.mark.jit_heavy)])
def test_norm_is_conserved_to_round_off(method):
    for pb in PROBLEMS:
        traj = evolve(pb.theory.H_hat, pb.E0(3), lr=LR, method=method)
        assert traj.z_drift < 1e-12


@pytest.mark.jit_heavy
@pytest.mark.parametrize("pb", UNIQUE, ids=ids(UNIQUE))
def test_rk4_default_horizon_reaches_structure(pb):
    traj = evolve(pb.theory.H_hat, pb.E0(2), lr=LR)
    assert np.all(traj.rqi()[-1] == 1.0)
    assert np.all(traj.loss[-1] < 1e-12 * traj.loss[0])


# ---------------------------------------------------------------- Adam


@pytest.mark.jit_heavy
@pytest.mark.parametrize("pb", PROBLEMS, ids=ids(PROBLEMS))
def test_adam_lowers_the_effective_loss(pb):
    traj = evolve(pb.theory.H_hat, pb.E0(2), np.arange(0, 3001, 100), lr=LR, method="adam")
    assert np.all(traj.loss[-1] < 0.1 * traj.loss[0])


def test_adam_kernel_equals_twin():
    pb = PROBLEMS[3]
    H, E0 = pb.theory.H_hat, pb.E0(2)
    steps = np.array([0, 1, 2, 7, 40, 41, 150])
    traj = evolve(H, E0, steps, lr=1e-2, method="adam")
    for b in range(2):
        np.testing.assert_allclose(traj.E[:, b], naive.adam(H, E0[b], steps, 1e-2), rtol=1e-11, atol=1e-14)
        twin_loss = [naive.loss(H, E) for E in traj.E[:, b]]
        np.testing.assert_allclose(traj.loss[:, b], twin_loss, rtol=1e-11, atol=1e-14 * twin_loss[0])


# ---------------------------------------------------------------- kernels vs twins


@pytest.mark.parametrize("method", FLOW_METHODS)
def test_flow_kernels_equal_twins(method):
    pb = PROBLEMS[4]
    H, E0 = pb.theory.H_hat, pb.E0(2)
    times = np.array([0.0, 30.0, 100.0, 100.0, 1234.5])
    traj = evolve(H, E0, times, lr=0.05, method=method, dt=7.0)
    scheme = "rk4" if method.startswith("rk4") else "euler"
    for b in range(2):
        twin = naive.integrate(H, E0[b], times, 0.05, 7.0, scheme, method.endswith("projected"))
        np.testing.assert_allclose(traj.E[:, b], twin, rtol=1e-11, atol=1e-14)
        np.testing.assert_allclose(traj.Z[:, b], np.sum(twin**2, axis=(1, 2)), rtol=1e-12)


def test_euler_with_unit_step_is_gradient_descent():
    pb = PROBLEMS[1]
    H, E = pb.theory.H_hat, pb.E0(1)[0].copy()
    traj = evolve(H, E, np.arange(0.0, 21.0), lr=0.1, method="euler", dt=1.0)
    for step in range(21):
        np.testing.assert_allclose(traj.E[step, 0], E, rtol=1e-12, atol=1e-15)
        E = E - 0.1 * naive.grad(H, E)


def test_batch_members_evolve_independently():
    pb = PROBLEMS[3]
    H, E0 = pb.theory.H_hat, pb.E0(4)
    times = [0.0, 100.0, 5000.0]
    for method in ("rk4", "adam"):
        batch = evolve(H, E0, times, lr=LR, method=method, dt=None)
        for b in range(4):
            alone = evolve(H, E0[b], times, lr=LR, method=method, dt=batch.dt if method != "adam" else None)
            np.testing.assert_array_equal(batch.E[:, b], alone.E[:, 0])


@pytest.mark.jit_heavy
@settings(max_examples=15, deadline=None)
@given(scale=st.floats(0.1, 10.0), seed=st.integers(0, 10_000), which=st.sampled_from(["exact", "rk4"]))
def test_scaling_E0_rescales_time(scale, seed, which):
    """ℓ_eff is scale invariant, so E(t; c E0) = c E(t / c²; E0), also for the default step."""
    pb = PROBLEMS[3]
    H, E0 = pb.theory.H_hat, pb.E0(1, seed=seed)
    times = np.array([0.0, 0.3, 1.0, 4.0]) * pb.slow_time(E0)
    big = evolve(H, scale * E0, scale**2 * times, lr=LR, method=which)
    small = evolve(H, E0, times, lr=LR, method=which)
    np.testing.assert_allclose(big.E, scale * small.E, rtol=1e-9, atol=1e-12 * scale)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        (dict(method="leapfrog"), "leapfrog"),
        (dict(lr=0.0), "lr"),
        (dict(lr=-1.0), "lr"),
        (dict(times=[0.0, 2.0, 1.0]), "non-decreasing"),
        (dict(times=[-1.0]), ">= 0"),
        (dict(dt=0.0), "dt"),
        (dict(method="adam", times=[0.0, 1.5]), "whole-number"),
        (dict(times=[1.0], t_max=3.0), "either"),
    ],
)
def test_bad_arguments_raise_input_error(kwargs, needle):
    pb = PROBLEMS[1]
    with pytest.raises(InputError, match=needle):
        evolve(pb.theory.H_hat, pb.E0(1), **kwargs)


def test_bad_embeddings_raise_input_error():
    H = PROBLEMS[1].theory.H_hat
    with pytest.raises(InputError, match="Z0"):
        evolve(H, np.zeros((7, 2)), [1.0])
    with pytest.raises(InputError, match="shape"):
        evolve(H, np.ones((6, 2)), [1.0])
    with pytest.raises(InputError, match="symmetric"):
        evolve(np.triu(np.ones((7, 7))), np.ones((7, 2)), [1.0])


def test_zero_hessian_leaves_embeddings_still():
    """P0(D) empty: Ĥ = 0, ℓ_eff ≡ 0, nothing moves (docs/theory.md §2 edge case)."""
    E0 = np.random.default_rng(0).uniform(-0.5, 0.5, (2, 6, 2))
    for method in METHODS:
        traj = evolve(np.zeros((6, 6)), E0, lr=LR, method=method)
        assert np.all(traj.E == E0[None]) and np.all(traj.loss == 0.0)


@pytest.mark.parametrize("method", ["rk4", "euler-projected", "adam", "exact"])
def test_progress_reports_every_saved_time_and_changes_nothing(method):
    pb = PROBLEMS[3]
    H, E0 = pb.theory.H_hat, pb.E0(2)
    times = np.unique(np.round(np.geomspace(1, 3000, 60)))
    seen = []
    chunked = evolve(H, E0, times, lr=LR, method=method, progress=seen.append)
    whole = evolve(H, E0, times, lr=LR, method=method)
    assert sum(seen) == times.size and (len(seen) > 1 or method == "exact")
    np.testing.assert_array_equal(chunked.E, whole.E)
    np.testing.assert_array_equal(chunked.loss, whole.loss)


@pytest.mark.parametrize("pb", PROBLEMS[:4], ids=ids(PROBLEMS[:4]))
def test_explicit_parallelogram_matrix_gives_the_same_loss_and_gradient(pb):
    """The paper-style twin (mean over P0(D) of |a_qᵀ E|²) agrees with Ĥ from class sums."""
    flow = naive.ParallelogramFlow(pb.p, pb.theory.split.train_pairs)
    E = pb.E0(3)
    ell, G = flow.loss_grad(E)
    np.testing.assert_allclose(ell, effective_loss(pb.theory.H_hat, E), rtol=1e-12)
    np.testing.assert_allclose(G, effective_gradient(pb.theory.H_hat, E), rtol=1e-11, atol=1e-15)


@pytest.mark.jit_heavy
@settings(max_examples=20, deadline=None)
@given(p=st.integers(3, 12), frac=st.floats(0.2, 1.0), seed=st.integers(0, 1000), d=st.integers(1, 3))
def test_flow_invariants_on_random_splits(p, frac, seed, d):
    """Any split with a parallelogram: Z conserved, ℓ_eff non-increasing, RK4 on the exact flow."""
    th = _theory(p, frac, seed)
    if th.n_parallelograms == 0:
        return
    E0 = np.random.default_rng(seed).uniform(-0.5, 0.5, (2, p, d))
    exact = evolve(th.H_hat, E0, lr=LR, method="exact", n_times=40)
    assert exact.z_drift < 1e-12
    assert np.all(np.diff(exact.loss, axis=0) <= 1e-12 * exact.loss[0])
    # a quarter of the default step: at the default step the RK4 error of a stiff full table
    # reaches 1.007e-4 (p = 4, frac 1, seed 52, d = 2), and this checks agreement, not the default
    dt = default_step(th.H_hat, E0, LR, "rk4") / 4
    rk4 = evolve(th.H_hat, E0, exact.times, lr=LR, method="rk4-projected", dt=dt)
    assert rk4.z_drift < 1e-12 and _rel_dev(rk4.E, exact.E) < 1e-4
    if th.unique:  # the default horizon reaches the linear limit
        assert np.all(rqi(exact.E[-1]) == 1.0)


@pytest.mark.parametrize("method", ["rk4", "euler", "adam"])
def test_integrators_never_write_into_the_callers_embeddings(method):
    """d = 1: E0[b].T is a contiguous view, so a kernel that did not copy it (as numba's
    ascontiguousarray does not without the JIT) would overwrite the caller's E0."""
    th = linear_theory(Addition(6).split(frac=0.8, seed=0))
    E0 = np.random.default_rng(0).uniform(-0.5, 0.5, (2, 6, 1))
    before = E0.copy()
    evolve(th.H_hat, E0, np.array([0.0, 5.0, 10.0]), lr=1e-2, method=method, dt=None if method == "adam" else 1.0)
    np.testing.assert_array_equal(E0, before)
