"""Representation metrics (design §4): normalisation, RQI and predicted accuracy.

Every function takes embeddings ``E`` of shape ``(..., p, d)`` (any leading axes, e.g. a
trajectory ``(T, p, d)`` or a batch ``(T, B, p, d)``) and scores all of them in one call.

A parallelogram ``q = (i, j, m, n)`` *holds* in the normalised embeddings Ê when the mean over
the d dimensions of ``(Ê_i + Ê_j - Ê_m - Ê_n)^2`` is below ``δ_p = δ · 110 / (p (p + 1))``
(δ = 0.01 by default; at p = 10 this is the paper's threshold exactly).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numba import njit, prange

from efftheory.errors import require
from efftheory.tasks import Split
from efftheory.theory import parallelogram_quads

DEFAULT_DELTA = 0.01


def threshold(p: int, delta: float = DEFAULT_DELTA) -> float:
    """δ_p = δ · 110 / (p (p + 1)): the residual tolerance scaled with the spacing 1/p."""
    return delta * 110.0 / (p * (p + 1))


def _check_E(E) -> np.ndarray:
    E = np.asarray(E, dtype=np.float64)
    require(E.ndim >= 2, f"embeddings must have shape (..., p, d), got {E.shape}")
    require(E.shape[-2] >= 2, f"embeddings need p >= 2 symbols, got shape {E.shape}")
    return E


def normalize(E) -> np.ndarray:
    """Per dimension: subtract the mean over the p symbols, divide by the sample std (ddof=1).

    A dimension that is constant over the symbols (std = 0) carries no structure; it becomes
    NaN, and a parallelogram whose residual is NaN never holds.

    Args: E (..., p, d). Returns: (..., p, d) float64.
    """
    E = _check_E(E)
    centred = E - E.mean(axis=-2, keepdims=True)
    std = centred.std(axis=-2, ddof=1, keepdims=True)
    scale = np.abs(E).max(axis=-2, keepdims=True)
    constant = std <= 1e-12 * np.maximum(scale, 1e-300)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(constant, np.nan, centred / np.where(constant, 1.0, std))


@njit(cache=True, parallel=True)
def _holds_count(En, quads, thr):
    """For each b: how many rows (i, j, m, n) of quads hold in En[b].

    En: (B, p, d) normalised; quads: (M, 4) int64; returns (B,) int64.
    """
    B, _, d = En.shape
    out = np.zeros(B, np.int64)
    for b in prange(B):
        c = 0
        for q in range(quads.shape[0]):
            i, j, m, n = quads[q, 0], quads[q, 1], quads[q, 2], quads[q, 3]
            acc = 0.0
            for k in range(d):
                r = En[b, i, k] + En[b, j, k] - En[b, m, k] - En[b, n, k]
                acc += r * r
            if acc / d < thr:  # NaN compares False: never holds
                c += 1
        out[b] = c
    return out


@njit(cache=True, parallel=True)
def _owners_with_a_hold(En, quads, owner, n_owners, thr):
    """For each b: how many owners have at least one holding quad. owner: (M,) in [0, n_owners)."""
    B, _, d = En.shape
    out = np.zeros(B, np.int64)
    for b in prange(B):
        seen = np.zeros(n_owners, np.bool_)
        c = 0
        for q in range(quads.shape[0]):
            o = owner[q]
            if seen[o]:
                continue
            i, j, m, n = quads[q, 0], quads[q, 1], quads[q, 2], quads[q, 3]
            acc = 0.0
            for k in range(d):
                r = En[b, i, k] + En[b, j, k] - En[b, m, k] - En[b, n, k]
                acc += r * r
            if acc / d < thr:
                seen[o] = True
                c += 1
        out[b] = c
    return out


@lru_cache(maxsize=64)
def _all_quads(p: int) -> np.ndarray:
    return parallelogram_quads(p)


def _flat(E) -> tuple[np.ndarray, tuple]:
    En = normalize(E)
    lead = En.shape[:-2]
    return np.ascontiguousarray(En.reshape((-1,) + En.shape[-2:])), lead


def _shape_like(values: np.ndarray, lead: tuple):
    values = values.reshape(lead)
    return float(values) if values.ndim == 0 else values


def rqi(E, delta: float = DEFAULT_DELTA):
    """Representation Quality Index: the fraction of P0 (all parallelograms of D0) that hold.

    Args: E (..., p, d). Returns: float, or (...) float64 array for leading axes.
    """
    En, lead = _flat(E)
    p = En.shape[1]
    quads = _all_quads(p)
    if quads.shape[0] == 0:  # p = 2: no parallelogram to hold
        return _shape_like(np.zeros(En.shape[0]), lead)
    counts = _holds_count(En, quads, threshold(p, delta))
    return _shape_like(counts / quads.shape[0], lead)


@lru_cache(maxsize=32)
def _test_train_quads(task, train_key: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(quads (M, 4), owner (M,)): every (test t, train s) pair of equal sums, t's position."""
    train = np.frombuffer(train_key, dtype=np.int64)
    pairs, sums = task.pairs, task.sums
    mask = np.ones(task.n_samples, bool)
    mask[train] = False
    test = np.flatnonzero(mask)
    t_pos, s_idx = np.nonzero(sums[test][:, None] == sums[train][None, :])
    quads = np.concatenate([pairs[test[t_pos]], pairs[train[s_idx]]], axis=1).astype(np.int64)
    return np.ascontiguousarray(quads), t_pos.astype(np.int64)


def implied_test_count(E, split: Split, delta: float = DEFAULT_DELTA):
    """Number of test samples t with a training s of equal sum such that {t, s} holds in Ê."""
    En, lead = _flat(E)
    require(En.shape[1] == split.p, f"embeddings have {En.shape[1]} symbols, the split has p={split.p}")
    quads, owner = _test_train_quads(split.task, np.ascontiguousarray(split.train).tobytes())
    if quads.shape[0] == 0:
        return np.zeros(lead, dtype=np.int64) if lead else 0
    counts = _owners_with_a_hold(En, quads, owner, split.test.size, threshold(split.p, delta))
    counts = counts.reshape(lead)
    return int(counts) if counts.ndim == 0 else counts


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
