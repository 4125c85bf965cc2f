"""Fourier analysis of embeddings on Z_p: Parseval, exact spectra of pure waves, concentration
measures at their limits, the ring fit as its two-dimensional case."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from efftheory.theories.circle.ring import ring_fit
from efftheory.errors import InputError
from efftheory.theories.circle.fourier import fourier_plane, fourier_power, fourier_spectrum, gini


def _waves(p, freqs, amps, d=6, seed=0):
    """E (p, d): column c = sum_j amps[j] cos(2 pi freqs[j] a / p + phi_jc)."""
    rng = np.random.default_rng(seed)
    a = np.arange(p)[:, None]
    E = np.zeros((p, d))
    for k, amp in zip(freqs, amps):
        E += amp * np.cos(2 * np.pi * k * a / p + rng.uniform(0, 2 * np.pi, d))
    return E


@settings(max_examples=40, deadline=None)
@given(p=st.integers(3, 40), d=st.integers(1, 5), seed=st.integers(0, 10_000))
def test_parseval(p, d, seed):
    E = np.random.default_rng(seed).standard_normal((p, d))
    assert fourier_power(E).sum() == pytest.approx(p * np.sum(E**2), rel=1e-10)


@pytest.mark.parametrize("p", [23, 24, 67])
def test_pure_wave_has_all_its_power_at_its_frequency(p):
    s = fourier_spectrum(_waves(p, [5], [2.0]) + 3.0)  # + a constant: only k = 0 sees it
    assert s.dominant() == 5
    assert s.share[4] == pytest.approx(1.0, abs=1e-12)
    assert s.participation == pytest.approx(1.0, abs=1e-10)
    K = p // 2
    assert s.gini == pytest.approx((K - 1) / K, abs=1e-10)
    assert s.key_frequencies() == [5]
    # d columns of amplitude 2: power = 2 * |F_5|^2 = 2 * (p * 2 / 2)^2 per column
    assert s.power[5] == pytest.approx(6 * 2 * p**2, rel=1e-10)
    assert s.power[0] == pytest.approx(6 * (3.0 * p) ** 2, rel=1e-10)


def test_mirror_frequency_is_the_same_plane():
    p = 31
    a = np.arange(p)[:, None]
    E = np.hstack([np.cos(2 * np.pi * 26 * a / p), np.sin(2 * np.pi * 26 * a / p)])  # 26 = p - 5
    assert fourier_spectrum(E).dominant() == 5


def test_key_frequencies_cover_the_asked_share():
    p = 67
    E = _waves(p, [3, 11, 20], [3.0, 2.0, 1.0], d=24, seed=2)
    s = fourier_spectrum(E)
    assert s.key_frequencies(0.5) == [3]
    assert s.key_frequencies(0.8) == [3, 11]
    assert s.key_frequencies(0.99) == [3, 11, 20]
    # amplitudes 3 : 2 : 1 give power 9 : 4 : 1 (random phases over 24 columns: close, not exact)
    np.testing.assert_allclose(s.share[[2, 10, 19]], np.array([9, 4, 1]) / 14, atol=0.02)
    assert 1.0 < s.participation < 3.0


def test_flat_spectrum_limits():
    assert gini(np.ones(10)) == pytest.approx(0.0)
    x = np.zeros(10)
    x[3] = 1
    assert gini(x) == pytest.approx(0.9)
    # white noise: the participation number is a large share of K = 33
    s = fourier_spectrum(np.random.default_rng(0).standard_normal((67, 24)))
    assert s.participation > 25 and s.gini < 0.25


def test_batched_spectrum_equals_one_by_one():
    E = np.random.default_rng(1).standard_normal((5, 17, 4))
    batch = fourier_spectrum(E)
    for t in range(5):
        one = fourier_spectrum(E[t])
        np.testing.assert_allclose(batch.share[t], one.share)
        assert batch.participation[t] == pytest.approx(float(one.participation))
        assert batch.dominant()[t] == one.dominant()


def test_ring_fit_fourier_is_the_plane_of_the_strongest_frequency():
    p = 29
    E = _waves(p, [7, 2], [1.0, 0.3], d=5, seed=4)
    k, Q = fourier_plane(E)
    assert k == 7
    np.testing.assert_allclose(Q.T @ Q, np.eye(2), atol=1e-12)
    fit = ring_fit(E, method="fourier")
    assert abs(fit.frequency) == 7 and fit.coherence > 0.9


def test_bad_embeddings_are_refused():
    with pytest.raises(InputError):
        fourier_spectrum(np.ones((2, 3)))
    with pytest.raises(InputError):
        fourier_spectrum(np.full((5, 2), np.nan))
    with pytest.raises(InputError):
        fourier_spectrum(np.ones((5, 2))).key_frequencies(0.0)
