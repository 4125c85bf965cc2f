"""The Omnigrok MLP: gradients against finite differences and the numpy twin, the training loop
against its twin, the weight norm (scale, sphere, decay), the batch order."""

from __future__ import annotations

import math

import numpy as np
import pytest

from efftheory.errors import InputError
from efftheory.tasks.images import ImageTask
from efftheory.models.omnigrok.training import (OmnigrokConfig, _BatchOrder, init_params, loss_and_gradient, predicted_delay,
                                       train_omnigrok)
from efftheory.reference import omnigrok as ref
from tests.conftest import FLOAT_TYPES, assert_close_in


def toy_task(n_pool=40, n_test=30, side=3, seed=0) -> ImageTask:
    """Random 3x3 'images' whose label is the brightest of the first 10 pixels' ranks mod 10:
    learnable, small, and needing no data files."""
    rng = np.random.default_rng(seed)
    x = rng.random((n_pool + n_test, side * side)).astype(np.float32)
    y = (np.argmax(x[:, :3], axis=1) * 3 + (x[:, 3] > 0.5)).astype(np.int64) % 10
    return ImageTask("toy", x[:n_pool], y[:n_pool], x[n_pool:], y[n_pool:], side=side)


TASK = toy_task()


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["mse", "ce"])
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_gradient_matches_finite_differences(loss, depth):
    """The kernel's gradient in float64 against central differences of the kernel's loss (slow
    stage: it compiles the kernels for float64; the default run checks the float32 kernel
    against the twin, and the twin against central differences, below)."""
    split = TASK.split(12, seed=1)
    config = OmnigrokConfig(width=7, depth=depth, loss=loss, alpha=2.0, dtype="float64", seed=3)
    theta, _ = init_params(TASK.n_inputs, 10, config)
    f0, grad = loss_and_gradient(split, config, theta)
    rng = np.random.default_rng(0)
    h = 1e-6
    for k in rng.choice(theta.size, size=40, replace=False):
        e = np.zeros_like(theta)
        e[k] = h
        fd = (loss_and_gradient(split, config, theta + e)[0] - loss_and_gradient(split, config, theta - e)[0]) / (2 * h)
        assert abs(fd - grad[k]) <= 1e-6 * max(1.0, abs(fd)), (k, fd, grad[k])
    # and the whole gradient against the twin's back-propagation
    Ws, bs = ref.unpack(theta, TASK.n_inputs, 10, config)
    f_ref, gWs, gbs = ref.loss_and_grads(Ws, bs, split.train_x.astype(np.float64), split.train_y, loss)
    assert f0 == pytest.approx(f_ref, rel=1e-12)
    np.testing.assert_allclose(grad, ref.pack(gWs, gbs), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("loss", ["mse", "ce"])
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_float32_gradient_matches_the_twin_whose_gradient_matches_finite_differences(loss, depth):
    """The twin's back-propagation against central differences of the twin's loss (float64), and
    the float32 kernel's loss and gradient against the twin's from the same parameters."""
    split = TASK.split(12, seed=1)
    config = OmnigrokConfig(width=7, depth=depth, loss=loss, alpha=2.0, seed=3)
    theta, _ = init_params(TASK.n_inputs, 10, config)
    X = split.train_x.astype(np.float64)

    def twin(t):
        return ref.loss_and_grads(*ref.unpack(t, TASK.n_inputs, 10, config), X, split.train_y, loss)

    f_ref, gWs, gbs = twin(theta)
    g_ref = ref.pack(gWs, gbs)
    theta64 = theta.astype(np.float64)
    h = 1e-6
    for k in np.random.default_rng(0).choice(theta.size, size=40, replace=False):
        e = np.zeros_like(theta64)
        e[k] = h
        fd = (twin(theta64 + e)[0] - twin(theta64 - e)[0]) / (2 * h)
        assert abs(fd - g_ref[k]) <= 1e-6 * max(1.0, abs(fd)), (k, fd, g_ref[k])
    f0, grad = loss_and_gradient(split, config, theta)
    assert grad.dtype == np.float32 and f0 == pytest.approx(f_ref, rel=1e-5)
    assert_close_in("float32", grad, g_ref, rtol=1e-10, atol=1e-13)


@pytest.mark.slow
def test_directional_derivative_of_the_mse_loss():
    """A second, independent check: d/dε L(θ + ε u) at 0 equals <∇L, u> for a random direction."""
    split = TASK.split(20, seed=0)
    config = OmnigrokConfig(width=9, depth=3, alpha=1.0, dtype="float64")
    theta, _ = init_params(TASK.n_inputs, 10, config)
    u = np.random.default_rng(5).standard_normal(theta.size)
    _, grad = loss_and_gradient(split, config, theta)
    h = 1e-5
    fd = (loss_and_gradient(split, config, theta + h * u)[0] - loss_and_gradient(split, config, theta - h * u)[0]) / (2 * h)
    assert fd == pytest.approx(grad @ u, rel=1e-6)


@pytest.mark.parametrize("dtype", FLOAT_TYPES)
@pytest.mark.parametrize("settings", [
    dict(),  # full batch, MSE
    dict(loss="ce", batch_size=5),  # seeded mini-batches that straddle passes (12 = 2 x 5 + 2)
    dict(fixed_norm=3.0, wd=0.5),  # on the sphere: the decay is undone every step
    dict(alpha=8.0, wd=1.0, lr=3e-3),
])
def test_training_loop_matches_the_numpy_twin(settings, dtype):
    """25 steps against the twin (which computes in float64 from the same initial parameters);
    the accuracies and steps exactly, the losses and the weight norm to the type's precision."""
    split = TASK.split(12, seed=2)
    config = OmnigrokConfig(width=6, depth=3, dtype=dtype, seed=4, **settings)
    fast = train_omnigrok(split, config, steps=25, eval_every=4)
    slow = ref.train(split, config, steps=25, eval_every=4)
    got = np.column_stack([fast.steps, fast.train_loss, fast.test_loss, fast.train_acc, fast.test_acc,
                           fast.weight_norm])
    assert got.shape == slow.shape == (8, 6)  # steps 0, 4, ..., 24 and 25
    for column in range(got.shape[1]):  # each column to its own scale
        assert_close_in(dtype, got[:, column], slow[:, column], rtol=1e-9, atol=1e-12)


@pytest.mark.slow
def test_float32_follows_float64():
    split = TASK.split(20, seed=0)
    r32 = train_omnigrok(split, OmnigrokConfig(width=16, seed=1), steps=50, eval_every=10)
    r64 = train_omnigrok(split, OmnigrokConfig(width=16, seed=1, dtype="float64"), steps=50, eval_every=10)
    np.testing.assert_allclose(r32.weight_norm, r64.weight_norm, rtol=1e-4)
    np.testing.assert_allclose(r32.train_loss, r64.train_loss, rtol=1e-3, atol=1e-5)


def test_initial_norm_scales_with_alpha_and_sphere_holds_it():
    n = TASK.n_inputs
    t1, _ = init_params(n, 10, OmnigrokConfig(width=20, alpha=1.0, dtype="float64"))
    t8, _ = init_params(n, 10, OmnigrokConfig(width=20, alpha=8.0, dtype="float64"))
    np.testing.assert_allclose(t8, 8.0 * t1, rtol=1e-15)
    # PyTorch's default init: every entry uniform in ±1/sqrt(fan_in); E[w²] = sum over layers of
    # (fan_in + 1) fan_out / (3 fan_in)
    dims = (n, 20, 20, 10)
    expected = sum((a + 1) * b / (3 * a) for a, b in zip(dims[:-1], dims[1:]))
    assert np.sum(t1**2) == pytest.approx(expected, rel=0.15)
    res = train_omnigrok(TASK.split(15), OmnigrokConfig(width=20, alpha=8.0, wd=1.0, fixed_norm=4.5), steps=60,
                         eval_every=5)
    np.testing.assert_allclose(res.weight_norm, 4.5, rtol=1e-5)
    assert res.w0 == pytest.approx(4.5, rel=1e-6)


def test_decay_shrinks_a_fitted_large_network_as_predicted():
    """At a large norm decoupled decay dominates the update: ln w falls at close to lr·wd per step
    (Adam's normalised steps, ~lr per parameter, barely change the norm once the loss is fitted).
    Measured 0.00199-0.00204 per step against lr·wd = 0.002."""
    split = TASK.split(20, seed=0)
    lr, wd = 1e-3, 2.0
    res = train_omnigrok(split, OmnigrokConfig(width=32, alpha=8.0, lr=lr, wd=wd, seed=0), steps=600, eval_every=100)
    rate = -np.diff(np.log(res.weight_norm)) / 100.0
    np.testing.assert_allclose(rate, lr * wd, rtol=0.05)
    assert predicted_delay(res.w0, res.w0 / math.e, lr, wd) == pytest.approx(1.0 / (lr * wd))


def test_predicted_delay_edges():
    assert predicted_delay(80.0, 10.0, 1e-3, 0.1) == pytest.approx(math.log(8.0) / 1e-4)
    assert predicted_delay(5.0, 10.0, 1e-3, 0.1) == 0.0
    assert predicted_delay(50.0, 10.0, 1e-3, 0.0) == math.inf


def test_batch_order_covers_every_image_once_per_pass():
    order = _BatchOrder(10, 4, seed=7)
    stream = order.take(5).ravel()  # 20 indices = two passes
    assert sorted(stream[:10]) == list(range(10)) and sorted(stream[10:]) == list(range(10))
    np.testing.assert_array_equal(_BatchOrder(10, 4, seed=7).take(5).ravel(), stream)
    assert not np.array_equal(_BatchOrder(10, 4, seed=8).take(5).ravel(), stream)


def test_same_seed_same_run_and_learning_happens():
    split = TASK.split(30, seed=0)
    cfg = OmnigrokConfig(width=32, batch_size=8, seed=2, lr=3e-3, wd=0.0)
    a = train_omnigrok(split, cfg, steps=300, eval_every=50)
    b = train_omnigrok(split, cfg, steps=300, eval_every=50)
    np.testing.assert_array_equal(a.train_loss, b.train_loss)
    assert a.train_acc[-1] > a.train_acc[0] and a.train_loss[-1] < 0.5 * a.train_loss[0]


def test_bad_config_names_the_value():
    with pytest.raises(InputError, match="alpha"):
        OmnigrokConfig(alpha=0)
    with pytest.raises(InputError, match="loss"):
        OmnigrokConfig(loss="hinge")
    with pytest.raises(InputError, match="batch_size"):
        OmnigrokConfig(batch_size=-1)
    with pytest.raises(InputError, match="train_num"):
        TASK.split(41)


def test_registered_model_gives_the_common_result():
    from efftheory.models import MODELS, TrainResult

    model = MODELS["omnigrok"]
    assert model.tasks == ("digits", "mnist") and model.default_task == "digits"
    config = model.config("digits", seed=3, alpha=8.0, width=16)
    assert isinstance(config, OmnigrokConfig) and (config.seed, config.alpha, config.width) == (3, 8.0, 16)
    res = model.train(TASK.split(20), config, 30, eval_every=10)
    assert isinstance(res, TrainResult) and res.steps.tolist() == [0, 10, 20, 30]
    assert np.isnan(res.rqi).all() and res.embeddings.shape == (4, 0, 0) and res.steps_to_rqi is None
    assert res.w0 == pytest.approx(res.weight_norm[0]) and res.cell_record()["steps_run"] == 30
    n, m = 20, TASK.n_test
    assert res.final_full_acc == pytest.approx((res.train_acc[-1] * n + res.test_acc[-1] * m) / (n + m))
    with pytest.raises(InputError, match="trains on digits, mnist"):
        model.make_task("add", 5)
