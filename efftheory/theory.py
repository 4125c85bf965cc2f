"""The linear effective theory of a training split (design §3).

A parallelogram ``q = {(i, j), (m, n)}`` is a pair of distinct samples with equal sums; its
constraint vector is ``a_q = e_i + e_j - e_m - e_n`` (length p). On a training set D,

    H(D) = sum_{q in P0(D)} a_q a_q^T          (p x p, integer, positive semi-definite)

is the Hessian of the parallelogram loss, and ``Ĥ = H / |P0(D)|`` the Hessian of the mean
squared parallelogram residual ``ℓ0(E) = tr(E^T Ĥ E)``. The vectors ``1`` and ``(0..p-1)`` always
lie in null(H) (translation and scaling of a linear representation), so ``λ1 = λ2 = 0``;
``dof = nullity(H) - 2`` counts the directions D leaves free, and the grokking rate is ``λ3``
of Ĥ when ``dof = 0``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numba import njit

from efftheory.errors import require
from efftheory.tasks import Split

#: Relative tolerance of every rank decision: eigenvalue < RANK_RTOL * max(1, λ_max) is zero.
RANK_RTOL = 1e-9
#: Absolute tolerance for equal null-space signatures (entries are O(1)).
SIGNATURE_ATOL = 1e-7


def parallelograms(p: int, samples: np.ndarray | None = None) -> np.ndarray:
    """Every parallelogram among ``samples`` (default: all of D0 for ``p`` symbols).

    Args:
        p: number of symbols.
        samples: (n, 2) int array of pairs (i, j); default ``Addition(p).pairs``.

    Returns:
        (M, 2) int64 row indices ``(a, b)`` into ``samples`` with ``a < b`` and equal sums,
        ordered by a then b. ``M = |P0| = 70`` for p = 10 and all samples.
    """
    if samples is None:
        i, j = np.triu_indices(p)
        samples = np.stack([i, j], axis=1)
    sums = np.asarray(samples).sum(axis=1)
    a, b = np.triu_indices(len(sums), k=1)
    keep = sums[a] == sums[b]
    return np.stack([a[keep], b[keep]], axis=1).astype(np.int64)


def parallelogram_quads(p: int, samples: np.ndarray | None = None) -> np.ndarray:
    """Parallelograms as symbol quadruples: (M, 4) int64 rows ``(i, j, m, n)``, ``i+j = m+n``."""
    if samples is None:
        i, j = np.triu_indices(p)
        samples = np.stack([i, j], axis=1)
    samples = np.asarray(samples, dtype=np.int64)
    ab = parallelograms(p, samples)
    return np.concatenate([samples[ab[:, 0]], samples[ab[:, 1]]], axis=1)


def count_parallelograms(p: int, samples: np.ndarray) -> int:
    """|P0(D)| = sum over sums s of n_s (n_s - 1) / 2, without enumerating them."""
    n_s = np.bincount(np.asarray(samples).sum(axis=1), minlength=2 * p - 1)
    return int((n_s * (n_s - 1) // 2).sum())


@njit(cache=True)
def _hessian_kernel(p, samples):
    """H from class sums: H = sum_s [n_s sum_a u_a u_a^T - (sum_a u_a)(sum_a u_a)^T].

    samples: (n, 2) int64 pairs (i, j); returns (p, p) int64. O(n + (2p-1) p^2).
    """
    n = samples.shape[0]
    n_cls = 2 * p - 1
    count = np.zeros(n_cls, np.int64)
    u_sum = np.zeros((n_cls, p), np.int64)
    for a in range(n):
        i, j = samples[a, 0], samples[a, 1]
        s = i + j
        count[s] += 1
        u_sum[s, i] += 1
        u_sum[s, j] += 1
    H = np.zeros((p, p), np.int64)
    for a in range(n):
        i, j = samples[a, 0], samples[a, 1]
        c = count[i + j]
        if c < 2:  # a lone sample of its sum: n_s u u^T - u u^T = 0
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


def _check_samples(p: int, samples) -> np.ndarray:
    samples = np.ascontiguousarray(samples, dtype=np.int64)
    require(samples.ndim == 2 and samples.shape[1] == 2, f"samples must have shape (n, 2), got {samples.shape}")
    require(bool(np.all((samples >= 0) & (samples < p))), f"sample symbols must lie in [0, {p})")
    return samples


def hessian(p: int, samples: np.ndarray) -> np.ndarray:
    """H(D) = sum over P0(D) of a_q a_q^T for the training pairs ``samples``: (p, p) int64."""
    return _hessian_kernel(int(p), _check_samples(p, samples))


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
    """(n_test,) bool: test samples t with a training s of the same sum and N^T u_t = N^T u_s.

    Then a_ts lies in the row space of H, so the parallelogram {t, s} is implied by P0(D).
    """
    pairs, sums = split.task.pairs, split.task.sums
    sig = null_basis[pairs[:, 0]] + null_basis[pairs[:, 1]]  # (N, k) = N^T u for every sample
    implied = np.zeros(split.test.size, dtype=bool)
    train_by_sum: dict[int, np.ndarray] = {}
    for s in np.unique(sums[split.train]):
        train_by_sum[int(s)] = sig[split.train[sums[split.train] == s]]
    for t_pos, t in enumerate(split.test):
        cand = train_by_sum.get(int(sums[t]))
        if cand is not None:
            implied[t_pos] = bool(np.any(np.all(np.abs(cand - sig[t]) < SIGNATURE_ATOL, axis=1)))
    return implied


def linear_theory(split: Split) -> LinearTheory:
    """Hessian, spectrum, dof, grokking rate and ideal accuracy of a training split."""
    p = split.p
    train_pairs = split.train_pairs
    H = hessian(p, train_pairs)
    n_par = count_parallelograms(p, train_pairs)
    lam_H, vecs = np.linalg.eigh(H.astype(np.float64))
    tol = rank_tolerance(lam_H)
    zero = lam_H < tol
    lam_H = np.where(zero, 0.0, lam_H)
    rank = int(p - zero.sum())
    dof = (p - rank) - 2
    H_hat = H / n_par if n_par else np.zeros((p, p))
    eigenvalues = lam_H / n_par if n_par else np.zeros(p)
    unique = dof == 0
    if p == 2:
        grokking_rate = None
    else:
        grokking_rate = float(eigenvalues[2]) if unique else 0.0
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
