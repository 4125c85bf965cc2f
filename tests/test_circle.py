"""Circle theory of modular addition: exact rings, derivatives, numpy twins, linear theory."""

from __future__ import annotations

import math

import numpy as np
import pytest

from efftheory.theories.circle.ring import (
    OUTCOMES,
    circle_rqi,
    collapsed,
    circle_threshold,
    classify_outcome,
    modular_quads,
    ring_fit,
    ring_frequency,
)
from efftheory.theories.circle.flow import (
    _by_class,
    _class_loss_grad,
    _descend_classes,
    circle_flow,
    circle_gradient,
    circle_loss,
    curvature_bound,
)
from efftheory.theories.circle.theory import circle_linear_theory, modular_hessian, modular_hessian_from_classes
from efftheory.theories.circle.probability import ring_probability
from efftheory.errors import InputError
from efftheory.reference import circle as naive


def ring(p, f, theta0=0.3):
    return theta0 + 2 * np.pi * f * np.arange(p) / p


def random_split(p, frac, seed):
    """Training samples (a <= b) drawn at random and their parallelograms, built by the twin."""
    rng = np.random.default_rng(seed)
    all_samples = naive.samples(p)
    pick = np.sort(rng.choice(len(all_samples), round(frac * len(all_samples)), replace=False))
    return naive.quads(p, [all_samples[i] for i in pick])


@pytest.fixture(scope="module")
def full11():
    return naive.quads(11)


# ---------------------------------------------------------------- parallelograms and Hessian


@pytest.mark.parametrize("p", [5, 8, 11])
def test_modular_quads_match_the_brute_force_pairs(p):
    ours, twin = modular_quads(p), naive.quads(p)
    assert sorted(map(tuple, ours)) == sorted(map(tuple, twin))


@pytest.mark.parametrize("p", [5, 11, 13])
def test_full_table_hessian_is_c_times_centring(p):
    """For odd p every class has (p + 1)/2 samples and H_mod = c (I − 11ᵀ/p), c = p(p+3)/2."""
    H = modular_hessian(p, naive.quads(p))
    c = p * (p + 3) / 2
    assert np.allclose(H, c * (np.eye(p) - np.ones((p, p)) / p), atol=1e-9)
    assert np.allclose(H, naive.hessian(p, naive.quads(p)))
    theory = circle_linear_theory(p, naive.quads(p))
    assert theory.rank == p - 1 and theory.free_directions == 0 and theory.locally_unique
    assert theory.rate == pytest.approx(c / len(naive.quads(p)))


def test_even_p_full_table_is_locally_unique_but_not_a_multiple_of_centring():
    # for even p the classes have p/2 or p/2 + 1 samples, so H_mod is not c (I − 11ᵀ/p)
    H = modular_hessian(12, naive.quads(12))
    assert circle_linear_theory(12, naive.quads(12)).rank == 11
    assert not np.allclose(H, H[0, 0] * 12 / 11 * (np.eye(12) - 1 / 12))


def test_free_directions_of_a_small_training_set():
    qs = random_split(13, 0.1, seed=3)
    theory = circle_linear_theory(13, qs)
    rank = np.linalg.matrix_rank(naive.hessian(13, qs))
    assert theory.rank == rank < 12
    assert theory.free_directions == 12 - rank and not theory.locally_unique
    assert theory.rate == pytest.approx(np.sort(np.linalg.eigvalsh(naive.hessian(13, qs)))[13 - rank] / len(qs))


# ---------------------------------------------------------------- rings, loss, RQI


@pytest.mark.parametrize("p", [10, 11])
def test_every_exact_ring_has_zero_loss_and_rqi_one(p, full11):
    full = full11 if p == 11 else naive.quads(p)
    for f in range(p):
        theta = ring(p, f)
        assert circle_loss(theta, full) < 1e-28
        # every parallelogram holds; the collapsed f = 0 ring separates nothing and scores 0
        assert circle_rqi(theta, full) == (1.0 if f else 0.0)
        assert naive.rqi(theta, full, circle_threshold(p)) == 1.0
        k, coh = ring_frequency(theta)
        if f:
            assert coh == pytest.approx(1.0) and k % p == f and abs(k) <= p / 2
        # the numba kernel agrees (the loss saved at time 0)
        assert circle_flow(theta, full, times=[0]).loss[0, 0] < 1e-28


