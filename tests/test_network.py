"""The toy network: gradients, AdamW, the training loop against its numpy twin, metrics, seeds."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

from efftheory.theories.linear import metrics
from efftheory.errors import InputError
from efftheory.models.toy.config import NetworkConfig
from efftheory.models.shared_kernels import adamw
from efftheory.models.toy.kernels import _tanh_fast, init_params
from efftheory.models.toy.training import loss_and_gradient, train_network
from efftheory.phases import phase_of
from efftheory.tasks import Addition
from efftheory.reference import network as naive
from tests.conftest import FLOAT_TYPES, assert_close_in

SMALL = dict(width=9, out_dim=4, dtype="float64")


# ------------------------------------------------------------------ configuration


@pytest.mark.parametrize(
    "field, value, needle",
    [("loss", "hinge", "loss"), ("dim", 0, "dim"), ("width", 2.5, "width"), ("depth", 0, "depth"),
     ("embed_lr", 0.0, "embed_lr"), ("decoder_lr", float("nan"), "decoder_lr"),
     ("embed_wd", -1.0, "embed_wd"), ("init_scale", -0.1, "init_scale"), ("dtype", "float16", "dtype"),
     ("seed", -1, "seed")],
)
def test_config_rejects_bad_values(field, value, needle):
    with pytest.raises(InputError, match=needle):
        NetworkConfig(**{field: value})


def test_train_rejects_bad_arguments():
    split = Addition(4).split(n_train=6)
    with pytest.raises(InputError, match="steps"):
        train_network(split, NetworkConfig(), steps=0)
    with pytest.raises(InputError, match="eval_every"):
        train_network(split, NetworkConfig(), steps=5, eval_every=0)


def test_initialisation_ranges_and_streams():
    cfg = NetworkConfig(init_scale=3.0, decoder_init_scale=0.5, width=50)
    theta, layout, templates = init_params(10, cfg)
    E, Ws, bs = layout.unpack(theta)
    assert theta.dtype == np.float32 and E.shape == (10, 1) and templates.shape == (19, 30)
    assert np.all(np.abs(E) <= 1.5)
    for W, b in zip(Ws, bs):
        assert np.all(np.abs(W) <= 0.5 / np.sqrt(W.shape[0]) + 1e-7)
        assert np.all(np.abs(b) <= 0.5 / np.sqrt(W.shape[0]) + 1e-7)
    # embeddings come from their own stream: the decoder's width does not change them
    theta2, layout2, _ = init_params(10, dataclasses.replace(cfg, width=7))
    E_other = layout2.unpack(theta2)[0]
    np.testing.assert_array_equal(E, E_other)


# ------------------------------------------------------------------ gradients


def twin_loss_and_gradient(split, cfg, theta, layout, templates, y, side=0):
    """The numpy twin's loss and its gradient in the kernel's flat layout, in float64."""
    E, Ws, bs = layout.unpack(np.asarray(theta, dtype=np.float64))
    value, gE, gWs, gbs = naive.loss_and_grads(E, Ws, bs, split.train_pairs, y, templates, cfg.loss, side,
                                               cfg.embed_l1)
    grad = np.zeros(theta.size)
    gE_k, gWs_k, gbs_k = layout.unpack(grad)
    for view, value_ in zip([gE_k, *gWs_k, *gbs_k], [gE, *gWs, *gbs]):
        view[...] = value_
    return value, grad


def assert_twin_matches_central_differences(split, cfg, theta, layout, templates, y, idx, side=0, floor=1e-7):
    """Central differences (h = 1e-6) of the twin's loss against its back-propagation at ``idx``."""
    _, grad = twin_loss_and_gradient(split, cfg, theta, layout, templates, y, side)
    h = 1e-6
    for k in idx:
        up, down = theta.astype(np.float64), theta.astype(np.float64)
        up[k] += h
        down[k] -= h
        fd = (twin_loss_and_gradient(split, cfg, up, layout, templates, y, side)[0]
              - twin_loss_and_gradient(split, cfg, down, layout, templates, y, side)[0]) / (2 * h)
        assert abs(fd - grad[k]) <= floor + 1e-6 * abs(fd), (k, fd, grad[k])


