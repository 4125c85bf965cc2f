"""The circle theory's reading of a representation over steps (docs/theory.md §13).

Each record E (p, d), d >= 2, is read as a ring: optionally each token's embedding is
standardised first (``reading="layernorm"``: what a LayerNorm in front of the network sees, the
way efftheory's transformer records its ring, §15), then the circle theory's PCA ring fit
(:func:`~efftheory.theories.circle.flow.fit_phases`: the leading PCA plane of the per-dimension
normalised embeddings) gives one phase per symbol, the ring's signed frequency, its coherence
and the variance share of the plane. Scored on the phases:

- circle RQI: the fraction of the full table's parallelograms with 1 − cos φ_q < δ_circ
  (0 for collapsed phases), :func:`~efftheory.theories.circle.flow.circle_rqi`;
- predicted accuracy: a test sample (a, b) counts when some training sample (c, d) of its label,
  other than the same two symbols, has 1 − cos(θ_a + θ_b − θ_c − θ_d) < δ_circ (§7 with the
  circle's residual; collapsed phases predict nothing, as they separate no classes);
- key Fourier frequencies: the share of the normalised embeddings' power at each frequency
  k = 1..⌊p/2⌋ (k and p − k are one ring), P_k = Σ_c |Σ_a Ê_ac exp(−2πi k a / p)|², over
  p ‖Ê‖²_F (Parseval: the shares sum to 1).

A record with fewer than two non-constant dimensions has no plane: its ring columns, circle RQI
and predicted accuracy are NaN.
"""

from __future__ import annotations

import numpy as np

from efftheory.errors import require
from efftheory.tasks import Split
from efftheory.theories.circle.ring import (DEFAULT_KAPPA, RING_RQI_THRESHOLD, circle_rqi, circle_threshold, collapsed,
                                            fit_phases, modular_quads, ring_frequency)
from efftheory.theories.linear.metrics import normalize
from efftheory.theories.track import StructureTrack, full_accuracy, read_tokens, vector_stack

#: key frequencies listed for the last record
N_KEY_FREQUENCIES = 3


