"""Which frequencies a network on addition mod p should pick: the linear theory per Fourier plane.

The linear effective loss of a training set D with modular parallelograms (i + j = m + n mod p)
is ½ sum_c E[:, c]ᵀ H(D) E[:, c], H(D) = sum_q a_q a_qᵀ (p, p), a_q = e_i + e_j - e_m - e_n
(:func:`efftheory.theories.circle.theory.modular_hessian_from_classes`). In the real Fourier basis of Z_p

    u_0 = 1 / sqrt(p),   c_k = sqrt(2/p) cos(2 pi k a / p),   s_k = sqrt(2/p) sin(2 pi k a / p),

k = 1..K (K = (p - 1) / 2, p odd), the Fourier plane of frequency k is span(c_k, s_k). Its
*Rayleigh quotient* is R_k = (c_kᵀ H c_k + s_kᵀ H s_k) / 2: the rate at which the flow
dE/dt = -H E shrinks that plane's power, were H block-diagonal. On the full table H is
circulant and the map a -> u a (u a unit mod p) permutes the parallelograms, so H is
block-diagonal with the same R_k on every plane: the data alone prefer no frequency. A training
set breaks the tie, and couples planes: ``off_diagonal`` is the share ||H_F - blockdiag(H_F)||_F /
||H_F||_F of H in that basis (H_F = Qᵀ H Q) outside the 1x1 and 2x2 diagonal blocks.

The prediction for one network combines the split with the network's own start E0 (p, d): the
linear flow from E0, E(s) = exp(-s H / λ̄) E0 with λ̄ the mean non-zero eigenvalue (H's trace over
p - 1; time in units of 1 / λ̄), read at a horizon s fixed in advance; the predicted ranking of
frequencies is E(s)'s power per frequency (:mod:`efftheory.theories.circle.fourier`), strongest first.
s = 0 is E0's own spectrum (the split plays no part); a large s leaves mostly H's slowest
eigenvectors (E0 only weighs them).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from efftheory.theories.circle.theory import modular_hessian_from_classes
from efftheory.errors import require
from efftheory.tasks import ModularAddition, Split
from efftheory.theories.circle.fourier import fourier_spectrum

#: horizons s (in units of 1 / λ̄) the comparison reads the flow at, fixed before any network ran
HORIZONS = (0.0, 1.0, 4.0)


def fourier_basis(p: int) -> np.ndarray:
    """(p, p) orthonormal real Fourier basis [u_0, c_1, s_1, ..., c_K, s_K] for odd p."""
    require(p >= 3 and p % 2 == 1, f"the Fourier planes are defined here for odd p >= 3, got {p}")
    a = np.arange(p)
    cols = [np.full(p, 1.0 / np.sqrt(p))]
    for k in range(1, (p - 1) // 2 + 1):
        cols += [np.sqrt(2.0 / p) * np.cos(2 * np.pi * k * a / p), np.sqrt(2.0 / p) * np.sin(2 * np.pi * k * a / p)]
    return np.stack(cols, axis=1)


def plane_rayleigh(H: np.ndarray) -> tuple[np.ndarray, float]:
    """(R_k for k = 1..K (K,), off-diagonal share) of a symmetric (p, p) H (module docstring)."""
    H = np.asarray(H, dtype=np.float64)
    p = H.shape[0]
    Q = fourier_basis(p)
    HF = Q.T @ H @ Q
    diag = np.diagonal(HF)[1:]
    R = 0.5 * (diag[0::2] + diag[1::2])
    block = np.zeros_like(HF)
    block[0, 0] = HF[0, 0]
    for k in range((p - 1) // 2):
        i = 1 + 2 * k
        block[i : i + 2, i : i + 2] = HF[i : i + 2, i : i + 2]
    total = np.linalg.norm(HF)
    off = float(np.linalg.norm(HF - block) / total) if total > 0 else 0.0
    return R, off


@dataclass(frozen=True)
class FrequencyPrediction:
    """The linear theory's frequency ranking for one split and one initial embedding.

    Attributes:
        p: the modulus (odd); K = (p - 1) / 2 frequencies 1..K.
        rayleigh: (K,) R_k / λ̄, the split's per-plane rate relative to the mean (1 on every plane
            for the full table).
        spread: max R_k / min R_k - 1.
        off_diagonal: share of H outside the Fourier blocks (0 for the full table).
        horizons: (S,) the horizons s.
        shares: (S, K) power share per frequency of E(s) = exp(-s H / λ̄) E0.
        ranked: (S, K) int64 frequencies by decreasing share, one row per horizon.
    """

    p: int
    rayleigh: np.ndarray = field(repr=False)
    spread: float
    off_diagonal: float
    horizons: np.ndarray = field(repr=False)
    shares: np.ndarray = field(repr=False)
    ranked: np.ndarray = field(repr=False)

    def top(self, n: int = 1, horizon: int = 0) -> list[int]:
        """The ``n`` predicted frequencies at horizon index ``horizon``."""
        return [int(k) for k in self.ranked[horizon, :n]]


def split_hessian(split: Split) -> np.ndarray:
    """H(D) (p, p) float64 of the modular parallelograms of the training samples (unordered or
    ordered pairs alike: a sample's tokens are its two operands)."""
    require(isinstance(split.task, ModularAddition), "the frequency prediction is for addition mod p (--task modadd)")
    return modular_hessian_from_classes(split.p, split.train_pairs)


def predict_frequencies(split: Split, E0, horizons=HORIZONS) -> FrequencyPrediction:
    """The prediction of the module docstring for ``split`` and the initial embedding E0 (p, d)."""
    H = split_hessian(split)
    p = split.p
    E0 = np.asarray(E0, dtype=np.float64)
    require(E0.ndim == 2 and E0.shape[0] == p, f"E0 must have shape (p, d) = ({p}, d), got {E0.shape}")
    horizons = np.asarray(horizons, dtype=np.float64)
    require(horizons.ndim == 1 and bool(np.all(horizons >= 0)), "horizons must be non-negative")
    lam_bar = np.trace(H) / (p - 1)
    require(lam_bar > 0, "the training set holds no parallelogram: the linear theory says nothing")
    R, off = plane_rayleigh(H)
    w, V = np.linalg.eigh(H / lam_bar)
    w = np.clip(w, 0.0, None)
    coef = V.T @ E0  # (p, d)
    flows = np.stack([V @ (np.exp(-s * w)[:, None] * coef) for s in horizons])  # (S, p, d)
    spec = fourier_spectrum(flows)
    Rn = R / lam_bar
    return FrequencyPrediction(p=p, rayleigh=Rn, spread=float(Rn.max() / Rn.min() - 1.0), off_diagonal=off,
                               horizons=horizons, shares=spec.share, ranked=spec.ranked())


__all__ = ["HORIZONS", "FrequencyPrediction", "fourier_basis", "plane_rayleigh", "predict_frequencies",
           "split_hessian"]
