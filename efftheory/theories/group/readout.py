"""The matrix theory's reading of a representation over steps (docs/theory.md §14).

Each record holds one k x k matrix per group element (p, k, k), or the same flattened to
(p, k²). Scored as the matrix toy is: the matrix RQI (every pair of distinct samples with equal
products whose M̂_a M̂_b ≈ M̂_c M̂_d, after dividing by the global RMS) and its predicted
accuracy (:mod:`efftheory.theories.linear.metrics`), and beside them how far the matrices are from a
representation (:func:`efftheory.theories.group.flow.score_matrices`, scaled to mean_a ‖M_a‖²_F = k):
the mismatch ℓ_grp over the full table, the homomorphism error of ρ(a) = M_a M_e⁻¹ and the
smallest distance between two elements' images (0: not faithful).
"""

from __future__ import annotations

import math

import numpy as np

from efftheory.errors import require
from efftheory.tasks import Split
from efftheory.theories.group.score import score_matrices
from efftheory.theories.track import check_finite

#: the representation scores reported beside the matrix RQI, fields of GroupScore
COLUMNS = ("full_loss", "homomorphism_error", "min_distance")


def matrix_stack(M, p: int) -> np.ndarray:
    """Matrices as a (T, p, k, k) float64 stack from (p, k, k), (T, p, k, k), (p, k²) or
    (T, p, k²) (k² a perfect square); refuses other shapes and non-finite entries."""
    M = np.asarray(M)
    require(M.dtype.kind in "fiub", f"embeddings must be numbers, got dtype {M.dtype}")
    shape = M.shape
    if M.ndim in (3, 4) and shape[-1] == shape[-2] and shape[-3] == p:
        M = M[None] if M.ndim == 3 else M
    elif M.ndim in (2, 3) and shape[-2] == p:
        k = math.isqrt(shape[-1])
        require(k * k == shape[-1], f"matrix embeddings (p, k²) need a square number of columns, got shape {shape}")
        M = (M[None] if M.ndim == 2 else M).reshape(-1, p, k, k)
    else:
        require(False, f"matrix embeddings must be (p, k, k), (T, p, k, k), (p, k²) or (T, p, k²) with p = {p}, "
                       f"got shape {shape}")
    M = np.asarray(M, dtype=np.float64)
    require(M.shape[0] >= 1 and M.shape[-1] >= 1, f"embeddings must not be empty, got shape {shape}")
    check_finite(M)
    return M


def matrix_columns(stack: np.ndarray, split: Split) -> dict:
    """The representation scores (:data:`COLUMNS`) of every record of ``stack`` (T, p, k, k),
    each (T,), the matrices scaled to mean_a ‖M_a‖²_F = k first; NaN for an all-zero record
    (nothing to scale) and a homomorphism error of NaN where M_e is singular."""
    zero = np.all(stack == 0, axis=(1, 2, 3))
    sc = score_matrices(split.task, np.where(zero[:, None, None, None], 1.0, stack), split.train, normalise=True)
    return {name: np.where(zero, np.nan, np.atleast_1d(getattr(sc, name)).astype(np.float64)) for name in COLUMNS}