def fourier_shares(E) -> np.ndarray:
    """(T, ⌊p/2⌋) share of the per-dimension normalised power of E (T, p, d) at k = 1..⌊p/2⌋
    (module docstring); constant dimensions carry no power. Rows sum to 1 (0 for a record with
    no non-constant dimension)."""
    En = np.nan_to_num(normalize(E), nan=0.0)
    p = En.shape[1]
    k = np.arange(1, p // 2 + 1)
    F = np.exp(-2j * np.pi * np.outer(k, np.arange(p)) / p) @ En  # (T, K, d)
    power = np.sum(np.abs(F) ** 2, axis=2) * np.where(2 * k == p, 1.0, 2.0)
    total = p * np.sum(En**2, axis=(1, 2))
    return power / np.where(total > 0, total, 1.0)[:, None]


def implied_by_phases(theta, split: Split, kappa: float = DEFAULT_KAPPA) -> np.ndarray:
    """(T,) number of test samples implied by phases theta (T, p) on ``split`` (module docstring).

    Pairs of the same two symbols ((a, b) and (b, a) of an ordered split) are no parallelogram
    and are skipped, as in :func:`efftheory.theories.linear.metrics.count_implied`."""
    task = split.task
    theta = np.asarray(theta, dtype=np.float64)
    delta = circle_threshold(task.p, kappa)
    tr, te = task.pairs[split.train], task.pairs[split.test]
    s_tr = theta[:, tr[:, 0]] + theta[:, tr[:, 1]]  # (T, n_train)
    s_te = theta[:, te[:, 0]] + theta[:, te[:, 1]]
    key_tr = np.minimum(tr[:, 0], tr[:, 1]) * task.p + np.maximum(tr[:, 0], tr[:, 1])
    key_te = np.minimum(te[:, 0], te[:, 1]) * task.p + np.maximum(te[:, 0], te[:, 1])
    lab_tr, lab_te = task.labels[split.train], task.labels[split.test]
    implied = np.zeros((theta.shape[0], te.shape[0]), bool)
    for c in np.unique(lab_te):
        i, j = np.flatnonzero(lab_te == c), np.flatnonzero(lab_tr == c)
        if j.size == 0:
            continue
        phi = s_te[:, i, None] - s_tr[:, None, j]  # (T, n_i, n_j)
        holds = 2.0 * np.sin(0.5 * phi) ** 2 < delta
        holds &= key_te[i, None] != key_tr[None, j]
        implied[:, i] = holds.any(axis=2)
    return np.where(collapsed(theta), 0, implied.sum(axis=1))


def phase_scores(phases, split: Split, kappa: float = DEFAULT_KAPPA) -> tuple[np.ndarray, np.ndarray]:
    """(circle RQI, predicted test accuracy), each (T,), of phases (T, p); NaN for both where a
    row is NaN (no plane: the record cannot be read) and for the accuracy without a test set."""
    phases = np.asarray(phases, dtype=np.float64)
    ok = np.all(np.isfinite(phases), axis=1)
    metric = np.full(len(phases), np.nan)
    implied = np.zeros(len(phases))
    if ok.any():
        metric[ok] = circle_rqi(phases[ok], modular_quads(split.p), circle_threshold(split.p, kappa))
        if split.n_test:
            implied[ok] = implied_by_phases(phases[ok], split, kappa)
    test = np.where(ok, implied / max(split.n_test, 1), np.nan) if split.n_test else np.full(len(phases), np.nan)
    return metric, test


def ring_track(E, split: Split, reading: str = "raw", kappa: float = DEFAULT_KAPPA) -> StructureTrack:
    """Ring fit, circle RQI, predicted accuracy and key frequencies of every record of E
    ((p, d) or (T, p, d), d >= 2) on a modular-addition ``split`` (module docstring).

    Columns: ``frequency`` (signed ring frequency of the PCA fit, 0 without a plane; the sign
    follows the fitted basis's orientation), ``coherence``, ``variance_explained``,
    ``top_frequency`` and ``top_share`` (the key Fourier frequency and its share of the power).
    ``reading`` "layernorm" standardises each token's embedding first
    (:func:`efftheory.theories.track.read_tokens`), as efftheory's transformer records its ring.
    """
    stack = vector_stack(E, split.p)
    p, d = stack.shape[1], stack.shape[2]
    require(p >= 3, f"a ring needs p >= 3 symbols, got p = {p}")
    require(d >= 2, f"a ring needs a plane: the embeddings need d >= 2 dimensions, got d = {d}")
    X = read_tokens(stack, reading)
    phases, coh, var = fit_phases(X)
    ok = np.all(np.isfinite(phases), axis=1)
    freq = np.zeros(len(X), np.int64)
    if ok.any():
        freq[ok] = ring_frequency(phases[ok])[0]
    metric, test = phase_scores(phases, split, kappa)
    shares = fourier_shares(X)
    top = np.argmax(shares, axis=1)
    order = np.argsort(-shares[-1], kind="stable")[:N_KEY_FREQUENCIES]
    final = {"ring_frequency": int(freq[-1]), "coherence": float(coh[-1]), "variance_explained": float(var[-1]),
             "circle_rqi": float(metric[-1]), "reading": reading, "kappa": float(kappa),
             "key_frequencies": [[int(k + 1), float(shares[-1, k])] for k in order]}
    return StructureTrack(
        theory="circle", metric_name="circle RQI", metric=metric, threshold=RING_RQI_THRESHOLD,
        predicted_test_acc=test, predicted_full_acc=full_accuracy(test, split),
        columns={"frequency": freq, "coherence": coh, "variance_explained": var,
                 "top_frequency": top + 1, "top_share": shares[np.arange(len(top)), top]},
        final=final, shares=("coherence", "variance_explained", "top_share"),
    )
