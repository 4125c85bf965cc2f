"""Representation metrics (docs/theory.md §7): normalisation, RQI and predicted accuracy.

Every public function takes embeddings ``E`` of shape ``(..., p, d)`` (any leading axes, e.g. a
trajectory ``(T, p, d)`` or a batch ``(T, B, p, d)``) and scores all of them in one call.

A parallelogram ``q = (i, j, m, n)`` *holds* in the normalised embeddings Ê when the mean over
the d dimensions of ``(Ê_i + Ê_j - Ê_m - Ê_n)^2`` is below ``δ_p = δ · 110 / (p (p + 1))``
(δ = 0.01 by default; at p = 10 this is the paper's threshold exactly).

Matrix representations (the permutation toy, docs/theory.md §9): embeddings are k x k matrices
``M`` (p, k, k), stored as (p, k²) rows in the kernels. They are divided by their global RMS
``sqrt(mean M²)`` over all p k² entries (no centring: a product is not translation invariant),
and a pair of distinct samples (a, b), (c, d) with equal label holds when the mean over the k²
entries of ``(M̂_a M̂_b - M̂_c M̂_d)^2`` is below :data:`MATRIX_THRESHOLD` = 0.5 (the paper's).
Every such pair counts, including (a, b), (b, a) of commuting a, b (:func:`efftheory.tasks.parallelograms.equal_result_pairs`).

The kernels here score ONE representation (p, d) and walk the parallelograms class by class
(samples grouped by label, :class:`efftheory.tasks.Classes`), so they need O(N) memory and
O(|P0|) time and never list the parallelograms. The training loop of the network calls the same
kernels at every evaluated step (one home for the definition); the public functions below run
them over a batch in parallel.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from numba import njit, prange

from efftheory.errors import positive_number, require
from efftheory.tasks import Addition, Split, Task

#: δ of the p-scaled tolerance δ_p (docs/theory.md §7).
DEFAULT_DELTA = 0.01
#: A network or a flow "has formed the structure" once RQI reaches this.
RQI_THRESHOLD = 0.95
#: Mean squared entry of M̂_a M̂_b - M̂_c M̂_d below which a matrix parallelogram holds.
MATRIX_THRESHOLD = 0.5


def threshold(p: int, delta: float = DEFAULT_DELTA) -> float:
    """δ_p = δ · 110 / (p (p + 1)): the residual tolerance scaled with the spacing 1/p.

    ``delta`` must be a finite number > 0 (InputError otherwise): a negative or NaN tolerance
    holds no parallelogram and would make every RQI 0 instead of an error."""
    return positive_number(delta, "delta") * 110.0 / (p * (p + 1))


# ------------------------------------------------------------------ kernels (one representation)


@njit(cache=True)
def normalize_into(E, En):
    """En (p, d) float64 <- E (p, d) normalised per dimension, computed in float64.

    Subtract the mean over the p symbols, divide by the sample std (ddof = 1). A dimension that
    is constant (std <= 1e-12 of its largest magnitude) carries no structure and becomes NaN,
    so no parallelogram holds in it. E may be float32 (the network's parameters).
    """
    p, d = E.shape
    for k in range(d):
        mu = 0.0
        scale = 0.0
        for i in range(p):
            x = float(E[i, k])
            mu += x
            scale = max(scale, abs(x))
        mu /= p
        ss = 0.0
        for i in range(p):
            e = float(E[i, k]) - mu
            ss += e * e
        sd = math.sqrt(ss / (p - 1))
        constant = not (sd > 1e-12 * max(scale, 1e-300))  # NaN input: constant too
        for i in range(p):
            En[i, k] = np.nan if constant else (float(E[i, k]) - mu) / sd


@njit(cache=True, inline="always")
def _holds(En, i, j, m, n, thr):
    """Mean over dimensions of (Ê_i + Ê_j - Ê_m - Ê_n)^2 < thr (NaN never holds)."""
    d = En.shape[1]
    acc = 0.0
    for k in range(d):
        r = En[i, k] + En[j, k] - En[m, k] - En[n, k]
        acc += r * r
    return acc / d < thr


@njit(cache=True)
def count_holding(En, class_pairs, ptr, thr):
    """How many parallelograms of the grouped samples hold in En.

    class_pairs: (n, 2) the symbols of the samples, grouped by label; the samples of label c are
    rows ptr[c]:ptr[c+1] (:meth:`Classes.pairs_of`). Pairs of samples with the same symbols,
    (a, b) and (b, a), are no parallelogram and are skipped.
    """
    held = 0
    for c in range(ptr.size - 1):
        for x in range(ptr[c], ptr[c + 1]):
            i, j = class_pairs[x, 0], class_pairs[x, 1]
            for y in range(x + 1, ptr[c + 1]):
                m, n = class_pairs[y, 0], class_pairs[y, 1]
                if (i == m and j == n) or (i == n and j == m):
                    continue
                if _holds(En, i, j, m, n, thr):
                    held += 1
    return held


@njit(cache=True)
def count_implied(En, test_pairs, test_labels, class_pairs, ptr, thr):
    """How many test samples t have a training sample s of the same label with {t, s} holding.

    test_pairs (n_test, 2), test_labels (n_test,): the test samples; class_pairs/ptr: the
    training samples grouped by label, as in :func:`count_holding`.
    """
    count = 0
    for a in range(test_labels.size):
        i, j = test_pairs[a, 0], test_pairs[a, 1]
        c = test_labels[a]
        for x in range(ptr[c], ptr[c + 1]):
            m, n = class_pairs[x, 0], class_pairs[x, 1]
            if (i == m and j == n) or (i == n and j == m):
                continue
            if _holds(En, i, j, m, n, thr):
                count += 1
                break
    return count


@njit(cache=True)
def rms_normalize_into(M, Mn):
    """Mn (p, k²) float64 <- M / sqrt(mean M²) over all entries, computed in float64.

    All-zero (or non-finite) M carries no structure: Mn becomes NaN and nothing holds.
    """
    p, d = M.shape
    ss = 0.0
    for i in range(p):
        for k in range(d):
            x = np.float64(M[i, k])  # numba's float() keeps float32
            ss += x * x
    rms = math.sqrt(ss / (p * d))
    bad = not (rms > 1e-300 and rms < np.inf)
    for i in range(p):
        for k in range(d):
            Mn[i, k] = np.nan if bad else np.float64(M[i, k]) / rms


@njit(cache=True, inline="always")
def _matrix_holds(Mn, side, a, b, c, e, thr):
    """Mean over the k² entries of (M̂_a M̂_b - M̂_c M̂_e)^2 < thr (NaN never holds)."""
    acc = 0.0
    for i in range(side):
        for j in range(side):
            r = 0.0
            for l in range(side):
                r += Mn[a, i * side + l] * Mn[b, l * side + j] - Mn[c, i * side + l] * Mn[e, l * side + j]
            acc += r * r
    return acc / (side * side) < thr


@njit(cache=True)
def count_holding_matrix(Mn, side, class_pairs, ptr, thr):
    """How many pairs of distinct grouped samples (equal label) hold in the matrices Mn (p, k²).

    Arguments as in :func:`count_holding`; no pair is skipped (for matrices (a, b) and (b, a)
    is a constraint too).
    """
    held = 0
    for c in range(ptr.size - 1):
        for x in range(ptr[c], ptr[c + 1]):
            a, b = class_pairs[x, 0], class_pairs[x, 1]
            for y in range(x + 1, ptr[c + 1]):
                if _matrix_holds(Mn, side, a, b, class_pairs[y, 0], class_pairs[y, 1], thr):
                    held += 1
    return held


@njit(cache=True)
def count_implied_matrix(Mn, side, test_pairs, test_labels, class_pairs, ptr, thr):
    """How many test samples have a training sample of the same label whose matrix
    parallelogram with them holds (arguments as in :func:`count_implied`)."""
    count = 0
    for t in range(test_labels.size):
        a, b = test_pairs[t, 0], test_pairs[t, 1]
        c = test_labels[t]
        for x in range(ptr[c], ptr[c + 1]):
            if _matrix_holds(Mn, side, a, b, class_pairs[x, 0], class_pairs[x, 1], thr):
                count += 1
                break
    return count


@njit(cache=True)
def holding_into(E, En, side, class_pairs, ptr, thr):
    """Parallelograms holding in one representation E (p, d), its normalised form written to
    En: the additive metric (side 0; centred, unit-norm columns) or the matrix metric of k x k
    matrices (side = k, d = k²; divided by the global RMS). The network's training loop calls
    this (with :func:`implied_count`) for the RQI of a step."""
    if side == 0:
        normalize_into(E, En)
        return count_holding(En, class_pairs, ptr, thr)
    rms_normalize_into(E, En)
    return count_holding_matrix(En, side, class_pairs, ptr, thr)


@njit(cache=True)
def implied_count(En, side, test_pairs, test_labels, tr_pairs, tr_ptr, thr):
    """Test samples implied by the normalised representation En (as :func:`holding_into` left
    it): the additive count (side 0) or the matrix one."""
    if side == 0:
        return count_implied(En, test_pairs, test_labels, tr_pairs, tr_ptr, thr)
    return count_implied_matrix(En, side, test_pairs, test_labels, tr_pairs, tr_ptr, thr)


# ------------------------------------------------------------------ batched drivers


@njit(cache=True, parallel=True)
def _normalize_batch(E, out):
    for b in prange(E.shape[0]):
        normalize_into(E[b], out[b])


@njit(cache=True, parallel=True)
def _holding_batch(En, class_pairs, ptr, thr):
    out = np.zeros(En.shape[0], np.int64)
    for b in prange(En.shape[0]):
        out[b] = count_holding(En[b], class_pairs, ptr, thr)
    return out


@njit(cache=True, parallel=True)
def _implied_batch(En, test_pairs, test_labels, class_pairs, ptr, thr):
    out = np.zeros(En.shape[0], np.int64)
    for b in prange(En.shape[0]):
        out[b] = count_implied(En[b], test_pairs, test_labels, class_pairs, ptr, thr)
    return out


# ------------------------------------------------------------------ public functions


def _check_E(E) -> np.ndarray:
    E = np.asarray(E, dtype=np.float64)
    require(E.ndim >= 2, f"embeddings must have shape (..., p, d), got {E.shape}")
    require(E.shape[-2] >= 2, f"embeddings need p >= 2 symbols, got shape {E.shape}")
    require(E.shape[-1] >= 1, f"embeddings need d >= 1 dimensions, got shape {E.shape}")
    return E


def normalize(E) -> np.ndarray:
    """Per dimension: subtract the mean over the p symbols, divide by the sample std (ddof=1).

    A dimension that is constant over the symbols (std = 0) carries no structure; it becomes
    NaN, and a parallelogram whose residual is NaN never holds.

    Args: E (..., p, d). Returns: (..., p, d) float64 (a new array).
    """
    E = _check_E(E)
    flat = np.ascontiguousarray(E.reshape((-1,) + E.shape[-2:]))
    out = np.empty_like(flat)
    _normalize_batch(flat, out)
    return out.reshape(E.shape)


def _flat_normalized(E) -> tuple[np.ndarray, tuple]:
    En = normalize(E)
    return np.ascontiguousarray(En.reshape((-1,) + En.shape[-2:])), En.shape[:-2]


def _shape_like(values: np.ndarray, lead: tuple):
    values = values.reshape(lead)
    return values.item() if values.ndim == 0 else values


@lru_cache(maxsize=64)
def _table(task: Task) -> tuple[np.ndarray, np.ndarray, int]:
    """(symbols of all samples grouped by label, class pointers, |P0|) of a task, computed once."""
    from efftheory.tasks.parallelograms import count_parallelograms

    every = np.arange(task.n_samples)
    classes = task.classes(every)
    return classes.pairs_of(task), classes.ptr, count_parallelograms(task, every)


def implied_arrays(split: Split) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(test pairs, test labels, training pairs grouped by label, their class pointers): what
    :func:`count_implied` takes for a split."""
    task, cls = split.task, split.train_classes
    return (np.ascontiguousarray(task.pairs[split.test]), np.ascontiguousarray(task.labels[split.test]),
            cls.pairs_of(task), cls.ptr)


def _task_for(E_p: int, task: Task | None) -> Task:
    task = Addition(E_p) if task is None else task
    require(isinstance(task, Task), f"task must be a Task, got {type(task).__name__}")
    require(task.p == E_p, f"embeddings have {E_p} symbols, the task has p={task.p}")
    return task


def rqi(E, delta: float = DEFAULT_DELTA, task: Task | None = None):
    """Representation Quality Index: the fraction of P0 (all parallelograms of D0) that hold.

    Args: E (..., p, d); ``task`` defaults to addition on p symbols.
    Returns: float, or (...) float64 array for leading axes. 0 when the table has no
    parallelogram (addition at p = 2).
    """
    En, lead = _flat_normalized(E)
    task = _task_for(En.shape[1], task)
    class_pairs, ptr, n_par = _table(task)
    if n_par == 0:
        return _shape_like(np.zeros(En.shape[0]), lead)
    held = _holding_batch(En, class_pairs, ptr, threshold(task.p, delta))
    return _shape_like(held / n_par, lead)


def implied_test_count(E, split: Split, delta: float = DEFAULT_DELTA):
    """Number of test samples t with a training s of equal label such that {t, s} holds in Ê."""
    require(isinstance(split, Split), f"split must be a Split, got {type(split).__name__}")
    En, lead = _flat_normalized(E)
    task = _task_for(En.shape[1], split.task)
    counts = _implied_batch(En, *implied_arrays(split), threshold(task.p, delta))
    return _shape_like(counts, lead)


def predicted_accuracy(E, split: Split, delta: float = DEFAULT_DELTA):
    """Predicted (test, full-table) accuracy Âcc of embeddings E on a split.

    test = implied / |test| (NaN without a test set); full = (|D| + implied) / N.
    Returns two floats, or two (...) arrays for leading axes.
    """
    count = np.asarray(implied_test_count(E, split, delta), dtype=np.float64)
    n_test = split.test.size
    test = count / n_test if n_test else np.full_like(count, np.nan)
    full = (split.n_train + count) / split.task.n_samples
    if count.ndim == 0:
        return float(test), float(full)
    return test, full


# ------------------------------------------------------------------ matrix representations


def _check_matrices(M) -> np.ndarray:
    M = np.asarray(M, dtype=np.float64)
    require(M.ndim >= 3 and M.shape[-1] == M.shape[-2] and M.shape[-1] >= 1,
            f"matrix embeddings must have shape (..., p, k, k), got {M.shape}")
    require(M.shape[-3] >= 2, f"matrix embeddings need p >= 2 symbols, got shape {M.shape}")
    return M


def matrix_normalize(M) -> np.ndarray:
    """(..., p, k, k) -> the same divided by each representation's global RMS (float64)."""
    M = _check_matrices(M)
    p, k = M.shape[-3], M.shape[-1]
    flat = np.ascontiguousarray(M.reshape(-1, p, k * k))
    out = np.empty_like(flat)
    for b in range(flat.shape[0]):
        rms_normalize_into(flat[b], out[b])
    return out.reshape(M.shape)


def _matrix_table(M, task: Task | None):
    from efftheory.tasks.parallelograms import count_equal_result_pairs

    require(task is not None, "the matrix metrics need the task (e.g. make_task('s3'))")
    M = _check_matrices(M)
    require(isinstance(task, Task), f"task must be a Task, got {type(task).__name__}")
    require(task.p == M.shape[-3], f"embeddings have {M.shape[-3]} symbols, the task has p={task.p}")
    p, k = M.shape[-3], M.shape[-1]
    Mn = matrix_normalize(M).reshape(-1, p, k * k)
    return Mn, M.shape[:-3], k, count_equal_result_pairs(task, np.arange(task.n_samples))


def matrix_rqi(M, task: Task, threshold: float = MATRIX_THRESHOLD):
    """Matrix RQI: the fraction of all pairs of distinct equal-label samples of the task's table
    whose matrix parallelogram holds (M̂_a M̂_b ≈ M̂_c M̂_d, module docstring).

    Args: M (..., p, k, k); ``task`` gives the labels (S3: a ∘ b). Returns float, or (...)
    float64 array for leading axes. The group's permutation matrices have matrix RQI 1.
    """
    Mn, lead, k, n_par = _matrix_table(M, task)
    classes = task.classes()
    pairs, ptr = classes.pairs_of(task), classes.ptr
    held = np.array([count_holding_matrix(m, k, pairs, ptr, float(threshold)) for m in Mn], dtype=np.float64)
    return _shape_like(held / n_par if n_par else np.zeros(len(Mn)), lead)


def matrix_predicted_accuracy(M, split: Split, threshold: float = MATRIX_THRESHOLD):
    """Predicted (test, full-table) accuracy of matrix embeddings on a split: a test sample
    (a, b) is implied when some training sample (c, d) with the same label has
    M̂_a M̂_b ≈ M̂_c M̂_d (as in the additive case, §7). test = implied / |test| (NaN without a
    test set), full = (|D| + implied) / N. Two floats, or two (...) arrays."""
    require(isinstance(split, Split), f"split must be a Split, got {type(split).__name__}")
    Mn, lead, k, _ = _matrix_table(M, split.task)
    arrays = implied_arrays(split)
    count = np.array([count_implied_matrix(m, k, *arrays, float(threshold)) for m in Mn], dtype=np.float64)
    n_test = split.test.size
    test = count / n_test if n_test else np.full_like(count, np.nan)
    full = (split.n_train + count) / split.task.n_samples
    if not lead:
        return float(test[0]), float(full[0])
    return test.reshape(lead), full.reshape(lead)
