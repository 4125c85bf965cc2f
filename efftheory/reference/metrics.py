"""Slow twins of the representation metrics (loops over parallelograms, numpy only)."""

from __future__ import annotations

import itertools

import numpy as np

from efftheory.reference.theory import all_pairs, brute_force_parallelograms


def normalize(E: np.ndarray) -> np.ndarray:
    """(p, d): per dimension, centre and divide by the ddof=1 std."""
    E = np.asarray(E, dtype=float)
    return (E - E.mean(axis=0)) / E.std(axis=0, ddof=1)


def holds(En: np.ndarray, a, b, delta: float) -> bool:
    p = En.shape[0]
    thr = delta * 110 / (p * (p + 1))
    r = En[a[0]] + En[a[1]] - En[b[0]] - En[b[1]]
    return bool(np.mean(r**2) < thr)


def rqi(E: np.ndarray, delta: float = 0.01, label=sum, samples=None) -> float:
    """(p, d) -> fraction of all parallelograms of D0 (default: unordered pairs, labelled by
    their sum) that hold."""
    p = E.shape[0]
    En = normalize(E)
    par = brute_force_parallelograms(all_pairs(p) if samples is None else samples, label)
    return sum(holds(En, a, b, delta) for a, b in par) / len(par)


def predicted_test_accuracy(E: np.ndarray, train_pairs, test_pairs, delta: float = 0.01, label=sum) -> float:
    En = normalize(E)
    hit = 0
    for t in test_pairs:
        if any(label(s) == label(t) and sorted(s) != sorted(t) and holds(En, t, s, delta) for s in train_pairs):
            hit += 1
    return hit / len(test_pairs)


# ---------------------------------------------------------------- matrix representations


def matrix_normalize(M: np.ndarray) -> np.ndarray:
    """(p, k, k): divide by the root mean square of all entries (no centring)."""
    M = np.asarray(M, dtype=float)
    return M / np.sqrt(np.mean(M**2))


def matrix_holds(Mn: np.ndarray, a, b, thr: float = 0.5) -> bool:
    """Mean squared entry of Mn_a0 Mn_a1 - Mn_b0 Mn_b1 below thr."""
    r = Mn[a[0]] @ Mn[a[1]] - Mn[b[0]] @ Mn[b[1]]
    return bool(np.mean(r**2) < thr)


def equal_label_pairs(samples, label) -> list:
    """Every unordered pair of distinct samples with equal labels (none dropped), by brute force."""
    samples = [tuple(map(int, s)) for s in samples]
    return [(a, b) for a, b in itertools.combinations(samples, 2) if a != b and label(a) == label(b)]


def matrix_rqi(M: np.ndarray, samples, label, thr: float = 0.5) -> float:
    """(p, k, k) -> fraction of the equal-label pairs of ``samples`` that hold."""
    Mn = matrix_normalize(M)
    par = equal_label_pairs(samples, label)
    return sum(matrix_holds(Mn, a, b, thr) for a, b in par) / len(par)


def matrix_predicted_test_accuracy(M: np.ndarray, train_pairs, test_pairs, label, thr: float = 0.5) -> float:
    Mn = matrix_normalize(M)
    hit = 0
    for t in test_pairs:
        if any(label(s) == label(t) and tuple(s) != tuple(t) and matrix_holds(Mn, t, s, thr) for s in train_pairs):
            hit += 1
    return hit / len(test_pairs)
