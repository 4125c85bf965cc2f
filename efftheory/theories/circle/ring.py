"""Phases read as a ring (docs/theory.md §13): the modular parallelograms of a table, the circle
RQI, the ring's frequency and coherence, the ring fit of embeddings, the outcome of a flow."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from efftheory.errors import InputError, positive_number, require
from efftheory.tasks import ModularAddition
from efftheory.theories.circle.fourier import fourier_plane
from efftheory.theories.linear.metrics import normalize

OUTCOMES = ("ring", "collapsed", "stalled", "fits-without-ring")
"""Outcomes of a flow from random phases, in the order :func:`~efftheory.theories.circle.probability.ring_probability` reports them.

"collapsed" is the f = 0 ring (all phases equal): a zero-loss solution of the full table like
every ring, but one that cannot tell the classes apart."""


#: A parallelogram holds when |φ_q| (mod 2π) is below this fraction of the ring spacing 2π/p.
#: Decoding by the nearest ring point is right for any |φ_q| < π/p (fraction 0.5); 0.3 keeps a
#: margin and matches the additive RQI, whose tolerance δ·110/(p(p+1)) on the mean squared
#: normalised residual is a residual of sqrt(1.1 (p−1) / (12 p)) ≈ 0.29 of the spacing.
DEFAULT_KAPPA = 0.3


#: Training loss above which a flow that has come to rest counts as stalled. Measured (p = 23 and 59,
#: fractions 0.1-0.4, seed 0): every state that fitted ended at ℓ <= 1e-17 (<= 1e-12 at p = 59,
#: frac 0.05, where the flow is slow along free directions); every stalled one at ℓ >= 0.007.
DEFAULT_LOSS_TOL = 1e-6


#: Coherence at and above which a fitted state is a ring. A ring with independent phase errors of
#: rms σ has coherence ≈ exp(−σ²/2), so 0.99 allows σ ≈ 0.14 rad. When the training set leaves no
#: free direction the split is clean: fitted rings have coherence 1 − 1e-15 and the fitted
#: non-rings seen at most (p − 2)/p (a ring with two symbols out of place). With free directions
#: the zero-loss set contains deformed rings and the coherence of fitted states is a continuum
#: (p = 23, frac 0.2: 44 of 1000 in (0.9, 0.99)), so there the split depends on this value.
DEFAULT_COHERENCE_MIN = 0.99


def modular_quads(p: int, samples=None) -> np.ndarray:
    """(M, 4) int64 parallelograms of ``samples`` (default: the full table) under addition mod p.

    A parallelogram is an unordered pair of distinct samples (a, b), (c, d) (samples in the
    order given, the earlier one first) with a + b ≡ c + d (mod p); it is returned as the
    quadruple (a, b, c, d). Distinct unordered samples never give a zero constraint vector.
    """
    p = check_p(p)
    samples = ModularAddition(p).pairs if samples is None else check_samples(samples, p)
    cls = samples.sum(axis=1) % p
    blocks = []
    for s in range(p):
        members = np.flatnonzero(cls == s)
        i, j = np.triu_indices(members.size, k=1)
        blocks.append(np.concatenate([samples[members[i]], samples[members[j]]], axis=1))
    return np.ascontiguousarray(np.concatenate(blocks, axis=0), dtype=np.int64)


@njit(cache=True, parallel=True)
def _holds_count(theta, quads, delta):
    """For each row b of theta (B, p): how many quads have 1 − cos φ_q < delta. (B,) int64."""
    B = theta.shape[0]
    out = np.zeros(B, np.int64)
    for b in prange(B):
        count = 0
        for q in range(quads.shape[0]):
            phi = theta[b, quads[q, 0]] + theta[b, quads[q, 1]] - theta[b, quads[q, 2]] - theta[b, quads[q, 3]]
            half = math.sin(0.5 * phi)
            if 2.0 * half * half < delta:  # 1 − cos φ without cancellation
                count += 1
        out[b] = count
    return out


def circle_threshold(p: int, kappa: float = DEFAULT_KAPPA) -> float:
    """δ_circ = 1 − cos(2π κ / p): a parallelogram holds when |φ_q| < κ · (ring spacing 2π/p)."""
    p = check_p(p)
    return 1.0 - math.cos(2.0 * math.pi * positive_number(kappa, "kappa") / p)


def circle_rqi(theta, full_quads, delta: float | None = None) -> float | np.ndarray:
    """Circle RQI: fraction of ``full_quads`` with 1 − cos φ_q < δ_circ, for phases (..., p);
    0 for collapsed phases.

    ``delta`` defaults to :func:`circle_threshold` (κ = 0.3 of the ring spacing). A ring of any
    frequency f ≠ 0 perturbed by less than κ/4 of the spacing per phase scores 1. Phases closer
    to the collapsed f = 0 ring than to any other (:func:`collapsed`) score 0: they satisfy
    every parallelogram trivially but separate no classes, the way a constant dimension scores
    0 in the additive RQI (docs/theory.md §7, §13). Uniform random phases score about 2κ/p.
    """
    theta = check_theta(theta)
    p = theta.shape[-1]
    quads = check_quads(full_quads, p)
    delta = circle_threshold(p) if delta is None else positive_number(delta, "delta")
    flat = np.ascontiguousarray(theta.reshape(-1, p))
    out = (_holds_count(flat, quads, delta) / quads.shape[0]).reshape(theta.shape[:-1])
    out = np.where(collapsed(theta), 0.0, out)
    return float(out) if out.ndim == 0 else out


def collapsed(theta) -> bool | np.ndarray:
    """Whether phases (..., p) are closer to the collapsed ring than to any ring of frequency f ≠ 0:
    |mean_a exp(iθ_a)| (the coherence at f = 0) >= the best coherence at f ≠ 0
    (:func:`ring_frequency`). All phases equal gives 1 against 0; an exact ring f ≠ 0 the reverse."""
    theta = check_theta(theta)
    _, best = ring_frequency(theta)
    out = np.abs(np.mean(np.exp(1j * theta), axis=-1)) >= best
    return bool(out) if out.ndim == 0 else out


def ring_frequency(theta) -> tuple[np.ndarray | int, np.ndarray | float]:
    """The ring a phase vector is closest to: (signed frequency k, coherence), batched over (...).

    coherence_f = |mean_a exp(i(θ_a − 2π f a / p))|, maximised over f = 1..p−1. Frequencies f and
    p − f are the same ring traversed in opposite directions, so the result is the signed
    frequency k ≡ f (mod p) with |k| <= p/2: |k| is the ring's frequency and the sign its
    orientation (θ_a ≈ θ_0 + 2π k a / p). The coherence is 1 exactly on a ring.
    """
    theta = check_theta(theta)
    p = theta.shape[-1]
    f = np.arange(1, p)
    a = np.arange(p)
    z = np.exp(1j * theta)  # (..., p)
    basis = np.exp(-2j * np.pi * np.outer(a, f) / p)  # (p, p-1)
    coh = np.abs(z @ basis) / p  # (..., p-1)
    best = np.argmax(coh, axis=-1)
    fbest = f[best]
    k = np.where(fbest > p // 2, fbest - p, fbest)
    c = np.take_along_axis(coh, best[..., None], axis=-1)[..., 0]
    if k.ndim == 0:
        return int(k), float(c)
    return k.astype(np.int64), c


@dataclass(frozen=True)
class RingFit:
    """A ring fitted to d-dimensional embeddings.

    Attributes:
        phases: (p,) float64 angle of each symbol in the fitted plane, in (−π, π].
        frequency: signed ring frequency k of the phases (see :func:`ring_frequency`).
        coherence: coherence of the phases at that frequency (1 on a perfect ring).
        variance_explained: fraction of the normalised embeddings' variance in the plane.
        method: "pca" or "fourier".
    """

    phases: np.ndarray
    frequency: int
    coherence: float
    variance_explained: float
    method: str


def ring_fit(E, method: str = "pca") -> RingFit:
    """Fit a ring to embeddings E (p, d), d >= 2.

    E is normalised per dimension (mean 0, ddof=1 std; constant dimensions are dropped). Then

    - "pca": the plane of the two leading principal components (SVD of the normalised E);
    - "fourier": the plane spanned by Re F_f and Im F_f of the Fourier component
      F_f = Σ_a Ê_a exp(−2πi f a/p) with the largest power, f = 1..⌊p/2⌋
      (:func:`efftheory.theories.circle.fourier.fourier_plane`; the power of f counts f and p − f).

    The phases are the angles of the symbols projected on that (orthonormalised) plane; the
    variance fraction is the plane's share of ||Ê||²_F.
    """
    require(method in ("pca", "fourier"), f"unknown ring-fit method {method!r}; choose pca or fourier")
    E = np.asarray(E, dtype=np.float64)
    require(E.ndim == 2 and E.shape[0] >= 3 and E.shape[1] >= 2, f"E must have shape (p, d) with p >= 3, d >= 2, got {E.shape}")
    require(bool(np.all(np.isfinite(E))), "E has non-finite entries")
    En = _normalize(E)
    basis = _pca_plane(En) if method == "pca" else _fourier_plane(En)  # (d', 2) orthonormal
    xy = En @ basis
    phases = np.arctan2(xy[:, 1], xy[:, 0])
    k, coh = ring_frequency(phases)
    explained = float(np.sum(xy**2) / np.sum(En**2))
    return RingFit(phases, int(k), float(coh), explained, method)


def fit_phases(embeddings) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ring fits of (T, p, d) embeddings: ((T, p) phases, (T,) coherence, (T,) variance share).

    The same fit as :func:`ring_fit` (method "pca") at every step, batched: the
    steps whose every dimension varies go through one batched normalisation and SVD (a run has
    thousands of evaluated steps), the others one by one. Steps that cannot be fitted
    (non-finite, or fewer than two non-constant dimensions) get NaN everywhere. A PCA basis is
    defined up to the sign of each axis, so phases may differ from ring_fit's by a reflection or a
    half turn; the frequency's magnitude, the coherence and the circle RQI do not.
    """
    E = np.asarray(embeddings, dtype=np.float64)
    require(E.ndim == 3 and E.shape[2] >= 2, f"embeddings must have shape (T, p, d) with d >= 2, got {E.shape}")
    T, p, _ = E.shape
    phases, coh, var = np.full((T, p), np.nan), np.full(T, np.nan), np.full(T, np.nan)
    En = normalize(E)  # constant (or non-finite) dimensions become NaN
    whole = np.all(np.isfinite(En), axis=(1, 2))
    if whole.any():
        X = En[whole]
        _, _, Vt = np.linalg.svd(X, full_matrices=False)  # (T', d, d)
        xy = X @ np.swapaxes(Vt[:, :2, :], 1, 2)  # (T', p, 2): the two leading components
        phases[whole] = np.arctan2(xy[..., 1], xy[..., 0])
        _, coh[whole] = ring_frequency(phases[whole])
        var[whole] = np.sum(xy**2, axis=(1, 2)) / np.sum(X**2, axis=(1, 2))
    for t in np.flatnonzero(~whole):  # some dimension constant: the fit drops it, if two remain
        if not np.all(np.isfinite(E[t])):
            continue
        try:
            fit = ring_fit(E[t])
        except InputError:  # fewer than two non-constant dimensions: no plane
            continue
        phases[t], coh[t], var[t] = fit.phases, fit.coherence, fit.variance_explained
    return phases, coh, var


