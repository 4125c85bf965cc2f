"""Slow twins of the representation metrics (loops over parallelograms, numpy only)."""

from __future__ import annotations

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