@pytest.mark.parametrize("loss", ["mse", "ce"])
@pytest.mark.parametrize("depth, dim", [(1, 1), (2, 2), (3, 1)])
def test_the_twins_gradient_matches_central_differences(loss, depth, dim):
    """The default run's finite-difference check (numpy, nothing compiled): the twin's
    back-propagation against its loss; the kernel is checked against the twin below, and against
    central differences itself in the slow stage."""
    split = Addition(5).split(n_train=9, seed=depth)
    cfg = NetworkConfig(loss=loss, depth=depth, dim=dim, seed=depth + dim, **SMALL)
    theta, layout, templates = init_params(5, cfg)
    rng = np.random.default_rng(0)
    n_embed = 5 * dim
    idx = np.concatenate([np.arange(n_embed), rng.choice(np.arange(n_embed, theta.size), 40, replace=False)])
    assert_twin_matches_central_differences(split, cfg, theta, layout, templates, split.task.sums[split.train], idx)


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["mse", "ce"])
@pytest.mark.parametrize("depth, dim", [(1, 1), (2, 2), (3, 1)])
def test_gradient_matches_central_differences(loss, depth, dim):
    """The float64 kernel against central differences of its own loss (slow stage: the default
    run compiles the toy's kernels for float32 only)."""
    split = Addition(5).split(n_train=9, seed=depth)
    cfg = NetworkConfig(loss=loss, depth=depth, dim=dim, seed=depth + dim, **SMALL)
    theta = init_params(5, cfg)[0]
    _, grad = loss_and_gradient(split, cfg, theta)
    rng = np.random.default_rng(0)
    n_embed = 5 * dim
    idx = np.concatenate([np.arange(n_embed), rng.choice(np.arange(n_embed, theta.size), 40, replace=False)])
    h = 1e-6
    for k in idx:
        up, down = theta.copy(), theta.copy()
        up[k] += h
        down[k] -= h
        fd = (loss_and_gradient(split, cfg, up)[0] - loss_and_gradient(split, cfg, down)[0]) / (2 * h)
        assert abs(fd - grad[k]) <= 1e-7 + 1e-6 * abs(fd), (k, fd, grad[k])


@pytest.mark.parametrize("dtype", FLOAT_TYPES)
@pytest.mark.parametrize("loss", ["mse", "ce"])
def test_gradient_matches_naive_backprop(loss, dtype):
    """The kernel's loss and gradient against the twin's from the same parameters (in float32 the
    kernel's tanh is a Padé approximant accurate to 5e-7, within float32's tolerance)."""
    split = Addition(6).split(n_train=12, seed=3)
    cfg = NetworkConfig(loss=loss, depth=2, dim=2, seed=5, **{**SMALL, "dtype": dtype})
    theta, layout, templates = init_params(6, cfg)
    value, grad = loss_and_gradient(split, cfg, theta)
    E, Ws, bs = layout.unpack(theta.astype(np.float64))
    y = split.task.sums[split.train]
    ref, gE, gWs, gbs = naive.loss_and_grads(E, Ws, bs, split.train_pairs, y, templates, loss)
    gE_k, gWs_k, gbs_k = layout.unpack(grad)
    assert grad.dtype == np.dtype(dtype)
    assert value == pytest.approx(ref, rel=1e-12 if dtype == "float64" else 1e-5)
    assert_close_in(dtype, gE_k, gE, rtol=1e-10, atol=1e-14)
    for a, b in zip(gWs_k + gbs_k, gWs + gbs):
        assert_close_in(dtype, a, b, rtol=1e-10, atol=1e-14)


def test_fast_tanh_is_float32_accurate():
    @njit
    def apply(z):
        out = np.empty_like(z)
        one = np.float32(1)
        for i in range(z.size):
            out[i] = _tanh_fast(z[i], one)
        return out

    z = np.concatenate([np.linspace(-20, 20, 20001), -np.logspace(-20, 1, 200), [0.0]]).astype(np.float32)
    exact = np.tanh(z.astype(np.float64))
    err = np.abs(apply(z) - exact)
    assert err.max() < 5e-7
    assert np.all(err <= 5e-7 * np.abs(exact) + 1e-30)  # relative accuracy near 0 too


# ------------------------------------------------------------------ AdamW


