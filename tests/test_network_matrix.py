"""The paper's permutation toy: 3x3 matrix embeddings of S3, their product as decoder input, an
L1 penalty, and the matrix RQI (docs/theory.md §9, §7)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from efftheory.theories.linear import metrics
from efftheory.errors import InputError
from efftheory.models.toy.config import NetworkConfig
from efftheory.models.toy.kernels import _input_stage, init_params
from efftheory.models.toy.training import loss_and_gradient, train_network
from efftheory.reference import metrics as naive_metrics
from efftheory.reference import network as naive
from efftheory.tasks import Addition, make_task, permutation_matrices
from efftheory.tasks.parallelograms import (
    count_equal_result_pairs,
    equal_result_pairs,
    equal_result_quads,
    parallelograms,
)
from efftheory.theories.linear.theory import reachable_test_accuracy
from tests.conftest import FLOAT_TYPES, assert_close_in
from tests.test_network import assert_twin_matches_central_differences

S3 = make_task("s3")
MATRIX = dict(embed="matrix", dim=9, init_scale=0.1, width=12, out_dim=5, dtype="float64")


def _label(s):
    return int(S3.cayley[s[0], s[1]])


def _noisy_permutations(scale: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return permutation_matrices(3) + scale * rng.standard_normal((6, 3, 3))


# ------------------------------------------------------------------ configuration


def test_matrix_config_needs_a_square_dim_and_a_known_embedding():
    assert NetworkConfig(embed="matrix", dim=9).side == 3
    assert NetworkConfig(embed="matrix", dim=4).side == 2
    assert NetworkConfig(dim=9).side == 0  # the sum model
    with pytest.raises(InputError, match="dim = k\\*k"):
        NetworkConfig(embed="matrix", dim=8)
    with pytest.raises(InputError, match="embed"):
        NetworkConfig(embed="product")
    with pytest.raises(InputError, match="embed_l1"):
        NetworkConfig(embed_l1=-1e-3)
    # integer hyper-parameters become floats (the kernels are typed on floats)
    assert isinstance(NetworkConfig(decoder_wd=2).decoder_wd, float)


# ------------------------------------------------------------------ equal-product pairs


def test_s3_has_90_equal_product_pairs_none_dropped():
    every = np.arange(S3.n_samples)
    pairs = equal_result_pairs(S3)
    assert len(pairs) == count_equal_result_pairs(S3, every) == 90
    assert np.all(S3.labels[pairs[:, 0]] == S3.labels[pairs[:, 1]]) and np.all(pairs[:, 0] < pairs[:, 1])
    brute = naive_metrics.equal_label_pairs(S3.pairs, _label)
    quads = {tuple(q) for q in equal_result_quads(S3).tolist()}
    assert quads == {a + b for a, b in brute}
    # the 6 extra pairs over the additive parallelograms are (a, b), (b, a) of commuting a != b
    extra = {tuple(r) for r in pairs.tolist()} - {tuple(r) for r in parallelograms(S3).tolist()}
    assert len(extra) == 6
    for u, v in extra:
        (a, b), (c, d) = S3.pairs[u], S3.pairs[v]
        assert (a, b) == (d, c) and S3.cayley[a, b] == S3.cayley[b, a]
    # on a subset: sum over labels of n_s (n_s - 1) / 2
    sub = np.array([0, 1, 7, 8, 13, 20, 35])
    assert len(equal_result_pairs(S3, sub)) == count_equal_result_pairs(S3, sub) == len(
        naive_metrics.equal_label_pairs(S3.pairs[sub], _label))


def test_reachable_test_accuracy_counts_test_samples_a_representation_can_imply():
    split = S3.split(n_train=24, seed=0)
    assert reachable_test_accuracy(split) == 1.0
    # one training sample per class except class 5, whose 6 samples are all in the test set
    train = [int(np.flatnonzero(S3.labels == c)[0]) for c in range(5)]
    small = type(split).from_indices(S3, train)
    value = reachable_test_accuracy(small)
    seen = set(S3.pairs[train].ravel().tolist())
    want = np.mean([S3.labels[t] != 5 and {int(a), int(b)} <= seen for t, (a, b) in zip(small.test, small.test_pairs)])
    assert value == pytest.approx(want) and value < 1


# ------------------------------------------------------------------ matrix metrics


def test_permutation_matrices_have_matrix_rqi_one_and_random_matrices_a_low_one():
    P = permutation_matrices(3)
    assert metrics.matrix_rqi(P, S3) == 1.0
    # invariant under scale and under an orthogonal change of basis (RMS and products kept)
    Q, _ = np.linalg.qr(np.random.default_rng(1).standard_normal((3, 3)))
    assert metrics.matrix_rqi(-5.0 * (Q @ P @ Q.T), S3) == 1.0
    rand = np.random.default_rng(2).standard_normal((20, 6, 3, 3))
    values = metrics.matrix_rqi(rand, S3)
    assert values.shape == (20,) and values.max() < 0.2
    assert metrics.matrix_rqi(np.zeros((6, 3, 3)), S3) == 0.0  # no scale: nothing holds


@pytest.mark.parametrize("scale", [0.0, 0.1, 0.2, 0.3, 0.5, 2.0])
def test_matrix_metrics_match_the_twin(scale):
    split = S3.split(n_train=24, seed=3)
    M = _noisy_permutations(scale, seed=int(scale * 10))
    rqi = metrics.matrix_rqi(M, S3)
    assert rqi == naive_metrics.matrix_rqi(M, S3.pairs, _label)
    test, full = metrics.matrix_predicted_accuracy(M, split)
    want = naive_metrics.matrix_predicted_test_accuracy(M, split.train_pairs, split.test_pairs, _label)
    assert test == want
    assert full == pytest.approx((24 + want * 12) / 36)
    np.testing.assert_allclose(metrics.matrix_normalize(M), naive_metrics.matrix_normalize(M))
    if scale == 0.0:
        assert rqi == 1.0 and test == reachable_test_accuracy(split) == 1.0


def test_matrix_metrics_span_intermediate_values():
    # the twin comparison above is only as good as the values it sees: noise levels in between
    # give RQIs strictly between 0 and 1
    values = [metrics.matrix_rqi(_noisy_permutations(s, 7), S3) for s in (0.1, 0.2, 0.3)]
    assert any(0.0 < v < 1.0 for v in values)


def test_matrix_metrics_reject_bad_shapes():
    with pytest.raises(InputError, match="p, k, k"):
        metrics.matrix_rqi(np.zeros((6, 3, 2)), S3)
    with pytest.raises(InputError, match="symbols"):
        metrics.matrix_rqi(np.zeros((5, 3, 3)), S3)


# ------------------------------------------------------------------ the model


def test_input_stage_multiplies_the_matrices():
    P = permutation_matrices(3)
    theta = P.reshape(-1).copy()
    X = np.empty((36, 9))
    _input_stage(theta, X, S3.pairs[:, 0].copy(), S3.pairs[:, 1].copy(), 36, 9, 3)
    np.testing.assert_array_equal(X, P[S3.labels].reshape(36, 9))  # vec(P_a P_b) = vec(P_{a∘b})
    rng = np.random.default_rng(0)
    E = rng.standard_normal((6, 9))
    _input_stage(E.ravel().copy(), X, S3.pairs[:, 0].copy(), S3.pairs[:, 1].copy(), 36, 9, 3)
    np.testing.assert_allclose(X, naive.model_input(E, S3.pairs, 3), rtol=1e-14)


@pytest.mark.parametrize("loss", ["mse", "ce"])
@pytest.mark.parametrize("l1", [0.0, 1e-2])
def test_the_twins_matrix_gradient_matches_central_differences(loss, l1):
    """The default run's finite-difference check of the matrix model (numpy, nothing compiled):
    the twin's back-propagation, L1 penalty included, against its loss; the kernel is checked
    against the twin below, and against central differences itself in the slow stage."""
    split = S3.split(n_train=24, seed=1)
    cfg = NetworkConfig(loss=loss, embed_l1=l1, seed=3, **{**MATRIX, "init_scale": 1.0})
    theta, layout, templates = init_params(6, cfg, S3.n_classes)
    n_embed = 54
    assert np.abs(theta[:n_embed]).min() > 1e-4  # away from the kink of |x|
    rng = np.random.default_rng(0)
    idx = np.concatenate([np.arange(n_embed), rng.choice(np.arange(n_embed, theta.size), 40, replace=False)])
    assert_twin_matches_central_differences(split, cfg, theta, layout, templates, S3.labels[split.train], idx,
                                            side=3, floor=1e-8)


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["mse", "ce"])
@pytest.mark.parametrize("l1", [0.0, 1e-2])
def test_matrix_gradient_matches_central_differences(loss, l1):
    """The float64 kernel against central differences of its own loss (slow stage: the default
    run compiles the toy's kernels for float32 only)."""
    split = S3.split(n_train=24, seed=1)
    cfg = NetworkConfig(loss=loss, embed_l1=l1, seed=3, **{**MATRIX, "init_scale": 1.0})
    theta = init_params(6, cfg, S3.n_classes)[0]
    _, grad = loss_and_gradient(split, cfg, theta)
    rng = np.random.default_rng(0)
    n_embed = 54
    assert np.abs(theta[:n_embed]).min() > 1e-4  # away from the kink of |x|
    idx = np.concatenate([np.arange(n_embed), rng.choice(np.arange(n_embed, theta.size), 40, replace=False)])
    h = 1e-6
    for k in idx:
        up, down = theta.copy(), theta.copy()
        up[k] += h
        down[k] -= h
        fd = (loss_and_gradient(split, cfg, up)[0] - loss_and_gradient(split, cfg, down)[0]) / (2 * h)
        assert abs(fd - grad[k]) <= 1e-8 + 1e-6 * abs(fd), (k, fd, grad[k])


@pytest.mark.parametrize("dtype", FLOAT_TYPES)
def test_l1_penalty_of_the_sum_model_adds_its_value_and_gradient(dtype):
    """The penalty l1 mean|E| adds exactly itself to the loss and l1 sign(E) / n_E to the
    embeddings' gradient, and nothing to the decoder's."""
    split = Addition(5).split(n_train=9, seed=2)
    cfg = NetworkConfig(dim=2, embed_l1=0.05, seed=1, width=9, out_dim=4, dtype=dtype)
    theta = init_params(5, cfg)[0]
    value, grad = loss_and_gradient(split, cfg, theta)
    base, grad0 = loss_and_gradient(split, dataclasses.replace(cfg, embed_l1=0.0), theta)
    penalty = 0.05 * np.abs(theta[:10].astype(np.float64)).mean()
    assert value == pytest.approx(base + penalty, rel=1e-12 if dtype == "float64" else 1e-6)
    assert_close_in(dtype, grad[:10] - grad0[:10], 0.05 * np.sign(theta[:10]) / 10, rtol=1e-9)
    np.testing.assert_array_equal(grad[10:], grad0[10:])


@pytest.mark.parametrize("dtype", FLOAT_TYPES)
@pytest.mark.parametrize("loss", ["mse", "ce"])
def test_matrix_gradient_matches_naive_backprop(loss, dtype):
    split = S3.split(n_train=24, seed=2)
    cfg = NetworkConfig(loss=loss, embed_l1=1e-3, seed=5, **{**MATRIX, "dtype": dtype})
    theta, layout, templates = init_params(6, cfg, S3.n_classes)
    value, grad = loss_and_gradient(split, cfg, theta)
    E, Ws, bs = layout.unpack(theta.astype(np.float64))
    y = S3.labels[split.train]
    ref, gE, gWs, gbs = naive.loss_and_grads(E, Ws, bs, split.train_pairs, y, templates, loss, 3, 1e-3)
    gE_k, gWs_k, gbs_k = layout.unpack(grad)
    assert value == pytest.approx(ref, rel=1e-12 if dtype == "float64" else 1e-5)
    assert_close_in(dtype, gE_k, gE, rtol=1e-10, atol=1e-15)
    for a, b in zip(gWs_k + gbs_k, gWs + gbs):
        assert_close_in(dtype, a, b, rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("dtype", FLOAT_TYPES)
@pytest.mark.parametrize("loss", ["mse", "ce"])
def test_matrix_training_matches_naive_twin(loss, dtype):
    """30 steps against the twin (which trains in the same type, with the exact tanh): losses and
    embeddings to the type's precision, accuracies exactly; in float64 the RQI and the predicted
    accuracy exactly too (in float32 a parallelogram at the threshold may fall either side)."""
    split = S3.split(n_train=24, seed=0)
    cfg = NetworkConfig(loss=loss, embed_l1=1e-3, embed_lr=1e-2, decoder_lr=3e-3, decoder_wd=0.5, seed=2,
                        **{**MATRIX, "dtype": dtype})
    fast = train_network(split, cfg, steps=30)
    ref = naive.train(split, cfg, steps=30)
    np.testing.assert_array_equal(fast.steps, np.arange(31))
    assert_close_in(dtype, fast.train_loss, ref["train_loss"], rtol=1e-10)
    assert_close_in(dtype, fast.test_loss, ref["test_loss"], rtol=1e-10)
    np.testing.assert_array_equal(fast.train_acc, ref["train_acc"])
    np.testing.assert_array_equal(fast.test_acc, ref["test_acc"])
    if dtype == "float64":
        np.testing.assert_array_equal(fast.rqi, ref["rqi"])
        np.testing.assert_array_equal(fast.predicted_test_acc, ref["pred"])
    M = ref["embeddings"].reshape(-1, 6, 3, 3)
    assert_close_in(dtype, fast.embeddings, metrics.matrix_normalize(M).reshape(-1, 6, 9), rtol=1e-9)
    assert_close_in(dtype, fast.E_final, ref["embeddings"][-1], rtol=1e-9, atol=1e-14)
    assert fast.train_loss[-1] < fast.train_loss[0]


def test_matrix_run_records_rms_normalised_matrices_and_their_metrics():
    split = S3.split(n_train=24, seed=0)
    cfg = NetworkConfig(embed="matrix", dim=9, init_scale=0.1, embed_l1=1e-3, decoder_lr=1e-3, width=32, seed=1)
    r = train_network(split, cfg, steps=300, eval_every=50)
    np.testing.assert_allclose((r.embeddings**2).mean(axis=(1, 2)), 1.0, rtol=1e-12)
    assert np.abs(r.E0).max() <= 0.05  # the paper's init: uniform in [-0.05, 0.05)
    M = r.embeddings.reshape(-1, 6, 3, 3)
    np.testing.assert_array_equal(r.rqi, metrics.matrix_rqi(M, S3))
    np.testing.assert_array_equal(r.predicted_test_acc, metrics.matrix_predicted_accuracy(M, split)[0])
