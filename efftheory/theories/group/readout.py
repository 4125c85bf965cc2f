"""The matrix theory's reading of a representation over steps (docs/theory.md §14).

Each record holds one k x k matrix per group element (p, k, k), or the same flattened to
(p, k²). Scored as the matrix toy is: the matrix RQI (every pair of distinct samples with equal
products whose M̂_a M̂_b ≈ M̂_c M̂_d, after dividing by the global RMS) and its predicted
accuracy (:mod:`efftheory.metrics`), and beside them how far the matrices are from a
representation (:func:`efftheory.group_theory.score_matrices`, scaled to mean_a ‖M_a‖²_F = k):
the mismatch ℓ_grp over the full table, the homomorphism error of ρ(a) = M_a M_e⁻¹ and the
smallest distance between two elements' images (0: not faithful).
"""

from __future__ import annotations

import math

import numpy as np

from efftheory.errors import require
from efftheory.group_theory import score_matrices
from efftheory.metrics import MATRIX_THRESHOLD, RQI_THRESHOLD, matrix_predicted_accuracy, matrix_rqi
from efftheory.tasks import Split
from efftheory.theories.track import StructureTrack, check_finite


def matrix_stack(M, p: int) -> np.ndarray:
    """Matrices as a (T, p, k, k) float64 stack from (p, k, k), (T, p, k, k), (p, k²) or
    (T, p, k²) (k² a perfect square); refuses other shapes and non-finite entries."""
    M = np.asarray(M)
    require(M.dtype.kind in "fiub", f"embeddings must be numbers, got dtype {M.dtype}")
    shape = M.shape
    if M.ndim >= 3 and shape[-1] == shape[-2] and shape[-3] == p and M.ndim in (3, 4):
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


def matrix_track(M, split: Split, reading: str = "raw", threshold: float = MATRIX_THRESHOLD) -> StructureTrack:
    """Matrix RQI, predicted accuracy and representation scores of every record of M on a group
    ``split`` (module docstring). Columns: ``full_loss``, ``homomorphism_error`` (NaN when M_e
    is singular) and ``min_distance``. Matrices are read as given (``reading`` "raw" only: a
    LayerNorm reading has no meaning for a product of matrices)."""
    require(reading == "raw", f"matrix embeddings are read as given; the reading {reading!r} does not apply")
    stack = matrix_stack(M, split.p)
    task = split.task
    score = np.atleast_1d(np.asarray(matrix_rqi(stack, task, threshold), dtype=np.float64))
    test, full = (np.atleast_1d(np.asarray(x, dtype=np.float64))
                  for x in matrix_predicted_accuracy(stack, split, threshold))
    zero = np.all(stack == 0, axis=(1, 2, 3))
    sc = score_matrices(task, np.where(zero[:, None, None, None], 1.0, stack), split.train, normalise=True)
    cols = {name: np.where(zero, np.nan, np.atleast_1d(getattr(sc, name)).astype(np.float64))
            for name in ("full_loss", "homomorphism_error", "min_distance")}
    return StructureTrack(
        theory="matrix", metric_name="matrix RQI", metric=score, threshold=RQI_THRESHOLD,
        predicted_test_acc=test, predicted_full_acc=full, columns=cols,
        final={"matrix_rqi": float(score[-1]), "k": int(stack.shape[-1]),
               **{name: float(v[-1]) for name, v in cols.items()}},
    )


def matrix_summary(split: Split, critical_trials: int = 2000, progress=None) -> dict:
    """The matrix theory's view of the split (§14): its pairs of samples with equal products
    (each a constraint M_a M_b = M_c M_d) against the full table's, and the reachable test
    accuracy (a test sample whose product and both elements occur in training). The matrix
    theory has no linear rank, so no dof, rate or critical fraction (its survey, ``python -m
    efftheory.group_survey``, gives outcome probabilities by flow and is not run here)."""
    from efftheory.theory import count_equal_result_pairs, reachable_test_accuracy

    task = split.task
    n_test = split.n_test
    reach = reachable_test_accuracy(split) if n_test else None
    return {"theory": "matrix", "n_parallelograms": count_equal_result_pairs(task, split.train),
            "n_parallelograms_full": count_equal_result_pairs(task, np.arange(task.n_samples)),
            "dof": None, "unique": None, "rate": None, "rate_name": None, "ideal_test_accuracy": reach,
            "ideal_full_accuracy": (split.n_train + (reach or 0.0) * n_test) / task.n_samples,
            "critical_fraction": None, "critical_trials": 0, "critical_side": None}


def matrix_time_scale(summary: dict, M, lr: float) -> None:
    """The matrix theory has no linear rate, so no time scale."""
    return None
