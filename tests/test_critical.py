import numba
import numpy as np
import pytest

from efftheory.theories.linear.critical import _prefix_ranks, critical_curve, n_star_samples
from efftheory.errors import InputError
from efftheory.stats import crossing, wilson_interval
from efftheory.tasks import Addition, Split
from efftheory.theories.linear.theory import hessian, linear_theory
from efftheory.reference import theory as naive


@pytest.mark.parametrize("p", [3, 5, 8, 13])
def test_incremental_rank_equals_rank_of_every_prefix(p):
    task = Addition(p)
    rng = np.random.default_rng(p)
    for _ in range(3):
        order = rng.permutation(task.n_samples)
        ranks = _prefix_ranks(order, np.ascontiguousarray(task.pairs), np.ascontiguousarray(task.labels), task.n_classes, p)
        for k in range(1, task.n_samples + 1):
            H = hessian(task, order[:k])
            assert ranks[k - 1] == naive.numpy_rank(H.astype(float)), (p, k)


@pytest.mark.parametrize("p", [4, 7, 10])
def test_n_star_is_the_first_unique_prefix(p):
    task = Addition(p)
    rng = np.random.default_rng(0)
    for _ in range(5):
        order = rng.permutation(task.n_samples)
        ranks = _prefix_ranks(order, np.ascontiguousarray(task.pairs), np.ascontiguousarray(task.labels), task.n_classes, p)
        n_star = int(np.argmax(ranks >= p - 2)) + 1
        unique = [linear_theory(Split.from_indices(task, order[:k])).unique for k in range(1, task.n_samples + 1)]
        assert unique.index(True) + 1 == n_star


def test_curve_shape_and_limits():
    curve = critical_curve(10, trials=3000, seed=1)
    assert curve.n.tolist() == list(range(1, 56))
    assert np.all(np.diff(curve.p_unique) >= 0)
    # Each sample adds at most one direction, and the first of each sum adds none,
    # so rank p - 2 needs at least p - 1 samples.
    assert np.all(curve.p_unique[: 10 - 2] == 0)
    assert curve.p_unique[-1] == 1.0
    assert np.all((curve.ci_low <= curve.p_unique) & (curve.p_unique <= curve.ci_high))
    assert curve.p_unique[24] == pytest.approx(np.mean(curve.n_star <= 25))


def test_paper_critical_fraction_at_p10():
    curve = critical_curve(10, trials=4000, seed=0)
    # The paper reports r_c ≈ 0.4 for p = 10.
    assert 0.37 < curve.r_c < 0.44
    assert curve.p_unique[int(np.floor(curve.n_c)) - 1] < 0.5 <= curve.p_unique[int(np.ceil(curve.n_c)) - 1]


@pytest.mark.parametrize("n", [5, 7, 9, 12])
def test_one_pass_curve_agrees_with_direct_monte_carlo(n):
    p, trials = 6, 400
    curve = critical_curve(p, trials=4000, seed=2)
    direct = naive.p_unique_direct(p, n, trials, np.random.default_rng(n))
    sigma = np.sqrt(max(direct * (1 - direct), 0.01) / trials)
    assert abs(direct - curve.p_unique[n - 1]) < 4.5 * sigma


def test_reproducible_for_a_seed_whatever_the_thread_count():
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = n_star_samples(12, 500, seed=7)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = n_star_samples(12, 500, seed=7)
    finally:
        numba.set_num_threads(before)
    assert np.array_equal(one, many)
    assert np.array_equal(n_star_samples(12, 500, seed=7, chunk=37), one)
    assert not np.array_equal(n_star_samples(12, 500, seed=8), one)


def test_p2_is_trivially_unique():
    curve = critical_curve(2, trials=10)
    assert np.all(curve.p_unique == 1.0) and curve.n_c == 1.0


@pytest.mark.parametrize("kwargs", [dict(trials=0), dict(trials=-5), dict(seed=-1), dict(trials=2.5)])
def test_bad_arguments(kwargs):
    with pytest.raises(InputError):
        critical_curve(10, **kwargs)


def test_wilson_interval_known_values():
    low, high = wilson_interval(5, 10)
    assert (low, high) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(0.2775, abs=1e-4)
    low, high = wilson_interval(np.array([10]), np.array([10]))
    assert high[0] == 1.0 and low[0] == pytest.approx(0.7225, abs=1e-4)


def test_crossing_interpolates_linearly():
    x = np.array([1.0, 2.0, 3.0, 4.0])
    assert crossing(x, np.array([0.0, 0.2, 0.6, 1.0])) == pytest.approx(2.75)
    assert crossing(x, np.array([0.0, 0.5, 0.6, 1.0])) == 2.0
    assert crossing(x, np.array([0.0, 0.1, 0.2, 0.3])) is None
