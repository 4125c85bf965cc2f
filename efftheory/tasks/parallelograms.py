"""What a parallelogram of a task is, counted and listed from the table alone (docs/theory.md §2).

A parallelogram is a pair of distinct samples with equal labels whose constraint vector
``a_q = e_a + e_b - e_c - e_d`` is not zero; an *equal-result pair* is any pair of distinct samples
with equal labels (the matrix theory's constraint M_a M_b = M_c M_d, which is not linear, holds
for those with a zero additive vector too). Both are found class by class (samples grouped by
label, :class:`~efftheory.tasks.base.Classes`), never by a search over all pairs of samples."""

from __future__ import annotations

import numpy as np

from efftheory.tasks.base import Classes, Task


def _within_class_pairs(classes: Classes) -> np.ndarray:
    """(M, 2) int64 sample indices (a, b), a < b, of every pair inside one class.

    Built class by class, so memory and time are O(M + n), never O(n²).
    """
    sizes = classes.sizes
    blocks = []
    for c in np.flatnonzero(sizes >= 2):
        members = classes.members[classes.ptr[c] : classes.ptr[c + 1]]
        i, j = np.triu_indices(members.size, k=1)
        blocks.append(np.stack([members[i], members[j]], axis=1))
    if not blocks:
        return np.zeros((0, 2), np.int64)
    return np.concatenate(blocks).astype(np.int64)


def parallelograms(task: Task, samples=None) -> np.ndarray:
    """Every parallelogram among ``samples`` (indices into ``task.pairs``; default all of D0).

    Returns:
        (M, 2) int64 sample indices ``(a, b)`` with ``a < b``, equal labels and a non-zero
        constraint vector, sorted by a then b. ``M = |P0| = 70`` for addition at p = 10.
        Enumerated class by class: O(M + N) memory.
    """
    classes = task.classes(samples)
    ab = _within_class_pairs(classes)
    pairs = task.pairs
    u, v = pairs[ab[:, 0]], pairs[ab[:, 1]]
    trivial = ((u[:, 0] == v[:, 0]) & (u[:, 1] == v[:, 1])) | ((u[:, 0] == v[:, 1]) & (u[:, 1] == v[:, 0]))
    ab = ab[~trivial]
    return ab[np.lexsort((ab[:, 1], ab[:, 0]))]


def parallelogram_quads(task: Task, samples=None) -> np.ndarray:
    """Parallelograms as symbol quadruples: (M, 4) int64 rows ``(a, b, c, d)``, r(a,b) = r(c,d)."""
    ab = parallelograms(task, samples)
    return np.ascontiguousarray(np.concatenate([task.pairs[ab[:, 0]], task.pairs[ab[:, 1]]], axis=1))


def count_parallelograms(task: Task, samples) -> int:
    """|P0(D)| = sum over labels of n_s (n_s - 1) / 2 less the trivial pairs, without enumerating.

    Trivial pairs, (a, b) and (b, a) of an ordered commutative table, carry no constraint.
    """
    samples = np.asarray(samples, dtype=np.int64)
    n_s = np.bincount(task.labels[samples], minlength=task.n_classes)
    total = int((n_s * (n_s - 1) // 2).sum())
    if task.ordered:
        pairs = task.pairs[samples]
        off = pairs[pairs[:, 0] != pairs[:, 1]]
        key = np.minimum(off[:, 0], off[:, 1]) * task.p + np.maximum(off[:, 0], off[:, 1])
        both = np.bincount(key, minlength=task.p * task.p)
        # both members of {(a, b), (b, a)} present: one trivial pair (same label iff commutative)
        swapped = task.labels[np.ravel_multi_index((off[:, 1], off[:, 0]), (task.p, task.p))]
        same = swapped == task.labels[np.ravel_multi_index((off[:, 0], off[:, 1]), (task.p, task.p))]
        total -= int((both[key[same]] == 2).sum()) // 2
    return total


def equal_result_pairs(task: Task, samples=None) -> np.ndarray:
    """Every pair of distinct samples with equal labels among ``samples`` (default all of D0),
    whatever their additive constraint: the parallelograms of a *matrix* representation.

    For matrices the pair {(a, b), (b, a)} of commuting a, b is a real constraint
    ``M_a M_b = M_b M_a`` (learned matrices need not commute), so unlike :func:`parallelograms`
    nothing is dropped. Returns (M, 2) int64 sample indices ``(u, v)``, ``u < v``, sorted;
    M = 90 on the full table of S3 (6 classes of 6 samples: 6 · 15).
    """
    ab = _within_class_pairs(task.classes(samples))
    return ab[np.lexsort((ab[:, 1], ab[:, 0]))]


def equal_result_quads(task: Task, samples=None) -> np.ndarray:
    """:func:`equal_result_pairs` as symbol quadruples: (M, 4) int64 rows ``(a, b, c, d)`` with
    r(a, b) = r(c, d) (for a group: a ∘ b = c ∘ d)."""
    ab = equal_result_pairs(task, samples)
    return np.ascontiguousarray(np.concatenate([task.pairs[ab[:, 0]], task.pairs[ab[:, 1]]], axis=1))


def count_equal_result_pairs(task: Task, samples) -> int:
    """|{pairs of distinct samples with equal labels}| = sum over labels of n_s (n_s - 1) / 2."""
    samples = np.asarray(samples, dtype=np.int64)
    n_s = np.bincount(task.labels[samples], minlength=task.n_classes)
    return int((n_s * (n_s - 1) // 2).sum())
