"""How an end state of the matrix flow reads (docs/theory.md §14): its loss on the full table,
its homomorphism error, how far apart the images are, and the outcome (faithful, unfaithful,
stalled, fits-without-representation)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from efftheory.errors import require
from efftheory.tasks import FiniteGroup
from efftheory.theories.group.loss import check_group, check_matrices, group_loss, group_quads

OUTCOMES = ("faithful", "unfaithful", "stalled", "fits-without-representation")
"""Outcomes of a flow, in the order the probabilities are reported."""


#: Loss at and below which the matrices fit (the training set, or the full table). Measured on
#: S3, k = 3, 2000 starts on the full table: fitted states end at ℓ <= 1.5e-18, stalled ones at
#: ℓ >= 2.77. On small training sets (frac 0.3) a few flows approach a degenerate zero-loss set
#: slowly and are still at 1e-8 < ℓ < 3e-6 when the step budget ends (docs): those count as stalled.
DEFAULT_LOSS_TOL = 1e-8


#: Two elements have the same image when ‖M_a − M_b‖_F is below this. The images of a faithful
#: representation of S3 in SO(3) are ≥ √6 apart; a fitted state is within ~√ℓ of exact.
DEFAULT_DISTANCE_TOL = 1e-3


@dataclass(frozen=True)
class GroupScore:
    """How well matrices M (p, k, k) (or a batch (..., p, k, k)) represent a group.

    Attributes (arrays have the batch shape, floats for a single set):
        train_loss: ℓ_grp on the training quads (the full table when none were given).
        full_loss: ℓ_grp on every quad of the full table.
        homomorphism_error: max over (a, b) of ‖ρ(a)ρ(b) − ρ(a∘b)‖_F with ρ(a) = M_a M_e⁻¹
            (NaN when M_e is singular, condition number > 1e12).
        min_distance: min over a ≠ b of ‖M_a − M_b‖_F (0: two elements share their image).
        orthogonality: max_a ‖M_aᵀ M_a − I‖_F (0 for rotations).
        scale: the factor the matrices were multiplied by before scoring (1 unless normalised).
        outcome: one of :data:`OUTCOMES` (see :func:`classify`).
    """

    train_loss: np.ndarray | float
    full_loss: np.ndarray | float
    homomorphism_error: np.ndarray | float
    min_distance: np.ndarray | float
    orthogonality: np.ndarray | float
    scale: np.ndarray | float
    outcome: np.ndarray | str


def classify(train_loss, full_loss, min_distance, *, loss_tol: float = DEFAULT_LOSS_TOL,
             distance_tol: float = DEFAULT_DISTANCE_TOL) -> np.ndarray | str:
    """Outcome per state: "stalled" if train_loss > loss_tol; else "fits-without-representation"
    if full_loss > loss_tol; else "faithful" if min_distance > distance_tol, "unfaithful" if not.

    Zero full-table loss makes M_a = ρ(a) C with ρ a homomorphism and C = M_e commuting with its
    image (docs), so ‖M_a − M_b‖ = ‖ρ(a) − ρ(b)‖ for rotations: distinct images ⇔ ρ injective.
    """
    train_loss, full_loss, min_distance = np.broadcast_arrays(
        np.asarray(train_loss, float), np.asarray(full_loss, float), np.asarray(min_distance, float))
    fitted = np.where(min_distance > distance_tol, "faithful", "unfaithful")
    out = np.where(train_loss > loss_tol, "stalled", np.where(full_loss > loss_tol, "fits-without-representation", fitted))
    return str(out) if out.ndim == 0 else out.astype(object)


def nearest_rotations(M) -> np.ndarray:
    """The rotation closest to each matrix in Frobenius norm, (..., k, k): with M = U S Vᵀ (SVD),
    U diag(1, ..., 1, det(U Vᵀ)) Vᵀ (the polar factor, its last axis flipped when det M < 0)."""
    M = np.asarray(M, dtype=np.float64)
    require(M.ndim >= 2 and M.shape[-1] == M.shape[-2], f"matrices must have shape (..., k, k), got {M.shape}")
    require(bool(np.all(np.isfinite(M))), "matrices have non-finite entries")
    U, _, Vt = np.linalg.svd(M)
    U[..., :, -1] *= np.sign(np.linalg.det(U @ Vt))[..., None]
    return U @ Vt


def score_matrices(task: FiniteGroup, M, train=None, *, normalise: bool = False, project: bool = False,
                   loss_tol: float = DEFAULT_LOSS_TOL, distance_tol: float = DEFAULT_DISTANCE_TOL) -> GroupScore:
    """Score any matrices M (..., p, k, k) against the group ``task`` (e.g. a network's learned
    matrix embeddings): losses, homomorphism error, distinctness of the images, outcome.

    ``train``: optional training-sample indices (the train loss is then on their quads).
    ``normalise``: first multiply each set by one factor so that mean_a ‖M_a‖²_F = k (the value
    of rotations): ℓ_grp scales as the fourth power of the matrices, so unnormalised losses of
    different networks are not comparable. A set of zero matrices is refused then.
    ``project``: replace each matrix by its :func:`nearest_rotations` first (after normalising),
    which scores the rotations a network's matrices are closest to.
    """
    check_group(task)
    M = check_matrices(M)
    require(M.shape[-3] == task.p, f"M must hold {task.p} matrices (one per element), got {M.shape[-3]}")
    k = M.shape[-1]
    scale = np.ones(M.shape[:-3])
    if normalise:
        ms = np.mean(np.sum(M * M, axis=(-2, -1)), axis=-1)
        require(bool(np.all(ms > 0)), "cannot normalise a set of zero matrices")
        scale = np.sqrt(k / ms)
        M = M * scale[..., None, None, None]
    if project:
        M = nearest_rotations(M)
    full_quads = group_quads(task)
    full = group_loss(M, full_quads)
    train_q = full_quads if train is None else group_quads(task, train)
    tr = group_loss(M, train_q) if train_q.shape[0] else np.zeros(M.shape[:-3])
    e = task.identity
    Me = M[..., e, :, :]
    singular = np.linalg.cond(Me) > 1e12
    safe = np.where(singular[..., None, None], np.eye(k), Me)
    rho = M @ np.linalg.inv(safe)[..., None, :, :]  # ρ(a) = M_a M_e⁻¹
    table = task.cayley
    prod = rho[..., :, None, :, :] @ rho[..., None, :, :, :]  # (..., p, p, k, k)
    err = np.linalg.norm(prod - rho[..., table, :, :], axis=(-2, -1)).max(axis=(-2, -1))
    hom = np.where(singular, np.nan, err)
    diff = np.linalg.norm(M[..., :, None, :, :] - M[..., None, :, :, :], axis=(-2, -1))
    off = ~np.eye(task.p, dtype=bool)
    dmin = diff[..., off].min(axis=-1)
    ortho = np.linalg.norm(np.swapaxes(M, -1, -2) @ M - np.eye(k), axis=(-2, -1)).max(axis=-1)
    outcome = classify(tr, full, np.where(singular, 0.0, dmin), loss_tol=loss_tol, distance_tol=distance_tol)

    def out(x):
        x = np.asarray(x, float)
        return float(x) if x.ndim == 0 else x

    return GroupScore(train_loss=out(tr), full_loss=out(full), homomorphism_error=out(hom), min_distance=out(dmin),
                      orthogonality=out(ortho), scale=out(scale), outcome=outcome)
