"""The circle theory linearised at a ring (docs/theory.md §13): the Hessian Ĥ_mod of the training
set's modular parallelograms, its rank, the free directions at a ring and the slowest rate."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from efftheory.theories.circle.ring import check_p, check_quads, check_samples
from efftheory.theories.linear.theory import class_hessian


def constraint_matrix(quads: np.ndarray, p: int) -> np.ndarray:
    """(M, p) rows a_q = e_a + e_b − e_c − e_d (np.add.at: a = b gives 2 e_a)."""
    A = np.zeros((quads.shape[0], p))
    rows = np.arange(quads.shape[0])
    for col, sign in ((0, 1.0), (1, 1.0), (2, -1.0), (3, -1.0)):
        np.add.at(A, (rows, quads[:, col]), sign)
    return A


def modular_hessian(p: int, quads) -> np.ndarray:
    """H_mod = Σ_q a_q a_qᵀ (p, p) float64, a_q = e_a + e_b − e_c − e_d."""
    p = check_p(p)
    A = constraint_matrix(check_quads(quads, p, allow_empty=True), p)
    return A.T @ A


@dataclass(frozen=True)
class CircleTheory:
    """Linearisation of ℓ_circ around a ring for one training set.

    Near any ring θ* (of any frequency) write θ(t) = θ∞ + ε(t), θ∞ the zero-loss point the flow
    settles on, and expand ε in the eigenvectors v_k of Ĥ_mod (eigenvalues λ_k). The gradient
    flow dθ/dt = −η ∇ℓ_circ linearises to dε/dt = −η Ĥ_mod ε, so ε_k(t) = ε_k(0) exp(−η λ_k t)
    for λ_k > 0, while components in the null space do not move (they only pick θ∞), and

        ℓ_circ(t) = ½ Σ_{λ_k > 0} λ_k ε_k(0)² exp(−2 η λ_k t) + O(|ε|⁴)
                  ~ ½ λ_min ε_min(0)² exp(−2 η λ_min t)   (t → ∞),

    with λ_min = ``rate`` the smallest non-zero eigenvalue; the distance to the ring decays like
    exp(−η λ_min t). Gradient descent at learning rate η replaces exp(−η λ_k t) by (1 − η λ_k)^t.

    Attributes:
        p, n_quads (M).
        H_mod: (p, p) Σ_q a_q a_qᵀ; H_hat: (p, p) H_mod / M.
        eigenvalues: (p,) ascending eigenvalues of H_hat.
        rank: rank of H_mod (<= p − 1: the global rotation 1 is always in the null space).
        free_directions: p − 1 − rank, the directions besides the rotation that the training
            parallelograms leave free at the ring (0 iff the ring is locally unique).
        locally_unique: rank == p − 1.
        rate: λ_min, the smallest eigenvalue of Ĥ_mod above the rank tolerance (None if M = 0).
    """

    p: int
    n_quads: int
    H_mod: np.ndarray = field(repr=False)
    H_hat: np.ndarray = field(repr=False)
    eigenvalues: np.ndarray = field(repr=False)
    rank: int
    free_directions: int
    locally_unique: bool
    rate: float | None


def circle_linear_theory(p: int, quads_train) -> CircleTheory:
    """Rank, free directions and slowest rate λ_min of Ĥ_mod for training parallelograms (M, 4)."""
    quads = check_quads(quads_train, check_p(p), allow_empty=True)
    return theory_of(int(p), modular_hessian(p, quads), quads.shape[0])


def modular_hessian_from_classes(p: int, samples) -> np.ndarray:
    """H_mod of all modular parallelograms of ``samples`` (n, 2), from class sums
    (:func:`efftheory.theories.linear.theory.class_hessian` with classes (a + b) mod p): the same matrix as
    :func:`modular_hessian` of :func:`modular_quads`, in O(n + p³) instead of O(M p²)."""
    p = check_p(p)
    samples = check_samples(samples, p)
    return class_hessian(p, samples, samples.sum(axis=1) % p, p).astype(np.float64)


def theory_of(p: int, H: np.ndarray, M: int) -> CircleTheory:
    lam = np.linalg.eigvalsh(H)
    # the entries of H are integers, so a non-zero eigenvalue is far above round-off
    positive = lam[lam > 1e-9 * max(1.0, float(lam[-1]))]
    rank = int(positive.size)
    scale = 1.0 / M if M else 1.0
    return CircleTheory(
        p=p, n_quads=M, H_mod=H, H_hat=H * scale, eigenvalues=lam * scale, rank=rank,
        free_directions=p - 1 - rank, locally_unique=rank == p - 1,
        rate=float(positive[0]) * scale if rank else None,
    )
