"""Finite groups as operation tables: S3 and groups given by their multiplication table."""

import itertools

import numpy as np
import pytest

from efftheory.errors import InputError
from efftheory.tasks import FiniteGroup, ModularAddition, make_task, permutation_matrices, symmetric_group
from efftheory.tasks.parallelograms import count_parallelograms, parallelograms
from efftheory.theories.linear.theory import hessian


def test_s3_is_a_group_with_six_elements_and_36_ordered_samples():
    g = make_task("s3")
    t = g.cayley
    assert g.p == 6 and g.n_samples == 36 and g.ordered and g.n_classes == 6
    e = g.identity
    assert e == 0  # the identity permutation is first in lexicographic order
    for a, b, c in itertools.product(range(6), repeat=3):
        assert t[t[a, b], c] == t[a, t[b, c]]
    assert all(t[g.inverse[a], a] == e and t[a, g.inverse[a]] == e for a in range(6))
    # not commutative: S3 is the smallest non-abelian group
    assert not np.array_equal(t, t.T)


def test_composition_applies_the_right_factor_first_and_matrices_multiply_like_the_group():
    g = symmetric_group(3)
    perms = np.array(list(itertools.permutations(range(3))))
    for a, b in itertools.product(range(6), repeat=2):
        assert tuple(perms[a][perms[b]]) == tuple(perms[g.cayley[a, b]])
    P = permutation_matrices(3)
    for a, b in itertools.product(range(6), repeat=2):
        np.testing.assert_array_equal(P[a] @ P[b], P[g.cayley[a, b]])


def _brute_force_pairs(task, constraint_needed: bool) -> int:
    """Pairs of distinct samples with equal labels (optionally: with a non-zero additive constraint)."""
    count = 0
    for i, j in itertools.combinations(range(task.n_samples), 2):
        if task.labels[i] != task.labels[j]:
            continue
        (a, b), (c, d) = task.pairs[i], task.pairs[j]
        if constraint_needed and sorted((a, b)) == sorted((c, d)):
            continue
        count += 1
    return count


def test_s3_has_90_equal_product_pairs_and_84_with_an_additive_constraint():
    g = make_task("s3")
    # the paper's counting: every pair of distinct samples with the same product (6 classes of 6)
    assert _brute_force_pairs(g, False) == 90
    # (a, b) and (b, a) with ab = ba (e with each of 5 others, and the two 3-cycles) carry no
    # additive constraint e_a + e_b - e_b - e_a = 0
    assert _brute_force_pairs(g, True) == 84
    assert count_parallelograms(g, np.arange(36)) == 84 == len(parallelograms(g))


def test_only_the_constant_vector_satisfies_every_additive_parallelogram_of_a_group():
    for g in (make_task("s3"), symmetric_group(4)):
        H = hessian(g, np.arange(g.n_samples)).astype(float)
        eig = np.linalg.eigvalsh(H)
        assert np.sum(eig < 1e-9 * eig[-1]) == g.structural_nullity == 1
        np.testing.assert_allclose(H @ g.structural_null_vectors(), 0.0)


def test_a_cyclic_group_table_gives_the_labels_of_ordered_modular_addition():
    p = 7
    table = tuple(tuple((a + b) % p for b in range(p)) for a in range(p))
    z = FiniteGroup(table, title="Z7")
    m = ModularAddition(p, ordered=True)
    np.testing.assert_array_equal(z.pairs, m.pairs)
    np.testing.assert_array_equal(z.labels, m.labels)


@pytest.mark.parametrize("table, message", [
    (((0, 1), (1, 1)), "Latin square"),
    (((0, 1, 2), (1, 2, 0)), "square"),
    (((0, 1), (1, 2)), r"\[0, 2\)"),
    (((1, 0, 2, 3), (0, 1, 3, 2), (2, 3, 1, 0), (3, 2, 0, 1)), "associative|identity"),
])
def test_a_table_that_is_not_a_group_is_refused(table, message):
    with pytest.raises(InputError, match=message):
        FiniteGroup(table)


def test_make_task_s3_fixes_p():
    assert make_task("s3", 6).p == 6
    with pytest.raises(InputError, match="6 symbols"):
        make_task("s3", 10)
    with pytest.raises(InputError, match="needs p"):
        make_task("add")