@pytest.mark.parametrize("wd", [0.0, 0.5])
def test_adamw_two_steps_by_hand(wd):
    """Two PyTorch AdamW steps on one embedding and one decoder parameter, written out."""
    theta = np.array([1.0, -2.0])
    m, v = np.zeros(2), np.zeros(2)
    lr_e, lr_d = 0.1, 0.01
    c = np.ones(9)
    g1, g2 = np.array([0.5, 3.0]), np.array([-1.0, 1.0])
    adamw(theta, g1, m, v, 1, 1, lr_e, wd, lr_d, wd, c)
    adamw(theta, g2, m, v, 2, 1, lr_e, wd, lr_d, wd, c)
    # parameter 0 (lr 0.1): step 1 m=0.05, v=0.00025, m^=0.5, v^=0.25
    x = 1.0 * (1 - 0.1 * wd) - 0.1 * 0.5 / (0.5 + 1e-8)
    # step 2: m = 0.045 - 0.1 = -0.055, v = 0.999*0.00025 + 0.001 = 0.00124975,
    # bias corrections 1 - 0.81 = 0.19 and 1 - 0.998001 = 0.001999
    x = x * (1 - 0.1 * wd) - (0.1 / 0.19) * (-0.055) / (np.sqrt(0.00124975) / np.sqrt(0.001999) + 1e-8)
    # parameter 1 (lr 0.01): step 1 m=0.3, v=0.009, m^=3, v^=9
    y = -2.0 * (1 - 0.01 * wd) - 0.01 * 3.0 / (3.0 + 1e-8)
    # step 2: m = 0.27 + 0.1 = 0.37, v = 0.999*0.009 + 0.001 = 0.009991
    y = y * (1 - 0.01 * wd) - (0.01 / 0.19) * 0.37 / (np.sqrt(0.009991) / np.sqrt(0.001999) + 1e-8)
    np.testing.assert_allclose(theta, [x, y], rtol=1e-13)
    if wd == 0.0:  # without decay: the familiar numbers
        assert theta[0] == pytest.approx(1.0 - 0.1 + 0.1 * (0.055 / 0.19) / np.sqrt(0.00124975 / 0.001999), rel=1e-7)


