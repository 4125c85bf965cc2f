"""Slow, obviously correct twins of the linear-theory and critical-size kernels."""

from __future__ import annotations

import itertools

import numpy as np
import sympy


def all_pairs(p: int) -> list[tuple[int, int]]:
    return [(i, j) for i in range(p) for j in range(i, p)]


def brute_force_parallelograms(samples, label=sum) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Every unordered pair of samples with equal labels (default: the sum) and different symbol
    multisets (so a non-zero constraint), by checking all pairs."""
    samples = [tuple(map(int, s)) for s in samples]
    return [(a, b) for a, b in itertools.combinations(samples, 2)
            if label(a) == label(b) and sorted(a) != sorted(b)]


def constraint_matrix(p: int, samples, label=sum) -> np.ndarray:
    """(|P0(D)|, p) rows a_q = e_i + e_j - e_m - e_n, one per parallelogram."""
    rows = []
    for (i, j), (m, n) in brute_force_parallelograms(samples, label):
        a = np.zeros(p)
        a[i] += 1
        a[j] += 1
        a[m] -= 1
        a[n] -= 1
        rows.append(a)
    return np.array(rows).reshape(-1, p)


def hessian_by_enumeration(p: int, samples, label=sum) -> np.ndarray:
    A = constraint_matrix(p, samples, label)
    return (A.T @ A).round().astype(np.int64)


def exact_rank(H: np.ndarray) -> int:
    """Rank over the rationals (sympy)."""
    return int(sympy.Matrix(H.astype(int).tolist()).rank())


def numpy_rank(M: np.ndarray) -> int:
    return int(np.linalg.matrix_rank(M)) if M.size else 0


def ideal_test_accuracy_by_rank_closure(p: int, train_pairs, test_pairs) -> float:
    """The paper's definition: a test sample t is implied when adding the row a_ts, for some
    training s of the same sum, leaves the rank of the constraint matrix unchanged."""
    A = constraint_matrix(p, train_pairs)
    r = numpy_rank(A)
    implied = 0
    for t in test_pairs:
        for s in train_pairs:
            if sum(t) != sum(s):
                continue
            a = np.zeros(p)
            a[t[0]] += 1
            a[t[1]] += 1
            a[s[0]] -= 1
            a[s[1]] -= 1
            if numpy_rank(np.vstack([A, a])) == r:
                implied += 1
                break
    return implied / len(test_pairs)


def dof_by_eigenvalues(p: int, samples) -> int:
    """nullity(H) - 2 from numpy's matrix_rank of the enumerated Hessian."""
    return p - numpy_rank(hessian_by_enumeration(p, samples)) - 2


def p_unique_direct(p: int, n: int, trials: int, rng) -> float:
    """Monte Carlo of P(dof = 0) for independent random n-subsets, by eigen-decomposition."""
    pairs = all_pairs(p)
    hits = 0
    for _ in range(trials):
        idx = rng.choice(len(pairs), size=n, replace=False)
        hits += dof_by_eigenvalues(p, [pairs[k] for k in idx]) == 0
    return hits / trials