def _normalize(E: np.ndarray) -> np.ndarray:
    """The metrics' normalisation (docs/theory.md §7), constant dimensions dropped."""
    En = normalize(E)
    keep = ~np.isnan(En).any(axis=0)
    require(int(keep.sum()) >= 2, "E needs at least two non-constant dimensions for a ring fit")
    return En[:, keep]


def _pca_plane(En: np.ndarray) -> np.ndarray:
    _, _, Vt = np.linalg.svd(En, full_matrices=False)
    return Vt[:2].T


def _fourier_plane(En: np.ndarray) -> np.ndarray:
    """The plane of the strongest frequency: the two-dimensional case of the Fourier analysis."""
    return fourier_plane(En)[1]


def classify_outcome(theta_final, loss_final, *, loss_tol: float = DEFAULT_LOSS_TOL,
                     coherence_min: float = DEFAULT_COHERENCE_MIN) -> np.ndarray | str:
    """Outcome of a flow from its final phases (..., p) and final training loss (...).

    - "stalled": ℓ_circ > ``loss_tol`` (default 1e-6): the training parallelograms are not fitted;
    - "ring": ℓ_circ <= loss_tol and coherence >= ``coherence_min`` (default 0.99) at the best
      frequency f ≠ 0 (see :func:`ring_frequency`);
    - "collapsed": ℓ_circ <= loss_tol and |mean_a exp(iθ_a)| >= coherence_min (the f = 0 ring);
    - "fits-without-ring": ℓ_circ <= loss_tol and neither coherence reaches coherence_min.

    Call it on states that have come to rest (e.g. from :func:`ring_probability`); a flow cut
    short may still be on its way to a ring.
    """
    theta_final = check_theta(theta_final)
    loss_final = np.asarray(loss_final, dtype=np.float64)
    require(loss_final.shape == theta_final.shape[:-1],
            f"loss_final must have shape {theta_final.shape[:-1]}, got {loss_final.shape}")
    _, coh = ring_frequency(theta_final)
    coh0 = np.abs(np.mean(np.exp(1j * theta_final), axis=-1))
    fitted = np.where(coh >= coherence_min, "ring",
                      np.where(coh0 >= coherence_min, "collapsed", "fits-without-ring"))
    out = np.where(loss_final > loss_tol, "stalled", fitted)
    return str(out) if out.ndim == 0 else out


