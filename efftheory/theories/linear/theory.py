"""The linear effective theory of a training split (docs/theory.md §2–§5).

A parallelogram ``q = {(i, j), (m, n)}`` is a pair of distinct samples with equal labels (sums,
for addition); its constraint vector is ``a_q = e_i + e_j - e_m - e_n`` (length p). On a training set D,

    H(D) = sum_{q in P0(D)} a_q a_q^T          (p x p, integer, positive semi-definite)

is the Hessian of the parallelogram loss, and ``Ĥ = H / |P0(D)|`` the Hessian of the mean
squared parallelogram residual ``ℓ0(E) = tr(E^T Ĥ E)``. For addition the vectors ``1`` and
``(0..p-1)`` always lie in null(H) (translation and scaling of a linear representation), so
``λ1 = λ2 = 0``; ``dof = nullity(H) - 2`` counts the directions D leaves free, and the grokking
rate is ``λ3`` of Ĥ when ``dof = 0``. Other tasks have their own structural nullity
(:attr:`efftheory.tasks.Task.structural_nullity`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numba import njit

from efftheory.errors import require
from efftheory.tasks import Split, Task
from efftheory.tasks.parallelograms import count_parallelograms

#: Relative tolerance of every rank decision: eigenvalue < RANK_RTOL * max(1, λ_max) is zero.
RANK_RTOL = 1e-9
#: Absolute tolerance for equal null-space signatures (entries are O(1)).
SIGNATURE_ATOL = 1e-7


def reachable_test_accuracy(split: Split) -> float:
    """Share of test samples (a, b) that a representation can imply at all: a training sample
    has the same label, and both a and b occur in some training sample (else M_a or M_b never
    receives a gradient from the data). NaN without a test set.

    For the matrix model this is the ideal predicted accuracy: with the group's own matrices
    every equal-product parallelogram holds, so a test sample is implied exactly when its class
    has a training sample. It is a necessary condition, not the linear theory's statement that
    the data *force* the structure (the matrix constraints are not linear).
    """
    task = split.task
    if split.n_test == 0:
        return float("nan")
    seen = np.zeros(task.p, bool)
    seen[split.train_pairs.ravel()] = True
    has_label = np.zeros(task.n_classes, bool)
    has_label[task.labels[split.train]] = True
    test = split.test_pairs
    ok = has_label[task.labels[split.test]] & seen[test[:, 0]] & seen[test[:, 1]]
    return float(ok.mean())


@njit(cache=True)
def _hessian_kernel(p, samples, labels, n_cls):
    """H from class sums: H = sum_s [n_s sum_a u_a u_a^T - (sum_a u_a)(sum_a u_a)^T].

    samples: (n, 2) int64 pairs (a, b); labels: (n,) int64 in [0, n_cls); returns (p, p) int64.
    O(n + n_cls p^2). Trivial pairs (equal u) contribute zero, so they need no special case.
    """
    n = samples.shape[0]
    count = np.zeros(n_cls, np.int64)
    u_sum = np.zeros((n_cls, p), np.int64)
    for a in range(n):
        i, j = samples[a, 0], samples[a, 1]
        s = labels[a]
        count[s] += 1
        u_sum[s, i] += 1
        u_sum[s, j] += 1
    H = np.zeros((p, p), np.int64)
    for a in range(n):
        i, j = samples[a, 0], samples[a, 1]
        c = count[labels[a]]
        if c < 2:  # a lone sample of its label: n_s u u^T - u u^T = 0
            continue
        H[i, i] += c
        H[i, j] += c
        H[j, i] += c
        H[j, j] += c
    for s in range(n_cls):
        if count[s] < 2:
            continue
        for k in range(p):
            if u_sum[s, k] == 0:
                continue
            for l in range(p):
                H[k, l] -= u_sum[s, k] * u_sum[s, l]
    return H


def hessian(task: Task, samples) -> np.ndarray:
    """H(D) = sum over P0(D) of a_q a_q^T for the training samples (indices into task.pairs)."""
    samples = np.ascontiguousarray(samples, dtype=np.int64)
    require(samples.ndim == 1, f"samples must be a 1-d array of sample indices, got shape {samples.shape}")
    return class_hessian(task.p, task.pairs[samples], task.labels[samples], task.n_classes)


def class_hessian(p: int, pairs, labels, n_classes: int) -> np.ndarray:
    """H = sum over the parallelograms of samples ``pairs`` (n, 2) with ``labels`` (n,) in
    [0, n_classes), by class sums: (p, p) int64 (docs/theory.md §3)."""
    return _hessian_kernel(int(p), np.ascontiguousarray(pairs, dtype=np.int64),
                           np.ascontiguousarray(labels, dtype=np.int64), int(n_classes))


def rank_tolerance(eigenvalues: np.ndarray) -> float:
    """Eigenvalues below this are zero: RANK_RTOL * max(1, λ_max)."""
    return RANK_RTOL * max(1.0, float(np.max(eigenvalues, initial=0.0)))


@dataclass(frozen=True)
class LinearTheory:
    """The linear theory of one split.

    Attributes:
        split: the training split it describes.
        n_parallelograms: |P0(D)|.
        H: (p, p) int64 Hessian of the summed parallelogram loss.
        H_hat: (p, p) float64, H / |P0(D)| (all zeros when P0(D) is empty).
        eigenvalues: (p,) float64 eigenvalues of H_hat, ascending (tiny ones clipped to 0).
        eigenvectors: (p, p) float64, orthonormal columns matching ``eigenvalues``.
        rank: rank of H.
        dof: nullity(H) - 2, the free directions of the linear structure.
        unique: dof == 0: D determines the linear structure.
        grokking_rate: λ3 of H_hat when unique, 0.0 otherwise; None for p = 2 (no λ3).
        null_basis: (p, p - rank) orthonormal basis of null(H).
        ideal_test_accuracy: fraction of the test set implied by P0(D) (None without a test set).
        ideal_full_accuracy: (|D| + implied test samples) / N.
    """

    split: Split
    n_parallelograms: int
    H: np.ndarray = field(repr=False)
    H_hat: np.ndarray = field(repr=False)
    eigenvalues: np.ndarray = field(repr=False)
    eigenvectors: np.ndarray = field(repr=False)
    rank: int
    dof: int
    unique: bool
    grokking_rate: float | None
    null_basis: np.ndarray = field(repr=False)
    ideal_test_accuracy: float | None
    ideal_full_accuracy: float

    @property
    def p(self) -> int:
        return self.split.p

    def smallest_eigenvalues(self, k: int = 6) -> np.ndarray:
        """The k smallest eigenvalues of Ĥ (ascending)."""
        return self.eigenvalues[:k].copy()


def implied_test_mask(split: Split, null_basis: np.ndarray) -> np.ndarray:
    """(n_test,) bool: test samples t with a training s of the same label and N^T u_t = N^T u_s.

    Then a_ts lies in the row space of H, so the parallelogram {t, s} is implied by P0(D)
    (docs/theory.md §5).
    """
    task = split.task
    pairs, labels = task.pairs, task.labels
    sig = null_basis[pairs[:, 0]] + null_basis[pairs[:, 1]]  # (N, k) = N^T u for every sample
    classes = split.train_classes
    implied = np.zeros(split.test.size, dtype=bool)
    for t_pos, t in enumerate(split.test):
        c = labels[t]
        cand = sig[classes.members[classes.ptr[c] : classes.ptr[c + 1]]]
        if cand.shape[0]:
            implied[t_pos] = bool(np.any(np.all(np.abs(cand - sig[t]) < SIGNATURE_ATOL, axis=1)))
    return implied


def linear_theory(split: Split) -> LinearTheory:
    """Hessian, spectrum, dof, grokking rate and ideal accuracy of a training split.

    ``dof = nullity(H) - k`` with k the task's structural nullity (2 for addition: translation
    and scaling; 1 for modular addition: the ring's global rotation). The rate is the (k+1)-th
    smallest eigenvalue of Ĥ when dof = 0 (λ3 for addition), 0 when dof > 0 and None when the
    table has no such eigenvalue (addition at p = 2). docs/theory.md §3–§5.
    """
    require(isinstance(split, Split), f"split must be a Split, got {type(split).__name__}")
    task, p = split.task, split.p
    k = task.structural_nullity
    H = hessian(task, split.train)
    n_par = count_parallelograms(task, split.train)
    lam_H, vecs = np.linalg.eigh(H.astype(np.float64))
    tol = rank_tolerance(lam_H)
    zero = lam_H < tol
    lam_H = np.where(zero, 0.0, lam_H)
    rank = int(p - zero.sum())
    dof = (p - rank) - k
    H_hat = H / n_par if n_par else np.zeros((p, p))
    eigenvalues = lam_H / n_par if n_par else np.zeros(p)
    unique = dof == 0
    if p <= k:
        grokking_rate = None
    else:
        grokking_rate = float(eigenvalues[k]) if unique else 0.0
    null_basis = vecs[:, zero]
    n_test = split.test.size
    n_implied = int(implied_test_mask(split, null_basis).sum()) if n_test else 0
    return LinearTheory(
        split=split,
        n_parallelograms=n_par,
        H=H,
        H_hat=H_hat,
        eigenvalues=eigenvalues,
        eigenvectors=vecs,
        rank=rank,
        dof=dof,
        unique=unique,
        grokking_rate=grokking_rate,
        null_basis=null_basis,
        ideal_test_accuracy=(n_implied / n_test) if n_test else None,
        ideal_full_accuracy=(split.n_train + n_implied) / split.task.n_samples,
    )
