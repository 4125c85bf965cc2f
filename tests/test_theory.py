import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from efftheory.tasks import Addition, Split
from efftheory.tasks.parallelograms import count_parallelograms, parallelogram_quads, parallelograms
from efftheory.theories.linear.theory import hessian, linear_theory
from efftheory.reference import theory as naive


def random_split(p, n, seed):
    return Addition(p).split(n_train=n, seed=seed)


@pytest.mark.parametrize("p", range(2, 13))
def test_number_of_parallelograms_matches_brute_force(p):
    expected = len(naive.brute_force_parallelograms(naive.all_pairs(p)))
    task = Addition(p)
    assert len(parallelograms(task)) == expected == count_parallelograms(task, np.arange(task.n_samples))
    if p == 10:
        assert expected == 70


def test_quads_have_equal_sums_and_distinct_samples():
    q = parallelogram_quads(Addition(9))
    assert np.all(q[:, 0] + q[:, 1] == q[:, 2] + q[:, 3])
    assert not np.any((q[:, 0] == q[:, 2]) & (q[:, 1] == q[:, 3]))


@settings(max_examples=40, deadline=None)
@given(p=st.integers(2, 12), data=st.data())
def test_hessian_from_class_sums_equals_enumeration(p, data):
    N = p * (p + 1) // 2
    n = data.draw(st.integers(1, N))
    split = random_split(p, n, data.draw(st.integers(0, 10_000)))
    H = hessian(split.task, split.train)
    assert np.array_equal(H, naive.hessian_by_enumeration(p, split.train_pairs))
    assert count_parallelograms(split.task, split.train) == len(naive.brute_force_parallelograms(split.train_pairs))


@settings(max_examples=40, deadline=None)
@given(p=st.integers(3, 14), data=st.data())
def test_translation_and_scaling_are_always_null(p, data):
    N = p * (p + 1) // 2
    split = random_split(p, data.draw(st.integers(1, N)), data.draw(st.integers(0, 10_000)))
    th = linear_theory(split)
    assert np.all(th.H @ np.ones(p) == 0)
    assert np.all(th.H @ np.arange(p) == 0)
    assert th.eigenvalues[0] == 0.0 and th.eigenvalues[1] == 0.0
    assert np.all(th.eigenvalues >= 0) and np.all(np.diff(th.eigenvalues) >= 0)
    assert th.dof >= 0 and th.unique == (th.dof == 0)
    assert (th.grokking_rate > 0) == th.unique


@pytest.mark.parametrize("p", [2, 3, 5, 10, 23, 59])
def test_full_data_set_is_unique_with_ideal_accuracy_one(p):
    th = linear_theory(Addition(p).split(frac=1.0))
    assert th.dof == 0 and th.unique
    assert th.ideal_full_accuracy == 1.0 and th.ideal_test_accuracy is None
    if p == 2:
        assert th.grokking_rate is None and th.n_parallelograms == 0
    else:
        assert th.grokking_rate > 0


def test_tiny_training_sets_leave_freedom():
    # One sample per sum: no parallelogram at all, H = 0, dof = p - 2, ℓ_eff = 0.
    task = Addition(8)
    one_per_sum = [int(np.flatnonzero(task.sums == s)[0]) for s in range(task.n_classes)]
    th = linear_theory(Split.from_indices(task, one_per_sum))
    assert th.n_parallelograms == 0 and not th.H.any() and not th.H_hat.any()
    assert th.rank == 0 and th.dof == 6 and th.grokking_rate == 0.0
    # A few parallelograms still leave free directions.
    th = linear_theory(Addition(10).split(n_train=12, seed=0))
    assert th.dof > 0 and not th.unique and th.grokking_rate == 0.0


def test_normalised_hessian_gives_mean_squared_residual():
    split = Addition(9).split(frac=0.6, seed=1)
    th = linear_theory(split)
    E = np.random.default_rng(0).normal(size=(9, 3))
    A = naive.constraint_matrix(9, split.train_pairs)
    mean_sq = np.mean(np.sum((A @ E) ** 2, axis=1))
    assert np.isclose(np.trace(E.T @ th.H_hat @ E), mean_sq)


@settings(max_examples=30, deadline=None)
@given(p=st.integers(3, 8), data=st.data())
def test_rank_decision_equals_exact_rational_rank(p, data):
    N = p * (p + 1) // 2
    split = random_split(p, data.draw(st.integers(1, N)), data.draw(st.integers(0, 10_000)))
    th = linear_theory(split)
    assert th.rank == naive.exact_rank(th.H)


@settings(max_examples=30, deadline=None)
@given(p=st.integers(3, 9), data=st.data())
def test_ideal_accuracy_equals_rank_closure(p, data):
    N = p * (p + 1) // 2
    split = random_split(p, data.draw(st.integers(1, N - 1)), data.draw(st.integers(0, 10_000)))
    th = linear_theory(split)
    expected = naive.ideal_test_accuracy_by_rank_closure(
        p, [tuple(r) for r in split.train_pairs], [tuple(r) for r in split.test_pairs]
    )
    assert th.ideal_test_accuracy == pytest.approx(expected, abs=1e-12)
    n_implied = round(expected * split.test.size)
    assert th.ideal_full_accuracy == pytest.approx((split.n_train + n_implied) / N)


def test_unique_split_implies_every_test_sample_whose_sum_is_seen():
    split = Addition(10).split(frac=0.8, seed=0)
    th = linear_theory(split)
    assert th.unique
    seen = np.isin(split.task.sums[split.test], split.task.sums[split.train])
    assert th.ideal_test_accuracy == pytest.approx(seen.mean())


def test_grokking_rate_is_third_eigenvalue_of_normalised_hessian():
    th = linear_theory(Addition(10).split(frac=0.8, seed=0))
    lam = np.linalg.eigvalsh(th.H / th.n_parallelograms)
    assert th.grokking_rate == pytest.approx(lam[2], rel=1e-10)
    assert th.smallest_eigenvalues(4) == pytest.approx(np.maximum(lam[:4], 0), abs=1e-12)