def check_p(p) -> int:
    require(isinstance(p, numbers.Integral) and not isinstance(p, bool) and p >= 3, f"p must be an integer >= 3, got {p!r}")
    return int(p)


def check_theta(theta) -> np.ndarray:
    theta = np.asarray(theta, dtype=np.float64)
    require(theta.ndim >= 1 and theta.shape[-1] >= 3, f"phases must have shape (..., p) with p >= 3, got {theta.shape}")
    require(bool(np.all(np.isfinite(theta))), "phases have non-finite entries")
    return theta


def check_quads(quads, p: int | None, allow_empty: bool = False) -> np.ndarray:
    quads = np.ascontiguousarray(quads, dtype=np.int64)
    require(quads.ndim == 2 and quads.shape[1] == 4, f"quads must have shape (M, 4), got {quads.shape}")
    require(allow_empty or quads.shape[0] >= 1, "quads is empty: no parallelograms")
    if p is not None:
        check_quads_fit(quads, p)
    return quads


def check_quads_fit(quads: np.ndarray, p: int) -> None:
    require(quads.size == 0 or (int(quads.min()) >= 0 and int(quads.max()) < p),
            f"quads must hold symbols in 0..{p - 1}")


def check_samples(samples, p: int) -> np.ndarray:
    samples = np.asarray(samples, dtype=np.int64)
    require(samples.ndim == 2 and samples.shape[1] == 2, f"samples must have shape (n, 2), got {samples.shape}")
    require(samples.size == 0 or (int(samples.min()) >= 0 and int(samples.max()) < p), f"samples must hold symbols in 0..{p - 1}")
    return samples


#: circle RQI at which a flow has formed its ring
RING_RQI_THRESHOLD = 0.95
