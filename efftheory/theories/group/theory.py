"""The matrix theory linearised at a representation (docs/theory.md §14): the residual Jacobian,
the conjugation directions every representation has, the free directions the training set
leaves, and the probability that a random training set fixes the representation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from efftheory.errors import require
from efftheory.stats import wilson_interval
from efftheory.tasks import FiniteGroup, as_int
from efftheory.theories.group.loss import check_group, check_matrices, check_quads, group_loss, group_quads
from efftheory.theories.group.score import DEFAULT_LOSS_TOL

#: A singular value of the residual Jacobian below this (relative to the largest, at least 1)
#: counts as zero. Its entries are O(1) sums of products of rotations.
_RANK_RTOL = 1e-9


def _skew_basis(k: int) -> np.ndarray:
    """(k(k−1)/2, k, k): E_ij = e_i e_jᵀ − e_j e_iᵀ for i < j, an orthonormal-up-to-√2 basis of so(k)."""
    out = []
    for i in range(k):
        for j in range(i + 1, k):
            E = np.zeros((k, k))
            E[i, j], E[j, i] = 1.0, -1.0
            out.append(E)
    return np.array(out)


def residual_jacobian(M, quads) -> np.ndarray:
    """(Q k², p s) Jacobian of the residuals R_q at M (p, k, k) in the tangent coordinates of SO(k)^p.

    Moving M_a along M_a exp(t X_a), X_a = Σ_s x_{a,s} E_s (s = 1..k(k−1)/2, :func:`_skew_basis`),
    changes R_q = M_a M_b − M_c M_d at first order by

        M_a X_a M_b + M_a M_b X_b − M_c X_c M_d − M_c M_d X_d.

    At a zero of ℓ the Riemannian Hessian of ℓ in these coordinates is (2/Q) JᵀJ (Gauss–Newton is
    exact there, the residuals vanish).
    """
    M = check_matrices(M)
    require(M.ndim == 3, f"M must have shape (p, k, k), got {M.shape}")
    quads = check_quads(quads, M.shape[0], allow_empty=True)
    p, k = M.shape[0], M.shape[-1]
    basis = _skew_basis(k)
    S = basis.shape[0]
    J = np.zeros((quads.shape[0], k * k, p, S))
    for row, (a, b, c, d) in enumerate(quads):
        for x, left, right, sign in ((a, M[a], M[b], 1.0), (b, M[a] @ M[b], np.eye(k), 1.0),
                                     (c, M[c], M[d], -1.0), (d, M[c] @ M[d], np.eye(k), -1.0)):
            J[row, :, x, :] += sign * (left[None] @ basis @ right[None]).reshape(S, k * k).T
    return J.reshape(quads.shape[0] * k * k, p * S)


def conjugation_directions(M) -> np.ndarray:
    """(p s, s) tangent vectors of the conjugation orbit R M_a Rᵀ at M: Y ↦ X_a = M_aᵀ Y M_a − Y.

    d/dt exp(tY) M_a exp(−tY) = Y M_a − M_a Y = M_a (M_aᵀ Y M_a − Y); one column per basis Y = E_s,
    in the coordinates of :func:`residual_jacobian`. They are null vectors of the Jacobian at every
    zero of ℓ (conjugation keeps ℓ = 0).
    """
    M = check_matrices(M)
    k = M.shape[-1]
    basis = _skew_basis(k)
    # coordinates of a skew X in the basis E_s: x_s = X[i, j] for the pair (i, j) of E_s
    iu = np.triu_indices(k, 1)
    X = np.swapaxes(M, -1, -2)[None] @ basis[:, None] @ M[None] - basis[:, None]  # (s, p, k, k)
    return X[..., iu[0], iu[1]].reshape(basis.shape[0], -1).T


@dataclass(frozen=True)
class RepresentationTheory:
    """The matrix theory linearised at a zero-loss point M of the full table, for one training set.

    Attributes:
        n_quads: Q of the training set; n_coords: p · k(k−1)/2 tangent coordinates of SO(k)^p.
        rank: rank of the training set's residual Jacobian at M.
        nullity: n_coords − rank: first-order directions that keep every training quad fitted.
        full_nullity: the same for the full table (the tangent of the zero-loss set at M at first
            order: conjugation, and moves of M_e inside the centraliser).
        orbit_dim: dimension of the conjugation orbit at M (3 at a faithful representation of S3
            in SO(3), 0 at the constant one).
        free_directions: nullity − full_nullity, the directions the training set leaves free that
            the full table does not; locally_unique: free_directions == 0.
        rate: smallest non-zero eigenvalue of the Hessian (2/Q) JᵀJ of ℓ on the training set (the
            slowest rate at which the flow relaxes onto the zero-loss set near M; None if Q = 0).
    """

    n_quads: int
    n_coords: int
    rank: int
    nullity: int
    full_nullity: int
    orbit_dim: int
    free_directions: int
    locally_unique: bool
    rate: float | None


def representation_theory(task: FiniteGroup, M, samples=None) -> RepresentationTheory:
    """Linearise ℓ_grp of the training set ``samples`` (default: the full table) at M (p, k, k),
    which must have zero loss on the full table (a homomorphism times a commuting rotation)."""
    lin = _Linearisation(task, M)
    return lin.theory(samples)


class _Linearisation:
    """The full table's residual Jacobian at M, once; a training set's Jacobian is a subset of its
    rows (every training quad is a quad of the full table)."""

    def __init__(self, task: FiniteGroup, M):
        check_group(task)
        M = check_matrices(M)
        require(M.ndim == 3 and M.shape[0] == task.p, f"M must have shape ({task.p}, k, k), got {M.shape}")
        self.task = task
        full_q = group_quads(task)
        require(group_loss(M, full_q) <= DEFAULT_LOSS_TOL, "M must have zero loss on the full table (a representation)")
        k2 = M.shape[-1] ** 2
        J = residual_jacobian(M, full_q)
        self.n = J.shape[1]
        self.rows = J.reshape(full_q.shape[0], k2, self.n)
        self.index = {tuple(q): i for i, q in enumerate(full_q.tolist())}
        sv = np.linalg.svd(J, compute_uv=False)
        self.tol = _RANK_RTOL * max(1.0, float(sv[0]))
        self.full_nullity = self.n - int(np.sum(sv > self.tol))
        sv_orbit = np.linalg.svd(conjugation_directions(M), compute_uv=False)
        self.orbit = int(np.sum(sv_orbit > _RANK_RTOL * max(1.0, float(sv_orbit[0]))))

    def theory(self, samples) -> RepresentationTheory:
        q = group_quads(self.task, samples)
        if q.shape[0]:
            J = self.rows[[self.index[t] for t in map(tuple, q.tolist())]].reshape(-1, self.n)
            sv = np.linalg.svd(J, compute_uv=False)
            rank = int(np.sum(sv > self.tol))
            rate = float(2.0 * sv[rank - 1] ** 2 / q.shape[0]) if rank else None
        else:
            rank, rate = 0, None
        nullity = self.n - rank
        return RepresentationTheory(n_quads=int(q.shape[0]), n_coords=self.n, rank=rank, nullity=nullity,
                                    full_nullity=self.full_nullity, orbit_dim=self.orbit,
                                    free_directions=nullity - self.full_nullity,
                                    locally_unique=nullity == self.full_nullity, rate=rate)


def unique_probability(task: FiniteGroup, M, fracs, trials: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Probability that a random training set of round(frac · N) samples fixes M locally
    (:attr:`RepresentationTheory.locally_unique`), per fraction: (fraction, ci_low, ci_high) (F,).

    Training sets come from ``default_rng([seed, n])``, as in :func:`outcome_curve`.
    """
    lin = _Linearisation(task, M)
    fr = np.atleast_1d(np.asarray(fracs, dtype=np.float64))
    trials, seed = as_int(trials, "trials", 1), as_int(seed, "seed", 0)
    counts = []
    for f in fr:
        n = task.n_train_for(frac=float(f))
        rng = np.random.default_rng([seed, n])
        counts.append(sum(lin.theory(np.sort(rng.choice(task.n_samples, n, replace=False))).locally_unique
                          for _ in range(trials)))
    counts = np.array(counts)
    low, high = wilson_interval(counts, trials)
    return counts / trials, np.atleast_1d(low), np.atleast_1d(high)
