"""The embedding MLP ReLU(E_a + E_b) W_out: kernel gradients against finite differences and the
numpy twin, the training loop against the twin's loop, the parameter layout, validation."""

from __future__ import annotations

import numpy as np
import pytest

from efftheory.errors import InputError
from efftheory.models.embed_mlp import (EmbedMLPConfig, Layout, init_params, loss_and_gradient, token_lists,
                                        train_embed_mlp)
from efftheory.reference import embed_mlp as ref
from efftheory.tasks import ModularAddition
from tests.conftest import FLOAT_TYPES, assert_close_in

SHAPES = [  # (hidden, bias, loss)
    (0, False, "ce"), (0, True, "mse"), (1, True, "ce"), (2, False, "mse"),
]


def _split(p=7, frac=0.6, seed=1):
    return ModularAddition(p).split(frac=frac, seed=seed)


def _config(hidden, bias, loss, dtype="float64", **kw):
    return EmbedMLPConfig(dim=5, hidden=hidden, width=4, bias=bias, loss=loss, dtype=dtype, seed=3, **kw)


def _twin_loss_and_gradient(split, config, theta, layout):
    """The twin's loss and its gradient in the kernel's flat layout, in float64."""
    ptr, idx, labels, _, _ = token_lists(split)
    tokens = [idx[ptr[r]:ptr[r + 1]].tolist() for r in range(split.n_train)]
    E, Ws, bs = layout.unpack(np.asarray(theta, dtype=np.float64))
    loss, gE, gWs, gbs = ref.loss_and_grads(E, Ws, bs, tokens, labels[: split.n_train], config.loss)
    grad = np.zeros(layout.n_params)
    E_g, Ws_g, bs_g = layout.unpack(grad)
    for view, value in zip([E_g, *Ws_g, *(bs_g or [])], [gE, *gWs, *(gbs or [])]):
        view[...] = value
    return loss, grad


@pytest.mark.slow
@pytest.mark.parametrize("hidden,bias,loss", SHAPES)
def test_gradient_matches_central_differences(hidden, bias, loss):
    """The float64 kernel against central differences of its own loss (slow stage: it compiles
    the kernels for float64; the default run checks the twin against central differences and the
    float32 kernel against the twin)."""
    split, config = _split(), _config(hidden, bias, loss)
    _, theta = loss_and_gradient(split, config)  # only for the shape
    theta0, _ = init_params(7, 7, config)
    # move off the initial point so that no ReLU input sits near 0 by accident of symmetry
    rng = np.random.default_rng(0)
    theta = theta0 + 0.05 * rng.standard_normal(theta0.shape)
    loss0, grad = loss_and_gradient(split, config, theta)
    h = 1e-6
    fd = np.empty_like(theta)
    for k in range(theta.size):
        e = np.zeros_like(theta)
        e[k] = h
        fd[k] = (loss_and_gradient(split, config, theta + e)[0] - loss_and_gradient(split, config, theta - e)[0]) / (2 * h)
    assert np.isfinite(loss0) and loss0 > 0
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-8)
    assert np.abs(grad).max() > 1e-3  # the check compares something


@pytest.mark.parametrize("hidden,bias,loss", SHAPES)
def test_the_twins_gradient_matches_central_differences(hidden, bias, loss):
    """The twin's back-propagation against central differences of the twin's loss (numpy, float64,
    nothing compiled): with the twin check below, the default run's check of the kernel's gradient."""
    split, config = _split(), _config(hidden, bias, loss)
    theta0, layout = init_params(7, 7, config)
    theta = theta0 + 0.05 * np.random.default_rng(0).standard_normal(theta0.shape)  # off any ReLU kink
    loss0, grad = _twin_loss_and_gradient(split, config, theta, layout)
    h = 1e-6
    fd = np.empty_like(theta)
    for k in range(theta.size):
        e = np.zeros_like(theta)
        e[k] = h
        fd[k] = (_twin_loss_and_gradient(split, config, theta + e, layout)[0]
                 - _twin_loss_and_gradient(split, config, theta - e, layout)[0]) / (2 * h)
    assert np.isfinite(loss0) and loss0 > 0
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-8)
    assert np.abs(grad).max() > 1e-3  # the check compares something