def test_collapsed_phases_score_zero_but_a_ring_with_a_common_offset_does_not():
    p, full = 13, naive.quads(13)
    rng = np.random.default_rng(5)
    near_collapse = 0.7 + rng.uniform(-0.01, 0.01, p)  # every |φ_q| < 0.04, far below the tolerance
    assert naive.rqi(near_collapse, full, circle_threshold(p)) == 1.0  # the plain count is fooled
    assert collapsed(near_collapse) and circle_rqi(near_collapse, full) == 0.0
    batch = np.stack([near_collapse, ring(p, 3) + 2.0, rng.uniform(0, 2 * np.pi, p)])
    assert collapsed(batch).tolist() == [True, False, False]
    assert circle_rqi(batch, full)[:2].tolist() == [0.0, 1.0]


def test_signed_frequency_gives_the_orientation():
    assert ring_frequency(ring(11, 3))[0] == 3
    assert ring_frequency(ring(11, 8))[0] == -3
    k, coh = ring_frequency(np.stack([ring(11, 2), ring(11, 10)]))
    assert k.tolist() == [2, -1] and np.allclose(coh, 1.0)


def test_ring_frequency_matches_twin():
    theta = np.random.default_rng(0).uniform(0, 2 * np.pi, (5, 9))
    k, coh = ring_frequency(theta)
    for t in range(5):
        f, c = naive.frequency(theta[t])
        assert k[t] % 9 == f and coh[t] == pytest.approx(c)


def test_random_phases_have_rqi_near_zero(full11):
    full = naive.quads(23)
    theta = np.random.default_rng(1).uniform(0, 2 * np.pi, (20, 23))
    score = circle_rqi(theta, full)
    # uniform φ holds with probability 2κ/p = 0.026
    assert score.shape == (20,) and 0.005 < score.mean() < 0.06
    assert np.allclose(score, [naive.rqi(t, full, circle_threshold(23)) for t in theta])


def test_perturbed_ring_still_counts_and_a_shifted_one_does_not():
    p, full = 23, naive.quads(23)
    rng = np.random.default_rng(2)
    spacing = 2 * np.pi / p
    near = ring(p, 4) + rng.uniform(-0.07, 0.07, p) * spacing  # |φ| <= 0.28 spacing < κ
    assert circle_rqi(near, full) == 1.0
    far = ring(p, 4) + rng.uniform(-0.5, 0.5, p) * spacing
    assert circle_rqi(far, full) < 0.8


def test_loss_matches_twin_and_is_batched():
    qs = random_split(11, 0.5, seed=0)
    theta = np.random.default_rng(3).uniform(0, 2 * np.pi, (2, 3, 11))
    out = circle_loss(theta, qs)
    assert out.shape == (2, 3)
    assert np.allclose(out, [[naive.loss(t, qs) for t in row] for row in theta], rtol=1e-12)
    assert 0 <= out.min() and out.max() <= 2


# ---------------------------------------------------------------- gradient


def test_gradient_against_central_differences():
    qs = random_split(11, 0.5, seed=1)
    theta = np.random.default_rng(4).uniform(0, 2 * np.pi, 11)
    g = circle_gradient(theta, qs)
    h = 1e-6
    fd = np.array([(circle_loss(theta + h * e, qs) - circle_loss(theta - h * e, qs)) / (2 * h) for e in np.eye(11)])
    assert np.allclose(g, fd, atol=1e-8)
    assert np.allclose(g, naive.grad(theta, qs), atol=1e-14)


def test_gradient_sums_to_zero_so_rotation_is_free():
    qs = random_split(13, 0.4, seed=2)
    theta = np.random.default_rng(5).uniform(0, 2 * np.pi, (6, 13))
    assert np.allclose(circle_gradient(theta, qs).sum(axis=-1), 0.0, atol=1e-14)
    assert np.allclose(circle_loss(theta + 1.234, qs), circle_loss(theta, qs), atol=1e-13)


# ---------------------------------------------------------------- flow


@pytest.mark.parametrize("method", ["gd", "rk4"])
def test_flow_kernel_equals_twin(method):
    p = 7
    qs = random_split(p, 0.7, seed=4)
    theta0 = np.random.default_rng(6).uniform(0, 2 * np.pi, (3, p))
    times = [0.0, 3.0, 10.0, 25.0]
    traj = circle_flow(theta0, qs, times=times, lr=0.4, method=method, dt=None if method == "gd" else 0.7)
    for b in range(3):
        twin = naive.flow(theta0[b], qs, times, 0.4, traj.dt, scheme=method)
        assert np.allclose(traj.theta[:, b], twin, rtol=1e-12, atol=1e-12)
        assert np.allclose(traj.loss[:, b], [naive.loss(t, qs) for t in twin], atol=1e-14)


