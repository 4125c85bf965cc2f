"""The linear theory per Fourier plane: the full table's tie, the split's spread, the flow from E0."""

from __future__ import annotations

import numpy as np
import pytest

from efftheory.theories.circle.ring import modular_quads
from efftheory.theories.circle.theory import modular_hessian
from efftheory.errors import InputError
from efftheory.tasks import ModularAddition
from efftheory.theories.circle.fourier import fourier_spectrum
from efftheory.theories.circle.frequencies import fourier_basis, plane_rayleigh, predict_frequencies, split_hessian


@pytest.mark.parametrize("p", [5, 11, 23])
def test_fourier_basis_is_orthonormal(p):
    Q = fourier_basis(p)
    np.testing.assert_allclose(Q.T @ Q, np.eye(p), atol=1e-12)


@pytest.mark.parametrize("p,ordered", [(23, False), (23, True), (67, True)])
def test_full_table_prefers_no_frequency(p, ordered):
    task = ModularAddition(p, ordered=ordered)
    split = task.split(n_train=task.n_samples)
    R, off = plane_rayleigh(split_hessian(split))
    np.testing.assert_allclose(R, R[0], rtol=1e-12)
    assert off < 1e-12
    if ordered and p == 23:
        assert R[0] == pytest.approx(1058.0)  # the same value on every plane


def test_rayleigh_quotient_by_brute_force():
    p = 11
    split = ModularAddition(p).split(frac=0.5, seed=2)
    H = split_hessian(split)
    np.testing.assert_allclose(H, modular_hessian(p, modular_quads(p, split.train_pairs)))
    R, off = plane_rayleigh(H)
    a = np.arange(p)
    for k in range(1, 6):
        c, s = np.cos(2 * np.pi * k * a / p), np.sin(2 * np.pi * k * a / p)
        assert R[k - 1] == pytest.approx((c @ H @ c / (c @ c) + s @ H @ s / (s @ s)) / 2, rel=1e-12)
    assert 0.05 < off < 0.6  # a random half of the table couples the planes


@pytest.mark.parametrize("p,frac", [(23, 0.3), (67, 0.5)])
def test_split_breaks_the_tie_weakly(p, frac):
    split = ModularAddition(p, ordered=True).split(frac=frac, seed=0)
    pred = predict_frequencies(split, np.random.default_rng(0).uniform(-1, 1, (p, 24)))
    assert 0.01 < pred.spread < 0.5
    assert pred.rayleigh.mean() == pytest.approx(1.0, abs=0.1)


def test_horizon_zero_is_the_initial_spectrum_and_a_planted_wave_wins():
    p = 23
    split = ModularAddition(p).split(frac=0.6, seed=1)
    a = np.arange(p)[:, None]
    rng = np.random.default_rng(3)
    E0 = 0.1 * rng.standard_normal((p, 8)) + np.cos(2 * np.pi * 4 * a / p + rng.uniform(0, 6, 8))
    pred = predict_frequencies(split, E0)
    np.testing.assert_allclose(pred.shares[0], fourier_spectrum(E0).share, rtol=1e-10)
    assert pred.top(1, horizon=0) == [4]


def test_full_table_flow_keeps_the_initial_ranking():
    p = 23
    task = ModularAddition(p)
    split = task.split(n_train=task.n_samples)
    E0 = np.random.default_rng(5).standard_normal((p, 6))
    pred = predict_frequencies(split, E0, horizons=(0.0, 1.0, 10.0))
    for row in pred.shares[1:]:
        np.testing.assert_allclose(row, pred.shares[0], rtol=1e-8)


def test_bad_inputs_are_refused():
    split = ModularAddition(11).split(frac=0.5, seed=0)
    with pytest.raises(InputError):
        predict_frequencies(split, np.zeros((10, 3)))
    with pytest.raises(InputError):
        fourier_basis(10)
