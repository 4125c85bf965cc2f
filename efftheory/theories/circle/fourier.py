"""Fourier analysis of an embedding on Z_p: power per frequency, key frequencies, concentration.

An embedding E (p, d) gives every residue a in Z_p a vector E_a. Each column c is a function on
Z_p with discrete Fourier transform

    F_k(c) = sum_a E[a, c] exp(-2 pi i k a / p),      k = 0..p-1.

The columns are real, so F_{p-k} = conj(F_k): frequencies k and p - k are one real plane (the
same ring traversed the other way). The *power* at frequency k = 0..K, K = floor(p / 2), sums
both halves over the columns,

    P_0 = sum_c |F_0(c)|^2,   P_k = 2 sum_c |F_k(c)|^2 (0 < k < p/2),   P_{p/2} = sum_c |F_{p/2}(c)|^2,

so that sum_k P_k = p ||E||_F^2 (Parseval). P_0 is the mean; the *spectrum* is the share of the
non-constant power at each k = 1..K, s_k = P_k / sum_{j >= 1} P_j. An embedding whose columns
are cos(2 pi k a / p + phi_c) has all its non-constant power at k.

Concentration of the spectrum: the participation number 1 / sum_k s_k^2 (K for a flat spectrum,
1 for a single frequency) and the Gini coefficient of (s_1..s_K) (0 flat, (K - 1) / K for one
frequency). The *key frequencies* are the fewest frequencies, by decreasing power, whose shares
sum to at least ``coverage`` (:data:`KEY_COVERAGE`, 0.8).

A ring (the circle theory's structure) is the case d = 2 with one frequency: the plane of the
strongest frequency, :func:`fourier_plane`, is the Fourier ring fit of
:func:`efftheory.theories.circle.ring.ring_fit`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from efftheory.errors import require

#: share of the non-constant power the key frequencies carry at least
KEY_COVERAGE = 0.8


def fourier_components(E) -> np.ndarray:
    """F_k of every column for k = 0..K: (..., K + 1, d) complex, for E (..., p, d)."""
    E = _check_embedding(E)
    return np.fft.rfft(E, axis=-2)


def fourier_power(E) -> np.ndarray:
    """The power P_k, k = 0..K (module docstring): (..., K + 1) float64 for E (..., p, d)."""
    E = _check_embedding(E)
    p = E.shape[-2]
    P = np.sum(np.abs(np.fft.rfft(E, axis=-2)) ** 2, axis=-1)
    last = P.shape[-1] if p % 2 else P.shape[-1] - 1  # p/2 (p even) is its own mirror
    P[..., 1:last] *= 2.0
    return P


@dataclass(frozen=True)
class Spectrum:
    """The spectrum of one embedding, or of a stack of them (leading axes ``...``).

    Attributes:
        p: the modulus; K = p // 2 frequencies 1..K.
        power: (..., K + 1) float64 power P_k for k = 0..K (k = 0: the mean).
        share: (..., K) share of the non-constant power at k = 1..K (sums to 1; NaN for a
            constant embedding).
        participation: (...) 1 / sum_k share_k^2, the effective number of frequencies.
        gini: (...) Gini coefficient of the shares.
    """

    p: int
    power: np.ndarray
    share: np.ndarray
    participation: np.ndarray
    gini: np.ndarray

    @property
    def frequencies(self) -> np.ndarray:
        """(K,) int64: 1..K, the frequency of each column of ``share``."""
        return np.arange(1, self.p // 2 + 1)

    def ranked(self) -> np.ndarray:
        """(..., K) int64 frequencies by decreasing power (ties: the lower frequency first)."""
        order = np.argsort(-self.share, axis=-1, kind="stable")
        return order + 1

    def dominant(self) -> np.ndarray | int:
        """The frequency k >= 1 with the largest power: (...) int64, or an int for one embedding."""
        top = self.ranked()[..., 0]
        return int(top) if np.ndim(top) == 0 else top

    def key_frequencies(self, coverage: float = KEY_COVERAGE) -> list[int]:
        """The fewest frequencies (by decreasing power) whose shares sum to >= ``coverage``
        (one embedding only)."""
        require(self.share.ndim == 1, "key_frequencies takes the spectrum of one embedding")
        require(0.0 < coverage <= 1.0, f"coverage must lie in (0, 1], got {coverage!r}")
        ranked = self.ranked()
        cum = np.cumsum(self.share[ranked - 1])
        n = int(np.searchsorted(cum, coverage - 1e-12)) + 1  # shares sum to 1 up to rounding
        return [int(k) for k in ranked[: min(n, ranked.size)]]


def fourier_spectrum(E) -> Spectrum:
    """The :class:`Spectrum` of E (..., p, d), p >= 3."""
    E = _check_embedding(E)
    P = fourier_power(E)
    rest = P[..., 1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        share = rest / rest.sum(axis=-1, keepdims=True)
        participation = 1.0 / np.sum(share**2, axis=-1)
    return Spectrum(p=E.shape[-2], power=P, share=share, participation=participation, gini=gini(share))


def gini(x) -> np.ndarray:
    """Gini coefficient of non-negative values along the last axis:
    sum_i (2 i - n - 1) x_(i) / (n sum x), x_(i) ascending, i = 1..n."""
    x = np.sort(np.asarray(x, dtype=np.float64), axis=-1)
    n = x.shape[-1]
    i = np.arange(1, n + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sum((2 * i - n - 1) * x, axis=-1) / (n * np.sum(x, axis=-1))


def fourier_plane(E) -> tuple[int, np.ndarray]:
    """The strongest frequency k >= 1 of E (p, d) and an orthonormal basis (d, 2) of the plane
    spanned by Re F_k and Im F_k: the ring E traces at that frequency."""
    E = _check_embedding(E)
    require(E.ndim == 2 and E.shape[1] >= 2, f"a plane needs E of shape (p, d) with d >= 2, got {E.shape}")
    k = fourier_spectrum(E).dominant()
    F = fourier_components(E)[k]
    Q, _ = np.linalg.qr(np.stack([F.real, F.imag], axis=1))
    return k, Q


def _check_embedding(E) -> np.ndarray:
    E = np.asarray(E, dtype=np.float64)
    require(E.ndim >= 2 and E.shape[-2] >= 3, f"an embedding on Z_p has shape (..., p, d) with p >= 3, got {E.shape}")
    require(bool(np.all(np.isfinite(E))), "the embedding has non-finite entries")
    return E


__all__ = ["KEY_COVERAGE", "Spectrum", "fourier_components", "fourier_plane", "fourier_power", "fourier_spectrum",
           "gini"]