def draw_samples(p, frac, seed):
    rng = np.random.default_rng(seed)
    all_samples = naive.samples(p)
    return np.array([all_samples[i] for i in np.sort(rng.choice(len(all_samples), round(frac * len(all_samples)), replace=False))])


def test_class_sums_give_the_loss_and_gradient_of_the_parallelograms():
    p = 13
    train = draw_samples(p, 0.4, seed=12)
    qs = naive.quads(p, train)
    pairs, starts, n_quads = _by_class(p, [train])
    theta = np.random.default_rng(13).uniform(0, 2 * np.pi, p)
    c, s, g = np.empty(p), np.empty(p), np.empty(p)
    big = np.empty(len(train))
    loss = _class_loss_grad(theta, pairs, starts, 0, p, n_quads[0], c, s, big, big.copy(), g)
    assert n_quads[0] == len(qs)
    assert loss == pytest.approx(naive.loss(theta, qs), rel=1e-12)
    assert np.allclose(g, naive.grad(theta, qs), atol=1e-14)
    assert np.allclose(modular_hessian_from_classes(p, train), naive.hessian(p, qs))


def test_descend_kernel_equals_twin_with_two_training_sets():
    p = 7
    train = [draw_samples(p, 0.5, seed=s) for s in (7, 8)]
    sets = [naive.quads(p, d) for d in train]
    theta = np.random.default_rng(7).uniform(0, 2 * np.pi, (2, p))
    start = theta.copy()
    lr = np.array([1 / curvature_bound(p, q) for q in sets])
    pairs, starts, n_quads = _by_class(p, train)
    loss, steps = np.zeros(2), np.zeros(2, np.int64)
    _descend_classes(theta, pairs, starts, np.array([0, p, 2 * p]), n_quads, lr, 300, 1e-9, loss, steps)
    for b in range(2):
        th, ell, st = naive.descend(start[b], sets[b], lr[b], 300, 1e-9)
        assert st == steps[b] and np.allclose(theta[b], th, atol=1e-12) and ell == pytest.approx(loss[b], abs=1e-14)


@pytest.mark.parametrize("method", ["gd", pytest.param("rk4", marks=pytest.mark.jit_heavy)])
def test_loss_never_increases_and_rotation_is_conserved(method):
    qs = random_split(23, 0.3, seed=5)
    theta0 = np.random.default_rng(8).uniform(0, 2 * np.pi, (4, 23))
    traj = circle_flow(theta0, qs, times=np.arange(0, 600, 3.0), method=method)  # default lr 1/λ_max
    assert np.all(np.diff(traj.loss, axis=0) <= 1e-15)
    assert np.allclose(traj.theta.sum(axis=-1), theta0.sum(axis=-1)[None], atol=1e-10)


@pytest.mark.parametrize("method", ["gd", "rk4"])
def test_loss_decays_at_the_linear_rate_near_a_ring(method):
    """ℓ(t) ~ exp(−2 η λ_min t) for the flow, (1 − η λ_min)^(2t) for gradient descent."""
    p = 11
    qs = random_split(p, 0.6, seed=9)
    theory = circle_linear_theory(p, qs)
    assert theory.locally_unique
    theta0 = ring(p, 2) + 0.02 * np.random.default_rng(9).standard_normal(p)
    lr = 0.5 / theory.eigenvalues[-1]
    # late enough for the faster modes to have died out, early enough to stay above round-off
    t1 = float(round(8 / (lr * theory.rate)))
    t2 = 2 * t1
    traj = circle_flow(theta0, qs, times=[t1, t2], lr=lr, method=method)
    slope = math.log(traj.loss[1, 0] / traj.loss[0, 0]) / (t2 - t1)
    lam = theory.rate
    expected = 2 * math.log(1 - lr * lam) if method == "gd" else -2 * lr * lam
    assert slope == pytest.approx(expected, rel=1e-2)


def test_flow_input_errors():
    qs = naive.quads(5)
    with pytest.raises(InputError, match="steps"):
        circle_flow(np.zeros(5), qs)
    with pytest.raises(InputError, match="method"):
        circle_flow(np.zeros(5), qs, steps=3, method="adam")
    with pytest.raises(InputError, match="symbols"):
        circle_flow(np.zeros(4), qs, steps=3)
    with pytest.raises(InputError, match="whole"):
        circle_flow(np.zeros(5), qs, times=[0.5])


# ---------------------------------------------------------------- ring fit


