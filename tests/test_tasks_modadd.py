"""Tasks as operation tables: modular addition, ordered and unordered, against brute force."""


import numpy as np
import pytest

from efftheory.theories.linear.critical import n_star_samples
from efftheory.errors import InputError
from efftheory.theories.linear.metrics import rqi
from efftheory.tasks import Addition, ModularAddition, Split, make_task
from efftheory.tasks.parallelograms import count_parallelograms, parallelograms
from efftheory.theories.linear.theory import hessian, linear_theory
from efftheory.reference import theory as naive


def modular(p):
    return lambda s: (s[0] + s[1]) % p


@pytest.mark.parametrize("p", [2, 3, 5, 7, 10])
@pytest.mark.parametrize("ordered", [False, True])
def test_modadd_parallelograms_match_brute_force(p, ordered):
    task = ModularAddition(p, ordered=ordered)
    samples = [tuple(s) for s in task.pairs]
    expected = naive.brute_force_parallelograms(samples, modular(p))
    every = np.arange(task.n_samples)
    assert len(parallelograms(task)) == len(expected) == count_parallelograms(task, every)
    got = {(tuple(task.pairs[a]), tuple(task.pairs[b])) for a, b in parallelograms(task)}
    assert got == set(expected)


@pytest.mark.parametrize("ordered", [False, True])
def test_modadd_counts_on_random_subsets(ordered):
    rng = np.random.default_rng(1)
    for p in (5, 8, 11):
        task = ModularAddition(p, ordered=ordered)
        for n in (3, task.n_samples // 2, task.n_samples):
            train = np.sort(rng.choice(task.n_samples, n, replace=False))
            pairs = task.pairs[train]
            assert count_parallelograms(task, train) == len(naive.brute_force_parallelograms(pairs, modular(p)))
            assert np.array_equal(hessian(task, train), naive.hessian_by_enumeration(p, pairs, modular(p)))


@pytest.mark.parametrize("p", [5, 7, 11, 13])
def test_full_table_modular_hessian_is_c_times_centring(p):
    """Unordered pairs, odd p: H_mod = c (I - 11ᵀ/p) with c = p (p + 3) / 2. (For even p the
    classes are not all alike — 2a ≡ 2b has solutions with a ≠ b — and the identity fails.)"""
    task = ModularAddition(p)
    H = hessian(task, np.arange(task.n_samples))
    c = p * (p + 3) / 2
    assert np.allclose(H, c * (np.eye(p) - np.ones((p, p)) / p))


def test_full_table_modular_hessian_at_even_p_is_not_the_centring():
    task = ModularAddition(12)
    H = hessian(task, np.arange(task.n_samples))
    assert not np.allclose(H, H[0, 0] * (np.eye(12) - np.ones((12, 12)) / 12))
    assert np.linalg.matrix_rank(H) == 11  # still only the constant vector is free


def test_modadd_linear_theory_reports_the_ring_rotation_only():
    th = linear_theory(ModularAddition(11).split(frac=1.0))
    assert th.rank == 10 and th.dof == 0 and th.unique
    assert th.grokking_rate == pytest.approx(th.eigenvalues[1]) and th.grokking_rate > 0


def test_addition_labels_unchanged_and_ordered_addition_has_no_trivial_parallelograms():
    task = Addition(6)
    assert np.array_equal(task.sums, task.pairs.sum(axis=1)) and task.n_classes == 11
    ordered = Addition(4, ordered=True)
    assert ordered.n_samples == 16
    for a, b in parallelograms(ordered):
        u, v = ordered.pairs[a], ordered.pairs[b]
        assert sorted(u) != sorted(v) and u.sum() == v.sum()


def test_modadd_critical_target_rank_is_p_minus_1():
    task = ModularAddition(7)
    n_star = n_star_samples(task, trials=20, seed=0)
    rng_free = [linear_theory(Split.from_indices(task, np.arange(task.n_samples))).unique]
    assert all(rng_free)
    assert np.all((n_star >= 1) & (n_star <= task.n_samples))


def test_modadd_rqi_of_a_linear_embedding_is_not_one():
    """A linear (additive) embedding satisfies the integer parallelograms, not the modular ones."""
    E = np.arange(11, dtype=float)[:, None]
    assert rqi(E) == 1.0
    assert rqi(E, task=ModularAddition(11)) < 0.6


def test_make_task_and_bad_inputs():
    assert make_task("modadd", 5) == ModularAddition(5)
    with pytest.raises(InputError, match="task"):
        make_task("mul", 5)
    with pytest.raises(InputError, match="whole numbers"):
        Split.from_indices(Addition(4), [1.7])
    with pytest.raises(InputError, match=r"\[0, 10\)"):
        Split.from_indices(Addition(4), [10])
    with pytest.raises(InputError, match="Split"):
        linear_theory("x")
    assert Addition(1e1).p == 10
    with pytest.raises(InputError, match="integer"):
        Addition(2.5)


def test_modadd_critical_curve_agrees_with_a_direct_per_n_computation():
    """One-pass P_unique(n) (target rank p - 1) against linear_theory(split).unique on fresh
    random splits, within 4 binomial standard errors of the two estimates."""
    from efftheory.theories.linear.critical import critical_curve

    task = ModularAddition(7)
    curve = critical_curve(task, trials=3000, seed=1)
    for n in (6, 9, 12, 16):
        direct = np.mean([linear_theory(task.split(n_train=n, seed=s)).unique for s in range(400)])
        pu = curve.p_unique[n - 1]
        se = np.sqrt(pu * (1 - pu) / 3000 + direct * (1 - direct) / 400) + 1e-9
        assert abs(direct - pu) <= 4 * se + 1e-12, (n, direct, pu)


def test_critical_cli_takes_a_task(cli_json):
    out = cli_json("critical", "--p", "7", "--task", "modadd", "--trials", "300")
    assert out["task"].startswith("addition mod p = 7") and out["n_samples"] == 28
    assert cli_json("critical", "--p", "7", "--task", "modadd", "--ordered", "--trials", "50")["n_samples"] == 49
