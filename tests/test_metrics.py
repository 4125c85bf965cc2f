import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from efftheory.errors import InputError
from efftheory.theories.linear.metrics import normalize, predicted_accuracy, rqi, threshold
from efftheory.tasks import Addition
from efftheory.theories.linear.theory import linear_theory
from efftheory.reference import metrics as naive


def near_linear(p, d, noise, seed):
    rng = np.random.default_rng(seed)
    k = np.arange(p)[:, None]
    return 0.3 + k * rng.normal(size=(1, d)) + noise * rng.normal(size=(p, d))


def test_threshold_is_the_papers_at_p10():
    assert threshold(10) == pytest.approx(0.01)
    assert threshold(59, 0.02) == pytest.approx(0.02 * 110 / (59 * 60))


def test_normalize_zero_mean_unit_sample_std():
    E = np.random.default_rng(0).normal(size=(4, 7, 3)) * 5 + 2
    En = normalize(E)
    assert np.allclose(En.mean(axis=-2), 0)
    assert np.allclose(En.std(axis=-2, ddof=1), 1)
    assert np.allclose(En[2], naive.normalize(E[2]))


@pytest.mark.parametrize("p, d", [(5, 1), (10, 1), (10, 2), (13, 3)])
def test_rqi_kernel_equals_naive_twin(p, d):
    for seed, noise in enumerate([0.0, 0.01, 0.03, 0.1, 1.0]):
        E = near_linear(p, d, noise, seed)
        assert rqi(E) == pytest.approx(naive.rqi(E), abs=1e-15)


def test_rqi_vectorised_over_leading_axes():
    E = np.stack([[near_linear(9, 2, s * 0.02, s) for s in range(4)] for _ in range(3)])
    out = rqi(E)
    assert out.shape == (3, 4)
    assert np.allclose(out, [[naive.rqi(e) for e in row] for row in E])


def test_linear_representation_has_rqi_one():
    for p in [3, 10, 31]:
        a, b = np.array([0.2, -1.0]), np.array([0.7, 0.3])
        E = a + np.arange(p)[:, None] * b
        assert rqi(E) == 1.0


def test_random_embeddings_have_low_rqi():
    values = rqi(np.random.default_rng(1).uniform(-0.5, 0.5, size=(50, 10, 1)))
    assert values.mean() < 0.1


def test_constant_representation_has_rqi_zero():
    assert rqi(np.ones((10, 2))) == 0.0
    acc_test, _ = predicted_accuracy(np.zeros((10, 1)), Addition(10).split(frac=0.5))
    assert acc_test == 0.0


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    shift=st.floats(-100, 100),
    scale=st.floats(0.01, 100).flatmap(lambda s: st.sampled_from([s, -s])),
    noise=st.sampled_from([0.0, 0.005, 0.02, 0.05]),
)
def test_rqi_invariant_under_translation_scaling_and_reversal(seed, shift, scale, noise):
    E = near_linear(10, 2, noise, seed)
    base = rqi(E)
    assert rqi(E * scale + shift) == pytest.approx(base, abs=1e-12)
    assert rqi(E[::-1]) == pytest.approx(base, abs=1e-12)


@pytest.mark.parametrize("frac, seed", [(0.3, 0), (0.5, 1), (0.8, 2), (0.95, 3)])
def test_predicted_accuracy_equals_naive_twin(frac, seed):
    split = Addition(10).split(frac=frac, seed=seed)
    for noise in [0.0, 0.02, 0.05, 1.0]:
        E = near_linear(10, 2, noise, seed)
        test, full = predicted_accuracy(E, split)
        expected = naive.predicted_test_accuracy(
            E, [tuple(r) for r in split.train_pairs], [tuple(r) for r in split.test_pairs]
        )
        assert test == pytest.approx(expected)
        assert full == pytest.approx((split.n_train + expected * split.test.size) / 55)


def test_linear_representation_predicts_the_ideal_accuracy_of_a_unique_split():
    split = Addition(10).split(frac=0.8, seed=0)
    th = linear_theory(split)
    assert th.unique
    test, full = predicted_accuracy(np.arange(10.0)[:, None], split)
    assert test == pytest.approx(th.ideal_test_accuracy) and full == pytest.approx(th.ideal_full_accuracy)


def test_bad_shapes():
    with pytest.raises(InputError):
        rqi(np.zeros(5))
    with pytest.raises(InputError):
        predicted_accuracy(np.zeros((7, 1)), Addition(10).split(frac=0.5))