@pytest.mark.parametrize("dtype", FLOAT_TYPES)
@pytest.mark.parametrize("hidden,bias,loss", SHAPES)
def test_gradient_matches_numpy_twin(hidden, bias, loss, dtype):
    split, config = _split(), _config(hidden, bias, loss, dtype)
    theta, layout = init_params(7, 7, config)
    loss_k, grad = loss_and_gradient(split, config, theta)
    ptr, idx, labels, _, _ = token_lists(split)
    nt = split.n_train
    tokens = [idx[ptr[r]:ptr[r + 1]].tolist() for r in range(nt)]
    E, Ws, bs = layout.unpack(theta.astype(np.float64))
    loss_r, gE, gWs, gbs = ref.loss_and_grads(E, Ws, bs, tokens, labels[:nt], loss)
    gE_k, gWs_k, gbs_k = layout.unpack(grad)
    assert grad.dtype == np.dtype(dtype)
    assert loss_k == pytest.approx(loss_r, rel=1e-12 if dtype == "float64" else 1e-5)
    assert_close_in(dtype, gE_k, gE, rtol=1e-10, atol=1e-13)
    for a, b in zip(gWs_k, gWs):
        assert_close_in(dtype, a, b, rtol=1e-10, atol=1e-13)
    assert (gbs_k is None) == (gbs is None)
    if gbs is not None:
        for a, b in zip(gbs_k, gbs):
            assert_close_in(dtype, a, b, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("dtype", FLOAT_TYPES)
@pytest.mark.parametrize("hidden,bias,loss", [(0, False, "ce"), (1, True, "mse")])
def test_training_loop_matches_numpy_twin(hidden, bias, loss, dtype):
    """40 steps against the twin (in float64 from the same initial parameters): the accuracies
    exactly, the final parameters to the type's precision."""
    split = _split(p=11, frac=0.5)
    config = _config(hidden, bias, loss, dtype, lr=1e-2, wd=0.5)
    steps = 40
    run = train_embed_mlp(split, config, steps, eval_every=1)
    tr, te, params = ref.train(split, config, steps)
    np.testing.assert_allclose(run.train_acc, tr)
    np.testing.assert_allclose(run.test_acc, te)
    theta = np.concatenate([q.ravel() for q in _in_layout_order(params, run.layout)])
    assert_close_in(dtype, run.theta_final, theta, rtol=1e-9, atol=1e-12)
    assert not np.allclose(run.E_final, run.E0)  # the run moved
    assert run.steps_to_train == ref.first_step(tr) and run.steps_to_test == ref.first_step(te)


def _in_layout_order(params, layout):
    """The twin's [E, *Ws, *bs] in the flat layout's order (E, b_0, W_0, b_1, W_1, ...)."""
    L = len(layout.w_off)
    E, Ws = params[0], params[1 : 1 + L]
    bs = params[1 + L :]
    if not bs:
        return [E, *Ws]
    out = [E, bs[0]]
    for W, b in zip(Ws, bs[1:]):
        out += [W, b]
    return out


def test_layout_covers_every_parameter_once():
    for bias in (False, True):
        config = EmbedMLPConfig(dim=6, hidden=2, width=5, bias=bias)
        theta, layout = init_params(13, 13, config)
        marker = np.arange(theta.size, dtype=np.float64)
        E, Ws, bs = layout.unpack(marker)
        seen = np.concatenate([E.ravel(), *(W.ravel() for W in Ws), *((b for b in bs) if bs else [])])
        assert np.array_equal(np.sort(seen), marker)
        assert layout.n_params == 13 * 6 + 6 * 5 + 5 * 5 + 5 * 13 + (bias and 6 + 5 + 5 + 13)


def test_initial_embedding_does_not_depend_on_decoder_shape():
    a, la = init_params(67, 67, EmbedMLPConfig(seed=4))
    b, lb = init_params(67, 67, EmbedMLPConfig(seed=4, hidden=1, width=40, bias=True))
    np.testing.assert_array_equal(la.unpack(a)[0], lb.unpack(b)[0])
    assert np.abs(la.unpack(a)[0]).max() <= 1 / np.sqrt(67)


def test_modadd_samples_are_two_tokens_train_first():
    split = _split(p=5, frac=0.4)
    ptr, idx, labels, n_tok, n_classes = token_lists(split)
    assert (n_tok, n_classes) == (5, 5)
    pairs = idx.reshape(-1, 2)
    np.testing.assert_array_equal(pairs[: split.n_train], split.train_pairs)
    np.testing.assert_array_equal(labels, pairs.sum(axis=1) % 5)
    np.testing.assert_array_equal(ptr, np.arange(0, 2 * 15 + 1, 2))


@pytest.mark.parametrize("kw", [dict(dim=0), dict(loss="hinge"), dict(lr=0.0), dict(wd=-1.0), dict(hidden=-1),
                                dict(bias=1), dict(dtype="float16"), dict(init_scale=float("nan"))])
def test_bad_config_is_refused(kw):
    with pytest.raises(InputError):
        EmbedMLPConfig(**kw)


def test_diverging_run_stops_and_says_so():
    split = _split(p=11, frac=0.5)
    run = train_embed_mlp(split, EmbedMLPConfig(lr=1e30, wd=0.0, seed=1), 50, eval_every=10)
    assert run.diverged and run.phase == "diverged" and run.steps_run < 50


def test_trajectory_does_not_depend_on_the_evaluation_stride():
    split = _split(p=13, frac=0.5)
    config = EmbedMLPConfig(dim=8, lr=1e-2, seed=2)  # float32, BLAS products
    a = train_embed_mlp(split, config, 60, eval_every=1)
    b = train_embed_mlp(split, config, 60, eval_every=7)
    np.testing.assert_array_equal(a.theta_final, b.theta_final)
    np.testing.assert_array_equal(b.steps, [0, 7, 14, 21, 28, 35, 42, 49, 56, 60])
    np.testing.assert_array_equal(a.test_acc[b.steps], b.test_acc)
    assert a.steps_to_train == b.steps_to_train


def test_registered_model_trains_through_the_interface():
    import dataclasses

    from efftheory.models import CELL_KEYS, MODELS, TrainResult

    model = MODELS["embed-mlp"]
    assert model.default_task == "modadd"
    names = {f.name for f in dataclasses.fields(EmbedMLPConfig)}
    assert {o.name for o in model.options} <= names
    split = model.make_task("modadd", 11).split(frac=0.6, seed=2)  # the cell splits with its seed
    config = model.config("modadd", seed=2, dim=8, lr=1e-2)
    assert config == EmbedMLPConfig(dim=8, lr=1e-2, seed=2)
    run = model.train(split, config, 30, eval_every=10)
    assert isinstance(run, TrainResult)
    np.testing.assert_array_equal(run.theta_final, train_embed_mlp(split, config, 30, eval_every=10).theta_final)
    assert run.rqi.shape == run.steps.shape and np.all((run.rqi >= 0) & (run.rqi <= 1))
    fixed = {"task": "modadd", "p": 11, "frac": 0.6, "seed": 2, "network": {"dim": 8, "lr": 1e-2}, "steps": 30,
             "eval_every": 10, "gap": 1000.0, "early_stop": False}
    record = model.cell({}, fixed)
    assert set(record) == set(CELL_KEYS) | {"phase"}
    assert record["final_test_acc"] == pytest.approx(run.test_acc[-1])