@pytest.mark.parametrize("method", ["pca", "fourier"])
def test_ring_fit_recovers_frequency_in_a_random_plane(method):
    p, d = 11, 8
    rng = np.random.default_rng(10)
    plane, _ = np.linalg.qr(rng.standard_normal((d, 2)))
    circle = np.stack([np.cos(ring(p, 3)), np.sin(ring(p, 3))], axis=1)
    E = 2.5 * circle @ plane.T + 1.0 + 0.02 * rng.standard_normal((p, d))
    fit = ring_fit(E, method=method)
    assert abs(fit.frequency) == 3 and fit.coherence > 0.99
    assert fit.variance_explained > 0.95 and fit.phases.shape == (p,)


# ---------------------------------------------------------------- outcomes


def test_classify_outcome_thresholds():
    p = 11
    theta = np.stack([ring(p, 2), ring(p, 2), np.random.default_rng(11).uniform(0, 2 * np.pi, p), ring(p, 0)])
    out = classify_outcome(theta, np.array([0.0, 0.1, 0.0, 0.0]))
    assert out.tolist() == ["ring", "stalled", "fits-without-ring", "collapsed"]
    assert classify_outcome(ring(p, 1), 2e-6, loss_tol=1e-5) == "ring"


def test_ring_probability_full_table_always_finds_a_ring():
    res = ring_probability(11, 1.0, trials=6, seed=0)
    assert res.fraction == {"ring": 1.0, "collapsed": 0.0, "stalled": 0.0, "fits-without-ring": 0.0}
    assert res.ci_low["ring"] > 0.5 and res.ci_high["stalled"] < 0.5
    assert np.all(res.converged) and np.all(res.full_rqi == 1.0) and np.all(res.frequency != 0)


def test_ring_probability_is_reproducible_and_consistent():
    a = ring_probability(11, 0.3, trials=5, seed=3)
    b = ring_probability(11, 0.3, trials=5, seed=3)
    assert a.outcomes.tolist() == b.outcomes.tolist() and np.array_equal(a.loss, b.loss)
    assert sum(a.fraction[o] for o in OUTCOMES) == pytest.approx(1.0)
    for o in OUTCOMES:
        assert a.ci_low[o] <= a.fraction[o] <= a.ci_high[o]
    assert a.n_train == round(0.3 * 66)


def test_survey_prints_one_json_row_per_fraction(capsys):
    import json

    from efftheory.theories.circle.survey import main

    assert main(["--p", "7", "--fracs", "0.5,1.0", "--trials", "3", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["frac"] for r in rows] == [0.5, 1.0] and all(r["trials"] == 3 for r in rows)
    assert sum(rows[1]["fraction"].values()) == pytest.approx(1.0)
    assert main(["--p", "7", "--fracs", "2.0", "--trials", "3"]) == 2
    assert "frac" in capsys.readouterr().err


@pytest.mark.parametrize("method", ["gd", "rk4"])
def test_flow_from_samples_equals_flow_from_parallelograms(method):
    p = 11
    train = draw_samples(p, 0.4, seed=14)
    theta0 = np.random.default_rng(15).uniform(0, 2 * np.pi, (3, p))
    by_quads = circle_flow(theta0, naive.quads(p, train), times=[0, 5, 40], method=method)
    by_class = circle_flow(theta0, samples=train, times=[0, 5, 40], method=method)
    assert by_class.lr == pytest.approx(by_quads.lr) and by_class.dt == pytest.approx(by_quads.dt)
    assert np.allclose(by_class.theta, by_quads.theta, atol=1e-12)
    assert np.allclose(by_class.loss, by_quads.loss, rtol=1e-10, atol=1e-16)
    with pytest.raises(InputError, match="exactly one"):
        circle_flow(theta0, naive.quads(p, train), samples=train, steps=3)


def test_circle_linear_theory_is_the_linear_theory_of_the_modular_task():
    """One Hessian: the circle's linearisation at a ring is linear_theory of a ModularAddition split."""
    from efftheory.tasks import ModularAddition
    from efftheory.theories.linear.theory import linear_theory

    for frac, seed in ((0.3, 0), (0.5, 1), (1.0, 0)):
        split = ModularAddition(11).split(frac=frac, seed=seed)
        th = linear_theory(split)
        circ = circle_linear_theory(11, modular_quads(11, split.train_pairs))
        assert circ.rank == th.rank and circ.free_directions == th.dof
        assert circ.locally_unique == th.unique
        if th.unique:
            assert circ.rate == pytest.approx(th.grokking_rate, rel=1e-9)