# ------------------------------------------------------------------ training loop


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["mse", "ce"])
def test_training_matches_naive_twin_float64(loss):
    split = Addition(6).split(n_train=14, seed=1)
    cfg = NetworkConfig(loss=loss, width=12, out_dim=5, dtype="float64", embed_lr=1e-2, decoder_lr=3e-3,
                        embed_wd=0.1, decoder_wd=0.05, seed=2)
    fast = train_network(split, cfg, steps=40)
    ref = naive.train(split, cfg, steps=40)
    np.testing.assert_array_equal(fast.steps, np.arange(41))
    np.testing.assert_allclose(fast.train_loss, ref["train_loss"], rtol=1e-10)
    np.testing.assert_allclose(fast.test_loss, ref["test_loss"], rtol=1e-10)
    np.testing.assert_array_equal(fast.train_acc, ref["train_acc"])
    np.testing.assert_array_equal(fast.test_acc, ref["test_acc"])
    np.testing.assert_allclose(metrics.normalize(ref["embeddings"]), fast.embeddings, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(fast.rqi, ref["rqi"])
    np.testing.assert_array_equal(fast.predicted_test_acc, ref["pred"])
    assert fast.train_loss[-1] < fast.train_loss[0]


def test_training_float32_tracks_twin():
    split = Addition(6).split(n_train=14, seed=1)
    cfg = NetworkConfig(width=32, seed=4)
    fast = train_network(split, cfg, steps=60)
    ref = naive.train(split, cfg, steps=60)
    np.testing.assert_allclose(fast.train_loss, ref["train_loss"], rtol=2e-4)
    np.testing.assert_allclose(metrics.normalize(ref["embeddings"]), fast.embeddings, atol=2e-4)


@pytest.fixture(scope="module")
def p10_run():
    split = Addition(10).split(n_train=45, seed=1)
    return train_network(split, NetworkConfig(seed=1), steps=1200)


@pytest.mark.jit_heavy
def test_metrics_agree_with_metrics_module(p10_run):
    r = p10_run
    assert r.embeddings.shape == (1201, 10, 1)
    assert len(np.unique(r.rqi)) > 5  # the RQI moves during the run, so the check has teeth
    np.testing.assert_array_equal(r.rqi, metrics.rqi(r.embeddings))
    test, _ = metrics.predicted_accuracy(r.embeddings, r.split)
    np.testing.assert_array_equal(r.predicted_test_acc, test)
    np.testing.assert_allclose(r.embeddings[-1], metrics.normalize(r.E_final), atol=1e-6)
    np.testing.assert_allclose(r.embeddings[0], metrics.normalize(r.E0), atol=1e-12)


@pytest.mark.jit_heavy
def test_steps_to_thresholds_and_phase(p10_run):
    r = p10_run
    for t, series, thr in [(r.steps_to_train, r.train_acc, 0.9), (r.steps_to_test, r.test_acc, 0.9),
                           (r.steps_to_rqi, r.rqi, 0.95)]:
        hit = np.flatnonzero(series >= thr)
        assert t == (int(r.steps[hit[0]]) if hit.size else None)
    assert r.steps_to_rqi is not None  # this run learns its structure
    assert r.phase == phase_of(r.steps_to_train, r.steps_to_test, 1e3)


@pytest.mark.jit_heavy
def test_eval_every_and_stop_at_test():
    split = Addition(5).split(n_train=12, seed=2)
    cfg = NetworkConfig(width=40, seed=1, embed_lr=1e-2, decoder_lr=1e-3)  # generalises at step 316
    full = train_network(split, cfg, steps=400)
    thin = train_network(split, cfg, steps=400, eval_every=7)
    np.testing.assert_array_equal(thin.steps, np.r_[np.arange(0, 400, 7), 400])
    np.testing.assert_array_equal(thin.train_loss, full.train_loss[thin.steps])
    np.testing.assert_array_equal(thin.rqi, full.rqi[thin.steps])
    np.testing.assert_array_equal(thin.E_final, full.E_final)
    assert full.steps_to_test is not None
    calls = []
    stopped = train_network(split, cfg, steps=400, stop_at_test=True, progress=calls.append)
    t_stop = max(full.steps_to_test, full.steps_to_train)
    assert stopped.steps_run == t_stop == stopped.steps[-1]
    assert sum(calls) == t_stop
    np.testing.assert_array_equal(stopped.test_acc, full.test_acc[: t_stop + 1])
    assert stopped.phase == full.phase


@pytest.mark.jit_heavy
def test_all_samples_reach_train_accuracy_one():
    split = Addition(5).split(frac=1.0, seed=0)
    r = train_network(split, NetworkConfig(seed=0), steps=1500)
    assert r.train_acc[-1] == 1.0
    assert np.isnan(r.test_acc[-1]) and r.steps_to_test is None


def test_seeds_determine_runs():
    split = Addition(6).split(n_train=15, seed=0)
    a = train_network(split, NetworkConfig(seed=7, width=30), steps=50)
    b = train_network(split, NetworkConfig(seed=7, width=30), steps=50)
    c = train_network(split, NetworkConfig(seed=8, width=30), steps=50)
    np.testing.assert_array_equal(a.train_loss, b.train_loss)
    np.testing.assert_array_equal(a.E_final, b.E_final)
    assert not np.array_equal(a.E0, c.E0)
    assert not np.allclose(a.train_loss, c.train_loss)


def test_chunking_does_not_change_the_run(monkeypatch):
    import efftheory.models.toy.training as net

    split = Addition(5).split(n_train=10, seed=4)
    cfg = NetworkConfig(width=20, seed=6)
    whole = train_network(split, cfg, steps=60, eval_every=4)
    monkeypatch.setattr(net, "_CHUNK", 7)  # kernel calls end mid-way between evaluations
    pieces = train_network(split, cfg, steps=60, eval_every=4)
    np.testing.assert_array_equal(whole.steps, pieces.steps)
    np.testing.assert_array_equal(whole.train_loss, pieces.train_loss)
    np.testing.assert_array_equal(whole.E_final, pieces.E_final)


def test_config_and_result_pickle():
    import pickle

    split = Addition(4).split(n_train=6)
    cfg = NetworkConfig(loss="ce", width=8)
    r = train_network(split, cfg, steps=5)
    assert pickle.loads(pickle.dumps(cfg)) == cfg
    back = pickle.loads(pickle.dumps(r))
    np.testing.assert_array_equal(back.train_loss, r.train_loss)


@pytest.mark.parametrize("dtype", FLOAT_TYPES)
@settings(max_examples=8, deadline=None)
@given(p=st.integers(3, 6), frac=st.floats(0.3, 1.0), loss=st.sampled_from(["mse", "ce"]),
       depth=st.integers(1, 2), dim=st.integers(1, 2), seed=st.integers(0, 50))
def test_random_configurations_match_the_twin(dtype, p, frac, loss, depth, dim, seed):
    """Eight steps against the twin (float64, from the same initial parameters): the losses to the
    type's precision and the accuracies exactly; in float64 the RQI exactly too (in float32 a
    parallelogram at the RQI's threshold may count on one side of it and not the other)."""
    split = Addition(p).split(frac=frac, seed=seed)
    cfg = NetworkConfig(loss=loss, depth=depth, dim=dim, width=10, out_dim=3, dtype=dtype, seed=seed,
                        embed_lr=1e-2, decoder_lr=1e-2, decoder_wd=0.1)
    fast = train_network(split, cfg, steps=8)
    ref = naive.train(split, cfg, steps=8)
    assert_close_in(dtype, fast.train_loss, ref["train_loss"], rtol=1e-10)
    np.testing.assert_array_equal(fast.train_acc, ref["train_acc"])
    if dtype == "float64":
        np.testing.assert_array_equal(fast.rqi, ref["rqi"])
