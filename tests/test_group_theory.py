"""The matrix theory of a finite group: exact representations, derivatives, the flow on SO(k),
its numpy twin and the outcome classes."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.linalg

from efftheory.errors import InputError
from efftheory.theories.group.score import OUTCOMES, classify, nearest_rotations, score_matrices
from efftheory.theories.group.flow import _expm_skew, _loss_grad, group_flow
from efftheory.theories.group.loss import (
    group_gradient,
    group_loss,
    group_quads,
    haar_rotations,
    riemannian_gradient,
    sign_permutation_matrices,
    standard_in_so3,
)
from efftheory.theories.group.theory import conjugation_directions, representation_theory, residual_jacobian
from efftheory.theories.group.outcomes import outcome_curve
from efftheory.theories.group.simulation import simulate_group
from efftheory.reference import group_theory as naive
from efftheory.tasks import make_task, permutation_matrices, symmetric_group

S3 = make_task("s3")
FULL = group_quads(S3)


def random_skew(rng, shape, k):
    A = rng.standard_normal((*shape, k, k))
    return A - np.swapaxes(A, -1, -2)


def in_so(M, k):
    ortho = np.abs(np.swapaxes(M, -1, -2) @ M - np.eye(k)).max()
    return ortho, np.abs(np.linalg.det(M) - 1).max()


# ---------------------------------------------------------------- quads


def test_the_full_s3_table_has_90_quads_all_with_equal_products():
    assert FULL.shape == (90, 4)
    t = S3.cayley
    assert np.all(t[FULL[:, 0], FULL[:, 1]] == t[FULL[:, 2], FULL[:, 3]])
    assert not np.any(np.all(FULL[:, :2] == FULL[:, 2:], axis=1))  # distinct samples
    # 6 of them are (a, b), (b, a) with ab = ba: no additive constraint, a real matrix one
    swapped = np.all(FULL[:, :2] == FULL[:, [3, 2]], axis=1) & (FULL[:, 0] != FULL[:, 1])
    assert swapped.sum() == 6
    assert sorted(map(tuple, FULL)) == sorted(map(tuple, naive.quads(t)))


@pytest.mark.parametrize("seed", range(4))
def test_quads_of_a_training_set_match_the_brute_force_pairs(seed):
    rng = np.random.default_rng(seed)
    train = np.sort(rng.choice(36, 15, replace=False))
    assert sorted(map(tuple, group_quads(S3, train))) == sorted(map(tuple, naive.quads(S3.cayley, train)))


def test_quads_of_s4_count_every_class_pair():
    g = symmetric_group(4)
    assert group_quads(g).shape[0] == 24 * (24 * 23 // 2)  # 24 products with 24 samples each


# ---------------------------------------------------------------- exact representations


def test_permutation_matrices_have_det_minus_one_on_odd_permutations_so_the_sign_twist_is_used():
    P = permutation_matrices(3)
    det = np.linalg.det(P).round()
    assert sorted(det.tolist()) == [-1, -1, -1, 1, 1, 1]
    assert group_loss(P, FULL) == 0.0  # a representation in O(3), but not in SO(3)
    M = sign_permutation_matrices(3)
    assert in_so(M, 3) == (0.0, 0.0)
    for a, b in itertools.product(range(6), repeat=2):
        np.testing.assert_array_equal(M[a] @ M[b], M[S3.cayley[a, b]])


@pytest.mark.parametrize("rep", [sign_permutation_matrices(3), standard_in_so3()], ids=["sign-perm", "std+sign"])
def test_faithful_representations_in_so3_have_zero_loss_and_are_classified_faithful(rep):
    ortho, det = in_so(rep, 3)
    assert ortho < 1e-14 and det < 1e-14
    s = score_matrices(S3, rep)
    assert s.full_loss < 1e-28 and s.homomorphism_error < 1e-14
    # images of a 3-cycle differ by a rotation of 2π/3 (‖I − R‖² = 6), of a transposition by
    # diag(1, −1, −1) (‖I − R‖² = 8): the closest distinct images are √6 apart
    assert s.min_distance == pytest.approx(np.sqrt(6.0), abs=1e-12)
    assert s.outcome == "faithful"


def test_constant_and_sign_representations_have_zero_loss_and_are_unfaithful():
    const = np.broadcast_to(np.eye(3), (6, 3, 3))
    s = score_matrices(S3, const)
    assert s.full_loss == 0.0 and s.min_distance == 0.0 and s.outcome == "unfaithful"
    sign = np.round(np.linalg.det(permutation_matrices(3)))
    rot = np.array([np.diag([1.0, x, x]) for x in sign])  # trivial ⊕ sign ⊕ sign
    s = score_matrices(S3, rot)
    assert s.full_loss == 0.0 and s.homomorphism_error == 0.0 and s.outcome == "unfaithful"


def test_zero_loss_sets_are_homomorphisms_times_a_commuting_rotation():
    rho = standard_in_so3()
    rng = np.random.default_rng(1)
    # C = diag(−1, −1, 1) commutes with every std ⊕ sign matrix: M_a = ρ(a) C still has zero loss,
    # and M_e = C is not the identity
    C = np.diag([-1.0, -1.0, 1.0])
    M = rho @ C
    assert group_loss(M, FULL) < 1e-28
    assert score_matrices(S3, M).outcome == "faithful"
    # a C that does not commute: ρ(a) M_e⁻¹ is still the homomorphism, but the loss is not zero
    C = haar_rotations((), 3, rng)
    s = score_matrices(S3, rho @ C)
    assert s.homomorphism_error < 1e-13 and s.full_loss > 0.1 and s.outcome == "stalled"
    # constant C: the trivial homomorphism, with every C allowed
    assert group_loss(np.broadcast_to(C, (6, 3, 3)), FULL) < 1e-28


def test_score_normalises_scaled_matrices_and_handles_a_singular_identity_image():
    M = 2.5 * standard_in_so3()
    raw = score_matrices(S3, M)
    assert raw.full_loss < 1e-25 and raw.orthogonality == pytest.approx(5.25 * np.sqrt(3))
    s = score_matrices(S3, M, normalise=True)
    assert s.scale == pytest.approx(0.4) and s.orthogonality < 1e-14 and s.outcome == "faithful"
    zero = score_matrices(S3, np.zeros((6, 3, 3)))
    assert np.isnan(zero.homomorphism_error) and zero.outcome == "unfaithful"
    with pytest.raises(InputError, match="zero matrices"):
        score_matrices(S3, np.zeros((6, 3, 3)), normalise=True)
    with pytest.raises(InputError, match="6 matrices"):
        score_matrices(S3, np.zeros((5, 3, 3)))


def test_nearest_rotations_recover_a_representation_from_scaled_noisy_matrices():
    rep = standard_in_so3()
    rng = np.random.default_rng(21)
    np.testing.assert_allclose(nearest_rotations(rep), rep, atol=1e-14)
    np.testing.assert_allclose(nearest_rotations(3.0 * rep), rep, atol=1e-14)
    R = nearest_rotations(rng.standard_normal((50, 3, 3)))
    assert in_so(R, 3)[0] < 1e-13 and in_so(R, 3)[1] < 1e-13
    # no rotation is closer than the polar factor: compare with random rotations near it
    A = rng.standard_normal((3, 3))
    best = np.linalg.norm(A - nearest_rotations(A))
    others = [np.linalg.norm(A - nearest_rotations(A) @ scipy.linalg.expm(0.1 * random_skew(rng, (), 3)))
              for _ in range(50)]
    assert best <= min(others) + 1e-12
    noisy = 1.7 * (rep + 0.01 * rng.standard_normal(rep.shape))
    s = score_matrices(S3, noisy, normalise=True, project=True, loss_tol=1e-2)
    assert s.orthogonality < 1e-13 and s.outcome == "faithful" and 1e-6 < s.full_loss < 1e-2


def test_conjugation_leaves_the_loss_unchanged():
    rng = np.random.default_rng(2)
    M = rng.standard_normal((6, 3, 3))  # any matrices, not only rotations
    R = haar_rotations((), 3, rng)
    assert group_loss(R @ M @ R.T, FULL) == pytest.approx(group_loss(M, FULL), rel=1e-13)
    train = np.sort(rng.choice(36, 20, replace=False))
    q = group_quads(S3, train)
    assert group_loss(R @ M @ R.T, q) == pytest.approx(group_loss(M, q), rel=1e-13)
    # and the gradient is equivariant: ∇ℓ(R M Rᵀ) = R ∇ℓ(M) Rᵀ
    np.testing.assert_allclose(group_gradient(R @ M @ R.T, q), R @ group_gradient(M, q) @ R.T, atol=1e-12)


def test_random_rotations_score_about_2k():
    # E‖A − B‖² = 2k − 2 E tr(AᵀB) = 2k for independent Haar rotations
    M = haar_rotations((400, 6), 3, np.random.default_rng(3))
    assert np.mean(group_loss(M, FULL)) == pytest.approx(6.0, abs=0.25)


# ---------------------------------------------------------------- derivatives and twins


def test_euclidean_gradient_matches_finite_differences_and_the_twin():
    rng = np.random.default_rng(4)
    M = rng.standard_normal((6, 3, 3))
    q = group_quads(S3, np.sort(rng.choice(36, 25, replace=False)))
    G = group_gradient(M, q)
    np.testing.assert_allclose(G, naive.grad(M, q), atol=1e-12)
    eps = 1e-6
    fd = np.zeros_like(M)
    for idx in itertools.product(range(6), range(3), range(3)):
        up, down = M.copy(), M.copy()
        up[idx] += eps
        down[idx] -= eps
        fd[idx] = (group_loss(up, q) - group_loss(down, q)) / (2 * eps)
    np.testing.assert_allclose(G, fd, atol=1e-7)
    assert group_loss(M, q) == pytest.approx(naive.loss(M, q), rel=1e-13)


def test_riemannian_gradient_is_the_derivative_along_tangent_directions():
    rng = np.random.default_rng(5)
    M = haar_rotations(6, 3, rng)
    Om = riemannian_gradient(M, group_gradient(M, FULL))
    np.testing.assert_allclose(Om, -np.swapaxes(Om, -1, -2), atol=1e-15)  # skew
    for _ in range(3):
        X = random_skew(rng, (6,), 3)
        eps = 1e-6
        up = M @ np.array([scipy.linalg.expm(eps * x) for x in X])
        down = M @ np.array([scipy.linalg.expm(-eps * x) for x in X])
        fd = (group_loss(up, FULL) - group_loss(down, FULL)) / (2 * eps)
        assert fd == pytest.approx(np.sum(Om * X), rel=1e-7, abs=1e-9)


def test_kernel_loss_and_gradient_match_numpy():
    rng = np.random.default_rng(6)
    M = rng.standard_normal((6, 4, 4))
    q = group_quads(S3, np.sort(rng.choice(36, 30, replace=False)))
    G, R = np.empty_like(M), np.empty((4, 4))
    loss = _loss_grad(M, q, 0, q.shape[0], True, G, R)
    assert loss == pytest.approx(group_loss(M, q), rel=1e-13)
    np.testing.assert_allclose(G, group_gradient(M, q), atol=1e-12)
    assert _loss_grad(M, q, 3, 3, True, G, R) == 0.0 and not G.any()  # no quads: nothing


@pytest.mark.parametrize("k", [2, 3, 4, 5])
@pytest.mark.parametrize("scale", [1e-7, 0.3, 4.0])
def test_exponential_of_a_skew_matrix_matches_scipy(k, scale):
    W = scale * random_skew(np.random.default_rng(k), (), k)
    out, A, B = np.empty((k, k)), np.empty((k, k)), np.empty((k, k))
    _expm_skew(W, out, A, B)
    np.testing.assert_allclose(out, scipy.linalg.expm(W), atol=1e-14 * max(1.0, scale))
    assert in_so(out, k)[0] < 1e-13


def test_haar_rotations_are_rotations_with_haar_moments():
    M = haar_rotations(4000, 3, np.random.default_rng(7))
    ortho, det = in_so(M, 3)
    assert ortho < 1e-14 and det < 1e-14
    tr = np.trace(M, axis1=1, axis2=2)
    # on Haar SO(3): E M = 0, E tr M = 0, E (tr M)² = 1 (tr M = 1 + 2 cos θ)
    assert np.abs(M.mean(axis=0)).max() < 0.05
    assert tr.mean() == pytest.approx(0.0, abs=0.05) and np.mean(tr**2) == pytest.approx(1.0, abs=0.08)


# ---------------------------------------------------------------- the flow


@pytest.fixture(scope="module")
def full_flow():
    return group_flow(haar_rotations((24, 6), 3, np.random.default_rng(8)), FULL, max_steps=3000, n_record=40)


@pytest.mark.slow
def test_the_flow_stays_on_so3_and_never_increases_the_loss(full_flow):
    ortho, det = in_so(full_flow.M, 3)
    assert ortho < 1e-10 and det < 1e-10
    assert np.all(np.diff(full_flow.loss_history, axis=1) <= 0.0)
    assert np.all(np.diff(full_flow.time_history, axis=1) >= 0.0)
    np.testing.assert_allclose(full_flow.loss, group_loss(full_flow.M, FULL), rtol=1e-12, atol=1e-25)
    np.testing.assert_allclose(full_flow.loss_history[:, 0], group_loss(full_flow.M0, FULL), rtol=1e-13)
    assert full_flow.converged.all()


@pytest.mark.slow
def test_fitted_end_states_are_homomorphisms_times_a_central_rotation(full_flow):
    fitted = full_flow.loss < 1e-8
    assert fitted.sum() >= 5
    for M in full_flow.M[fitted]:
        e = S3.identity
        # M_e commutes with every M_b, and ρ(a) = M_a M_eᵀ multiplies like the group
        assert max(np.abs(M[e] @ M[b] - M[b] @ M[e]).max() for b in range(6)) < 1e-8
        assert score_matrices(S3, M).homomorphism_error < 1e-8


@pytest.mark.slow
def test_outcomes_on_the_full_table_have_a_clear_gap(full_flow):
    s = score_matrices(S3, full_flow.M)
    out = classify(full_flow.loss, s.full_loss, s.min_distance)
    fitted = np.isin(out, ("faithful", "unfaithful"))
    assert set(out) <= {"faithful", "unfaithful", "stalled"}
    assert full_flow.loss[fitted].max() < 1e-15 and full_flow.loss[~fitted].min() > 0.1
    d = s.min_distance[fitted]
    assert np.all((d < 1e-6) | (d > 1.0))  # images either coincide or are well apart


@pytest.mark.slow
@pytest.mark.parametrize("k, frac", [(3, 1.0), (3, 0.5), (2, 0.7), (4, 0.8)])
def test_the_kernel_follows_its_numpy_twin_step_by_step(k, frac):
    rng = np.random.default_rng(9)
    train = np.sort(rng.choice(36, round(frac * 36), replace=False))
    q = group_quads(S3, train)
    M0 = haar_rotations((2, 6), k, rng)
    # 20 steps: far from the end, where both decide every line search identically (near ℓ = 0
    # an Armijo test can flip on round-off and the two step counts then differ slightly)
    fast = group_flow(M0, q, max_steps=20, gtol=1e-9, n_record=30)
    for b in range(2):
        M, loss, steps, _, losses = naive.descend(M0[b], q, 20, 1e-9)
        assert fast.steps[b] == steps
        np.testing.assert_allclose(fast.M[b], M, atol=1e-11)
        np.testing.assert_allclose(fast.loss_history[b], np.array(losses)[np.minimum(fast.record, steps)],
                                   rtol=1e-10, atol=1e-14)


def test_batch_twin_agrees_with_the_kernel():
    rng = np.random.default_rng(10)
    q = group_quads(S3, np.sort(rng.choice(36, 24, replace=False)))
    M0 = haar_rotations((4, 6), 3, rng)
    np.testing.assert_allclose(group_flow(M0, q, max_steps=15).M, naive.BatchDescent(S3.cayley, q).run(M0, 15, 1e-9),
                               atol=1e-11)


def test_members_are_independent_and_quad_ranges_select_training_sets():
    rng = np.random.default_rng(11)
    M0 = haar_rotations((3, 6), 3, rng)
    sets = [np.sort(rng.choice(36, n, replace=False)) for n in (10, 20, 30)]
    blocks = [group_quads(S3, s) for s in sets]
    ends = np.cumsum([b.shape[0] for b in blocks])
    together = group_flow(M0, np.concatenate(blocks), quad_ranges=np.stack([np.r_[0, ends[:-1]], ends], 1),
                          max_steps=200)
    for b in range(3):
        alone = group_flow(M0[b], blocks[b], max_steps=200)
        np.testing.assert_array_equal(together.M[b], alone.M[0])


def test_without_quads_nothing_moves():
    M0 = haar_rotations((2, 6), 3, np.random.default_rng(12))
    f = group_flow(M0, np.zeros((0, 4), np.int64))
    np.testing.assert_array_equal(f.M, M0)
    assert np.all(f.steps == 0) and np.all(f.loss == 0.0) and f.converged.all()


def test_so2_is_abelian_so_no_flow_ends_faithful():
    # a homomorphism into the abelian SO(2) factors through S3 / A3: at most 2 distinct images
    flow = group_flow(haar_rotations((30, 6), 2, np.random.default_rng(13)), FULL, max_steps=3000)
    s = score_matrices(S3, flow.M)
    out = classify(flow.loss, s.full_loss, s.min_distance)
    assert "faithful" not in set(out)
    fitted = out == "unfaithful"
    for M in flow.M[fitted]:
        assert len({tuple(np.round(m, 6).ravel()) for m in M}) <= 2


def test_flow_refuses_non_rotations_and_bad_quads():
    with pytest.raises(InputError, match="SO\\(3\\)"):
        group_flow(2 * np.eye(3)[None].repeat(6, 0), FULL)
    with pytest.raises(InputError, match="quads"):
        group_flow(haar_rotations(6, 3, np.random.default_rng(0)), FULL + 6)
    with pytest.raises(InputError, match="FiniteGroup"):
        group_quads(make_task("add", 5))


# ---------------------------------------------------------------- outcomes


def test_classify_orders_the_tests():
    out = classify([1.0, 1e-12, 1e-12, 1e-12], [1.0, 0.5, 1e-12, 1e-12], [2.0, 2.0, 2.0, 0.0])
    assert out.tolist() == ["stalled", "fits-without-representation", "faithful", "unfaithful"]
    assert classify(0.0, 0.0, 2.4) == "faithful"


def test_outcome_curve_rows_are_reproducible_and_independent_of_the_other_fractions():
    a = outcome_curve(S3, [0.5, 1.0], trials=12, seed=3, max_steps=2000)
    b = outcome_curve(S3, [1.0], trials=12, seed=3, max_steps=2000)
    np.testing.assert_array_equal(a.counts[1], b.counts[0])
    assert a.outcomes == OUTCOMES and a.n_train.tolist() == [18, 36]
    np.testing.assert_array_equal(a.counts.sum(axis=1), [12, 12])
    assert np.all((a.ci_low <= a.fraction) & (a.fraction <= a.ci_high))
    assert a.counts[1, OUTCOMES.index("fits-without-representation")] == 0  # full table: fit = representation
    assert np.all(a.n_quads[1] == 90)


def test_simulate_group_on_one_split():
    sim = simulate_group(S3.split(frac=1.0, seed=0), trials=6, seed=1, max_steps=2000)
    assert sim.n_quads == 90 and sim.outcomes.shape == (6,)
    assert sum(sim.fraction.values()) == pytest.approx(1.0)
    assert sim.flow.loss_history.shape == (6, sim.flow.record.size)
    with pytest.raises(InputError, match="FiniteGroup"):
        simulate_group(make_task("add", 5).split(frac=0.5))


def test_survey_prints_one_json_row_per_fraction(capsys):
    import json

    from efftheory.theories.group.survey import main

    assert main(["--fracs", "0.5,1.0", "--trials", "4", "--max-steps", "500", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["frac"] for r in rows] == [0.5, 1.0] and [r["n_train"] for r in rows] == [18, 36]
    assert all(sum(r["fraction"].values()) == pytest.approx(1.0) for r in rows)
    assert rows[1]["median_quads"] == 90
    assert main(["--fracs", "1.5", "--trials", "2"]) == 2
    assert "fracs" in capsys.readouterr().err


def test_survey_plot_draws_the_merged_curve(tmp_path):
    from efftheory.theories.group.survey import main, merge

    png = tmp_path / "curve.png"
    assert main(["--fracs", "0.4,0.8", "--trials", "3", "--max-steps", "300", "--plot", str(png)]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG"
    parts = [outcome_curve(S3, [f], trials=3, seed=0, max_steps=300) for f in (0.4, 0.8)]
    whole = outcome_curve(S3, [0.4, 0.8], trials=3, seed=0, max_steps=300)
    merged = merge(parts)
    np.testing.assert_array_equal(merged.counts, whole.counts)
    np.testing.assert_array_equal(merged.train_loss, whole.train_loss)


# ---------------------------------------------------------------- linearisation at a representation


SIGN_REP = np.array([np.diag([1.0, s, s]) for s in np.round(np.linalg.det(permutation_matrices(3)))])
CONSTANT = np.broadcast_to(np.eye(3), (6, 3, 3)).copy()


def test_residual_jacobian_matches_finite_differences_of_the_residuals():
    rng = np.random.default_rng(20)
    M = haar_rotations(6, 3, rng)
    q = group_quads(S3, np.sort(rng.choice(36, 20, replace=False)))
    J = residual_jacobian(M, q)
    x = rng.standard_normal(J.shape[1])
    X = np.zeros((6, 3, 3))
    iu = np.triu_indices(3, 1)
    X[:, iu[0], iu[1]] = x.reshape(6, 3)
    X = X - np.swapaxes(X, -1, -2)
    eps = 1e-6
    res = lambda N: (N[q[:, 0]] @ N[q[:, 1]] - N[q[:, 2]] @ N[q[:, 3]]).reshape(-1)  # noqa: E731
    up = M @ np.array([scipy.linalg.expm(eps * x_) for x_ in X])
    down = M @ np.array([scipy.linalg.expm(-eps * x_) for x_ in X])
    np.testing.assert_allclose(J @ x, (res(up) - res(down)) / (2 * eps), atol=1e-8)


@pytest.mark.parametrize("rep, orbit", [(standard_in_so3(), 3), (sign_permutation_matrices(3), 3), (SIGN_REP, 2),
                                        (CONSTANT, 0)], ids=["std+sign", "sign-perm", "sign", "constant"])
def test_on_the_full_table_every_representation_has_three_null_directions(rep, orbit):
    th = representation_theory(S3, rep)
    # faithful: the 3-dim conjugation orbit (finite centraliser); sign type: a 2-dim orbit and
    # the rotations about its axis (the centraliser); constant: no orbit, any constant C
    assert th.n_quads == 90 and th.n_coords == 18 and th.nullity == th.full_nullity == 3
    assert th.orbit_dim == orbit and th.free_directions == 0 and th.locally_unique
    J = residual_jacobian(rep, FULL)
    np.testing.assert_allclose(J @ conjugation_directions(rep), 0.0, atol=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_at_the_constant_representation_the_theory_is_three_copies_of_the_additive_one(seed):
    from efftheory.theories.linear.theory import hessian

    rng = np.random.default_rng(seed)
    train = np.sort(rng.choice(36, 6 + 2 * seed, replace=False))
    th = representation_theory(S3, CONSTANT, train)
    # at M = I the first-order constraint is X_a + X_b = X_c + X_d per skew component: the additive
    # parallelograms (a commuting (a, b), (b, a) gives 0 = 0 there too)
    rank_additive = np.linalg.matrix_rank(hessian(S3, train).astype(float))
    assert th.nullity == 3 * (6 - rank_additive)
    assert th.locally_unique == (rank_additive == 5)


def test_representation_theory_refuses_a_non_representation():
    with pytest.raises(InputError, match="zero loss"):
        representation_theory(S3, haar_rotations(6, 3, np.random.default_rng(0)))


def test_unique_probability_counts_locally_unique_training_sets():
    from efftheory.theories.group.theory import unique_probability

    frac, lo, hi = unique_probability(S3, standard_in_so3(), [0.2, 1.0], trials=20, seed=1)
    assert frac[1] == 1.0 and lo[0] <= frac[0] <= hi[0]
    rng = np.random.default_rng([1, 7])  # the sets of the first fraction, redrawn
    hits = sum(representation_theory(S3, standard_in_so3(), np.sort(rng.choice(36, 7, replace=False))).locally_unique
               for _ in range(20))
    assert frac[0] == hits / 20
