"""Counter-based dropout masks (docs/theory.md §15): a mask is a pure function of its position.

Inverted dropout at rate r keeps a unit with probability 1 − r and scales what it keeps by
1/(1 − r), so the expected activation is unchanged. Here whether a unit is kept is decided by a
hash, not by a random stream:

    u(key, c) = top 53 bits of mix(key + (c + 1) γ) / 2⁵³ ∈ [0, 1),   kept  ⇔  u ≥ r,

with mix the SplitMix64 finaliser, γ = 0x9E3779B97F4A7C15 (the golden-ratio increment) and all
arithmetic modulo 2⁶⁴. The key of training step t is mix(base + (t + 1) γ), the base drawn once
from the run's seed, and the counter c numbers the unit within the step. So the mask a step
draws does not depend on how many units earlier steps drew, on how often the run is evaluated or
on chunking, and a numpy twin reproduces it bit for bit from (base, t, c) alone.
"""

from __future__ import annotations

import numpy as np
from numba import njit

GOLDEN = 0x9E3779B97F4A7C15
_M1 = 0xBF58476D1CE4E5B9
_M2 = 0x94D049BB133111EB
_GOLDEN_U = np.uint64(GOLDEN)
_M1_U = np.uint64(_M1)
_M2_U = np.uint64(_M2)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_INV_2_53 = 1.0 / 9007199254740992.0


def base_key(seed: int) -> np.uint64:
    """The dropout base key of a run with seed ``seed``: the third child of SeedSequence(seed)
    (the first two draw the embeddings and the other parameters, efftheory.models.transformer.kernels)."""
    return np.random.SeedSequence(seed).spawn(3)[2].generate_state(1, np.uint64)[0]


@njit(cache=True, inline="always")
def _mix(z):
    """SplitMix64 finaliser of a uint64 (a bijection whose output bits all depend on every input bit)."""
    z = (z ^ (z >> _S30)) * _M1_U
    z = (z ^ (z >> _S27)) * _M2_U
    return z ^ (z >> _S31)


@njit(cache=True)
def step_key(base, t):
    """Key of the masks drawn at training step ``t`` (int >= 0) from the run's ``base`` (uint64)."""
    return _mix(np.uint64(base) + np.uint64(t + 1) * _GOLDEN_U)


@njit(cache=True)
def uniform(key, counter):
    """u(key, counter) ∈ [0, 1) of the module docstring; counter an int >= 0."""
    return float(_mix(np.uint64(key) + np.uint64(counter + 1) * _GOLDEN_U) >> _S11) * _INV_2_53


@njit(cache=True)
def keep_factor(key, counter, rate):
    """The multiplier of unit ``counter``: 1/(1 − rate) if it is kept, else 0."""
    return 1.0 / (1.0 - rate) if uniform(key, counter) >= rate else 0.0
