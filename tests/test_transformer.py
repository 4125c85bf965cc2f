"""The transformer: layout, a forward pass with a known answer, gradients against central
differences, the numba kernels against the numpy twin, AdamW's groups, and a tiny run that
generalises."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from efftheory.models.dropout import base_key
from efftheory.errors import InputError
from efftheory.reference import transformer as naive
from efftheory.tasks import Addition, ModularAddition
from efftheory.models.transformer.layout import BLOCK_TENSORS, init_params
from efftheory.models.transformer.config import TransformerConfig
from efftheory.theories.track import standardise_tokens
from efftheory.models.transformer.training import (
    adamw_update,
    logits,
    loss_and_gradient,
    train_transformer,
)
from tests.conftest import FLOAT_TYPES, assert_close_in

TINY = dict(dim=4, width=6, layers=2, dtype="float64")


def _split(p=5, frac=0.6, seed=0):
    return ModularAddition(p, ordered=True).split(frac=frac, seed=seed)


# ------------------------------------------------------------------ configuration and layout


@pytest.mark.parametrize("field, value, needle", [
    ("dim", 0, "dim"), ("width", 0, "width"), ("layers", 0, "layers"), ("embed_lr", 0.0, "embed_lr"),
    ("decoder_lr", float("nan"), "decoder_lr"), ("decoder_wd", -1.0, "decoder_wd"), ("dtype", "float16", "dtype"),
    ("seed", -1, "seed"), ("final_ln", 1, "final_ln"), ("decoder_wd", 2000.0, "decoder_lr x decoder_wd"),
    ("dropout", 1.0, "dropout"), ("dropout", -0.1, "dropout"),
])
def test_config_rejects_bad_values(field, value, needle):
    with pytest.raises(InputError, match=needle):
        TransformerConfig(**{field: value})


def test_one_dimensional_tokens_are_refused():
    """LayerNorm maps a single number to its bias: a d = 1 transformer could not tell tokens apart."""
    with pytest.raises(InputError, match="dim must be >= 2"):
        loss_and_gradient(_split(), TransformerConfig(dim=1))


def test_trainer_refuses_other_tasks_and_bad_arguments():
    with pytest.raises(InputError, match="modular addition"):
        train_transformer(Addition(5).split(n_train=8), TransformerConfig(**TINY), steps=2)
    with pytest.raises(InputError, match="steps"):
        train_transformer(_split(), TransformerConfig(**TINY), steps=0)
    with pytest.raises(InputError, match="eval_every"):
        train_transformer(_split(), TransformerConfig(**TINY), steps=3, eval_every=0)


@pytest.mark.parametrize("final_ln", [True, False])
def test_layout_counts_and_initialisation(final_ln):
    p, d, w, L = 7, 6, 10, 3
    cfg = TransformerConfig(dim=d, width=w, layers=L, final_ln=final_ln, seed=3)
    theta, lay = init_params(p, cfg)
    per_block = 2 * d + 3 * d * d + 3 * d + d * d + d + 2 * d + d * w + w + w * d + d
    assert lay.n_params == p * d + L * per_block + (2 * d if final_ln else 0) + 2 * d * p + p
    assert theta.shape == (lay.n_params,) and theta.dtype == np.float32
    P = lay.unpack(theta)
    # the views tile θ exactly once: writing each view's index into a blank vector covers 0..n-1
    idx = np.full(lay.n_params, -1.0)
    Pi = lay.unpack(idx)
    tensors = [Pi["E"]] + [b[k] for b in Pi["blocks"] for k in BLOCK_TENSORS]
    tensors += [Pi[k] for k in ("lnf_g", "lnf_b", "W_out", "b_out") if k in Pi]
    start = 0
    for tns in tensors:  # contiguous, in documented order, embeddings first
        tns[...] = np.arange(start, start + tns.size).reshape(tns.shape)
        start += tns.size
    np.testing.assert_array_equal(idx, np.arange(lay.n_params))
    assert ("lnf_g" in P) == final_ln and P["W_out"].shape == (2 * d, p)
    for blk in P["blocks"]:
        np.testing.assert_array_equal(blk["ln1_g"], 1.0)
        np.testing.assert_array_equal(blk["ln2_b"], 0.0)
        for W, b in (("W_qkv", "b_qkv"), ("W_o", "b_o"), ("W_1", "c_1"), ("W_2", "c_2")):
            bound = 1.0 / np.sqrt(blk[W].shape[0])
            assert np.all(np.abs(blk[W]) <= bound + 1e-7) and np.all(np.abs(blk[b]) <= bound + 1e-7)
            assert np.abs(blk[W]).max() > 0.8 * bound  # uniform over the whole range, not a smaller one
    assert np.all(np.abs(P["W_out"]) <= 1.0 / np.sqrt(2 * d) + 1e-7)
    # E ~ N(0, 1) from its own stream: the decoder's size does not change it
    theta2, lay2 = init_params(p, dataclasses.replace(cfg, width=3, layers=1))
    np.testing.assert_array_equal(P["E"], lay2.unpack(theta2)["E"])
    theta3, lay3 = init_params(400, TransformerConfig(dim=50))
    big = lay3.unpack(theta3)["E"]
    assert abs(big.mean()) < 0.02 and abs(big.std() - 1.0) < 0.02


# ------------------------------------------------------------------ forward pass


@pytest.mark.parametrize("dtype", FLOAT_TYPES)
def test_forward_with_identical_tokens_has_a_closed_form(dtype):
    """On (a, a) both tokens are equal, so attention weighs them 1/2 each and its output is the
    value of that token: one block is then x -> x + v W_o + b_o -> + FF; with a single block, no
    final LN and every tensor known, the logits follow in closed form (in float64, from the
    kernel's own parameters)."""
    p, d, w = 5, 4, 3
    cfg = TransformerConfig(dim=d, width=w, layers=1, final_ln=False, dtype=dtype, seed=2)
    split = ModularAddition(p, ordered=True).split(frac=1.0)
    theta, lay = init_params(p, cfg)
    rng = np.random.default_rng(1)
    for k in ("ln1_g", "ln1_b", "ln2_g", "ln2_b"):
        lay.unpack(theta)["blocks"][0][k][...] = rng.normal(size=d)
    out = logits(split, cfg, theta)
    P = lay.unpack(theta.astype(np.float64))
    blk = P["blocks"][0]
    ln = lambda x, g, b: g * (x - x.mean()) / np.sqrt(x.var() + 1e-5) + b  # noqa: E731
    for a in range(p):
        x = P["E"][a]
        h = ln(x, blk["ln1_g"], blk["ln1_b"])
        v = h @ blk["W_qkv"][:, 2 * d:] + blk["b_qkv"][2 * d:]
        x = x + v @ blk["W_o"] + blk["b_o"]
        x = x + np.maximum(ln(x, blk["ln2_g"], blk["ln2_b"]) @ blk["W_1"] + blk["c_1"], 0) @ blk["W_2"] + blk["c_2"]
        expect = np.concatenate([x, x]) @ P["W_out"] + P["b_out"]
        assert_close_in(dtype, out[a * p + a], expect, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", FLOAT_TYPES)
def test_forward_is_symmetric_in_the_two_tokens(dtype):
    """No positional encoding: (a, b) and (b, a) give the same two output vectors, swapped, so
    their logits differ only through W_out's two halves; with the halves equal they agree."""
    p, d = 6, 4
    cfg = TransformerConfig(dim=d, width=5, layers=2, dtype=dtype)
    split = ModularAddition(p, ordered=True).split(frac=1.0)
    theta, lay = init_params(p, cfg)
    P = lay.unpack(theta)
    P["W_out"][d:] = P["W_out"][:d]
    out = logits(split, cfg, theta).reshape(p, p, p)
    assert_close_in(dtype, out, out.transpose(1, 0, 2), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", FLOAT_TYPES)
@pytest.mark.parametrize("final_ln", [True, False])
def test_logits_match_the_numpy_twin(final_ln, dtype):
    cfg = TransformerConfig(**{**TINY, "final_ln": final_ln, "dtype": dtype}, seed=5)
    split = _split(p=6)
    theta, lay = init_params(6, cfg)
    expect = naive.forward(lay.unpack(theta.astype(np.float64)), split.task.pairs, final_ln)[0]
    assert_close_in(dtype, logits(split, cfg, theta), expect, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("rows", [1, 2, 3, 4, 5, 7, 8, 9])
def test_layernorm_gives_each_row_the_numbers_it_gets_alone(rows):
    """The LayerNorm kernels sum several rows side by side (ops._ln_forward four, _ln_backward
    two): every row must come out as it does when it is the only row (the one-row path), and
    the gain and bias gradients must be the sums of the rows' own terms in row order."""
    from efftheory.models.transformer import ops

    rng = np.random.default_rng(rows)
    d, eps = 37, np.float32(1e-5)
    X = rng.standard_normal((rows, d)).astype(np.float32) * 3 + 1
    g, b = rng.standard_normal(d).astype(np.float32), rng.standard_normal(d).astype(np.float32)
    gH = rng.standard_normal((rows, d)).astype(np.float32)
    Xhat, rstd, H = np.zeros_like(X), np.zeros((rows, 1), np.float32), np.zeros_like(X)
    ops._ln_forward(X, g, b, Xhat, rstd, H, eps)
    gX, gg, gb = np.ones_like(X), np.zeros(d, np.float32), np.zeros(d, np.float32)
    ops._ln_backward(gH, Xhat, rstd, g, gX, gg, gb)
    want_gg, want_gb = np.zeros(d, np.float32), np.zeros(d, np.float32)
    for r in range(rows):
        xh1, rs1, h1 = np.zeros((1, d), np.float32), np.zeros((1, 1), np.float32), np.zeros((1, d), np.float32)
        ops._ln_forward(X[r : r + 1], g, b, xh1, rs1, h1, eps)
        assert np.array_equal(xh1, Xhat[r : r + 1]) and np.array_equal(rs1, rstd[r : r + 1])
        assert np.array_equal(h1, H[r : r + 1])
        gx1, gg1, gb1 = np.ones((1, d), np.float32), np.zeros(d, np.float32), np.zeros(d, np.float32)
        ops._ln_backward(gH[r : r + 1], Xhat[r : r + 1], rstd[r : r + 1], g, gx1, gg1, gb1)
        assert np.array_equal(gx1, gX[r : r + 1])
        want_gg += gH[r] * Xhat[r]
        want_gb += gH[r]
    assert np.array_equal(gg, want_gg) and np.array_equal(gb, want_gb)
    # and the numbers are LayerNorm's: x̂ has mean 0 and variance 1 per row (d > 1)
    np.testing.assert_allclose(Xhat.mean(axis=1), 0, atol=1e-5)
    np.testing.assert_allclose((Xhat.astype(np.float64) ** 2).mean(axis=1), 1, rtol=1e-3)


# ------------------------------------------------------------------ gradients


@pytest.mark.slow
@pytest.mark.parametrize("final_ln, layers, dropout", [(True, 2, 0.0), (False, 1, 0.0), (True, 2, 0.3)])
def test_gradient_of_every_tensor_matches_central_differences(final_ln, layers, dropout):
    """With dropout the masks of one step are fixed, so that step's loss is a function of θ
    whose gradient the training loop takes."""
    p = 5
    cfg = TransformerConfig(**{**TINY, "layers": layers, "final_ln": final_ln}, dropout=dropout, seed=7)
    step = 3 if dropout else None
    split = _split(p=p, frac=0.7, seed=1)
    theta, lay = init_params(p, cfg)
    # random LN gains and biases, so that their gradients are not at a special point
    rng = np.random.default_rng(0)
    P = lay.unpack(theta)
    for blk in P["blocks"]:
        for k in ("ln1_g", "ln1_b", "ln2_g", "ln2_b"):
            blk[k][...] = rng.normal(1.0 if k.endswith("g") else 0.0, 0.3, size=blk[k].shape)
    _, grad = loss_and_gradient(split, cfg, theta, dropout_step=step)
    G = lay.unpack(grad)
    named = [("E", P["E"], G["E"])]
    named += [(f"{k}[{l}]", P["blocks"][l][k], G["blocks"][l][k]) for l in range(layers) for k in BLOCK_TENSORS]
    named += [(k, P[k], G[k]) for k in ("lnf_g", "lnf_b", "W_out", "b_out") if k in P]
    h = 1e-6
    for name, tns, gtns in named:
        flat, gflat = tns.reshape(-1), gtns.reshape(-1)
        for i in rng.choice(flat.size, min(flat.size, 6), replace=False):
            old = flat[i]
            flat[i] = old + h
            up = loss_and_gradient(split, cfg, theta, dropout_step=step)[0]
            flat[i] = old - h
            down = loss_and_gradient(split, cfg, theta, dropout_step=step)[0]
            flat[i] = old
            fd = (up - down) / (2 * h)
            assert abs(fd - gflat[i]) <= 1e-7 + 1e-6 * abs(fd), (name, i, fd, gflat[i])
    assert np.abs(G["E"]).max() > 0  # a real check: the embeddings do receive gradient


@pytest.mark.parametrize("dtype", FLOAT_TYPES)
@pytest.mark.parametrize("final_ln, dropout", [(True, 0.0), (False, 0.0), (True, 0.4), (False, 0.1)])
def test_gradient_matches_the_numpy_twin(final_ln, dropout, dtype):
    cfg = TransformerConfig(**{**TINY, "final_ln": final_ln, "dtype": dtype}, dropout=dropout, seed=11)
    split = _split(p=7, frac=0.5, seed=2)
    theta, lay = init_params(7, cfg)
    step = 9 if dropout else None
    loss, grad = loss_and_gradient(split, cfg, theta, dropout_step=step)
    masks = (dropout, naive.step_key(base_key(11), 9)) if dropout else None
    loss_n, G = naive.loss_and_grads(lay.unpack(theta.astype(np.float64)), split.train_pairs,
                                     split.task.labels[split.train], final_ln, masks)
    assert loss == pytest.approx(loss_n, rel=1e-12 if dtype == "float64" else 1e-5)
    expect = np.zeros(grad.shape)
    Pe = lay.unpack(expect)
    Pe["E"][...] = G["E"]
    for blk, gb in zip(Pe["blocks"], G["blocks"]):
        for k in BLOCK_TENSORS:
            blk[k][...] = gb[k]
    for k in ("lnf_g", "lnf_b", "W_out", "b_out"):
        if k in Pe:
            Pe[k][...] = G[k]
    assert_close_in(dtype, grad, expect, rtol=1e-10, atol=1e-13)


# ------------------------------------------------------------------ training steps and AdamW


@pytest.mark.slow
@pytest.mark.parametrize("dropout", [0.0, 0.25])
def test_training_steps_match_the_numpy_twin(dropout):
    """Five full steps (forward, backward, AdamW on two groups with weight decay on both): losses
    and every parameter agree with the twin; with dropout each step draws its own masks and the
    recorded losses are those without dropout."""
    cfg = TransformerConfig(**TINY, embed_lr=3e-3, decoder_lr=2e-3, embed_wd=0.5, decoder_wd=1.0, dropout=dropout,
                            seed=4)
    split = _split(p=6, frac=0.7, seed=3)
    steps = 5
    res = train_transformer(split, cfg, steps)
    theta_n, losses_n, test_acc_n = naive.train(split, cfg, steps)
    np.testing.assert_allclose(res.train_loss, losses_n, rtol=1e-11)
    np.testing.assert_allclose(res.test_acc, test_acc_n)
    np.testing.assert_allclose(res.theta_final, theta_n, rtol=1e-10, atol=1e-13)
    assert not np.allclose(res.theta_final, init_params(6, cfg)[0])  # the parameters moved


@pytest.mark.slow
def test_float32_run_tracks_float64():
    cfg = TransformerConfig(**{**TINY, "dtype": "float32"}, seed=4)
    split = _split(p=6, frac=0.7, seed=3)
    r32 = train_transformer(split, cfg, 20)
    r64 = train_transformer(split, dataclasses.replace(cfg, dtype="float64"), 20)
    np.testing.assert_allclose(r32.train_loss, r64.train_loss, rtol=2e-4)


def test_adamw_decays_only_the_decoder_group():
    """With zero gradients AdamW's step is zero, so only the decoupled decay acts: the
    embeddings (wd 0) are unchanged and every decoder parameter is multiplied by 1 − lr wd."""
    cfg = TransformerConfig(dim=4, width=5, layers=2, decoder_lr=0.01, decoder_wd=3.0, dtype="float64")
    theta, lay = init_params(7, cfg)
    before = theta.copy()
    zero = np.zeros_like(theta)
    adamw_update(theta, zero, zero.copy(), zero.copy(), 1, lay, cfg)
    np.testing.assert_array_equal(theta[: lay.n_embed], before[: lay.n_embed])
    np.testing.assert_allclose(theta[lay.n_embed:], before[lay.n_embed:] * (1 - 0.01 * 3.0), rtol=1e-15)
    # and the embedding group's own decay acts on the embeddings only
    cfg2 = dataclasses.replace(cfg, embed_wd=2.0, decoder_wd=0.0)
    theta = before.copy()
    adamw_update(theta, zero, zero.copy(), zero.copy(), 1, lay, cfg2)
    np.testing.assert_allclose(theta[: lay.n_embed], before[: lay.n_embed] * (1 - 1e-3 * 2.0), rtol=1e-15)
    np.testing.assert_array_equal(theta[lay.n_embed:], before[lay.n_embed:])


def test_first_adam_step_moves_every_parameter_by_the_learning_rate():
    """Bias correction makes Adam's first step lr g / (|g| + ε): about ±lr whatever the gradient's
    size, each group with its own lr."""
    cfg = TransformerConfig(dim=4, width=5, layers=1, embed_lr=1e-3, decoder_lr=5e-4, decoder_wd=0.0, dtype="float64")
    theta, lay = init_params(5, cfg)
    before = theta.copy()
    grad = np.random.default_rng(0).normal(size=theta.size) * np.logspace(-3, 3, theta.size)
    adamw_update(theta, grad, np.zeros_like(theta), np.zeros_like(theta), 1, lay, cfg)
    lr = np.where(np.arange(theta.size) < lay.n_embed, 1e-3, 5e-4)
    np.testing.assert_allclose(before - theta, lr * grad / (np.abs(grad) + 1e-8), rtol=1e-12)


# ------------------------------------------------------------------ a run


def test_records_follow_the_step_convention():
    cfg = TransformerConfig(**{**TINY, "dtype": "float32"}, seed=1)  # the convention is the same in either type
    split = _split(p=5)
    res = train_transformer(split, cfg, 7, eval_every=3)
    np.testing.assert_array_equal(res.steps, [0, 3, 6, 7])
    np.testing.assert_array_equal(res.raw_embeddings[0], res.E0)
    np.testing.assert_array_equal(res.raw_embeddings[-1], res.E_final)
    T, p, d = res.raw_embeddings.shape
    assert (T, p, d) == (4, 5, 4) and res.ring_frequency.shape == (4,) and res.rqi.shape == (4,)
    assert np.all(np.isnan(res.predicted_test_acc))
    # step 3's record is the state after 3 updates: a 3-step run ends on the same parameters
    short = train_transformer(split, cfg, 3)
    np.testing.assert_array_equal(short.E_final, res.raw_embeddings[1])
    assert short.train_loss[-1] == res.train_loss[1]


def test_standardise_tokens():
    E = np.random.default_rng(0).normal(size=(3, 5, 8)) * 4 + 2
    S = standardise_tokens(E)
    np.testing.assert_allclose(S.mean(axis=-1), 0, atol=1e-12)
    np.testing.assert_allclose(S.std(axis=-1), 1, rtol=1e-12)
    np.testing.assert_allclose(standardise_tokens(3 * E + 7), S, rtol=1e-10)  # scale and offset drop out


def test_tiny_transformer_learns_modular_addition():
    """p = 13, 90 % of the ordered pairs: test accuracy reaches 1 within 1500 steps (measured: at
    step 700), the same run twice. (Later the accuracy can drop for a few hundred steps: Adam's spikes once the loss is
    tiny, so the check is on the first time it reaches 1, not on the last step.)"""
    split = ModularAddition(13, ordered=True).split(frac=0.9, seed=0)
    cfg = TransformerConfig(dim=32, width=64, layers=1, embed_lr=1e-2, decoder_lr=2e-3, decoder_wd=3.0, seed=0)
    res = train_transformer(split, cfg, 1500, eval_every=100)
    again = train_transformer(split, cfg, 1500, eval_every=100)
    full = np.flatnonzero(res.test_acc == 1.0)
    assert full.size > 0, res.test_acc
    assert res.train_acc[full[0]] == 1.0
    assert res.steps_to_train <= res.steps_to_test <= res.steps_to_test_99 <= res.steps[full[0]]
    assert res.test_acc[0] < 0.2 and not res.diverged  # it learned: at step 0 it is near chance
    np.testing.assert_array_equal(res.test_acc, again.test_acc)
    np.testing.assert_array_equal(res.theta_final, again.theta_final)


# ------------------------------------------------------------------ command line


def test_cli_train_transformer_json(cli_json, tmp_path):
    plot = tmp_path / "fig.png"
    o = cli_json("train", "--model", "transformer", "--task", "modadd", "--p", 7, "--frac", 0.8, "--dim", 8,
                 "--width", 8, "--steps", 30, "--eval-every", 10, "--decoder-wd", 0, "--plot", plot)
    assert o["model"] == "transformer" and o["n_samples"] == 49 and o["n_train"] == round(0.8 * 49)
    assert o["config"]["dim"] == 8 and o["config"]["decoder_wd"] == 0 and o["config"]["layers"] == 1
    assert o["curve"]["steps"] == [0, 10, 20, 30] and o["steps"] == 30
    assert o["phase"] in ("comprehension", "grokking", "memorization", "confusion")
    assert o["circle_outcome"] in ("ring", "collapsed", "stalled", "fits-without-ring")
    assert plot.stat().st_size > 0


def test_cli_train_transformer_paper_size_is_one_flag_away():
    from tests.conftest import parse
    from efftheory.cli._train_transformer import transformer_config

    args = parse("train", "--model", "transformer", "--task", "modadd", "--p", 59, "--frac", 0.8, "--paper-size")
    c = transformer_config(args)
    assert (c.dim, c.width, c.layers, c.decoder_lr, c.decoder_wd, c.embed_lr, c.dropout) == (256, 128, 2, 2e-4, 1.0,
                                                                                          1e-3, 0.05)
    c = transformer_config(parse("train", "--model", "transformer", "--task", "modadd", "--p", 59, "--frac", 0.8,
                                 "--paper-size", "--layers", 1))
    assert c.layers == 1 and c.dim == 256


def test_cli_toy_defaults_are_unchanged_by_the_transformer_options():
    from tests.conftest import parse
    from efftheory.cli._train_toy import config
    from efftheory.models import MODELS
    from efftheory.models.toy.config import NetworkConfig

    args = parse("train", "--p", 10, "--frac", 0.5)
    assert args.model == "toy" and args.task == "add"
    assert config(args, MODELS["toy"], "add") == NetworkConfig() and args.steps == 5000 and args.eval_every == 1
    args = parse("train", "transformer", "--p", 10, "--frac", 0.5)  # the model's name as the first word
    assert args.model == "transformer" and args.task == "modadd" and args.steps == 8000 and args.eval_every == 20


@pytest.mark.parametrize("extra, needle", [
    (("--task", "add"), "--task modadd"),
    (("--task", "modadd", "--depth", "3"), "--depth"),
    (("--task", "modadd", "--dim", "1"), "dim"),
])
def test_cli_train_transformer_refuses_bad_input(cli_error, extra, needle):
    cli_error("train", "--model", "transformer", "--p", 7, "--frac", 0.5, "--steps", 2, *extra, needles=(needle,))


def test_cli_toy_refuses_transformer_options(cli_error):
    cli_error("train", "--p", 7, "--frac", 0.5, "--layers", 2, needles=("--model transformer",))
    cli_error("train", "--p", 7, "--frac", 0.5, "--dropout", 0.1, needles=("--model transformer",))


@pytest.mark.parametrize("rate", ["1", "-0.5", "nan"])
def test_cli_train_transformer_refuses_a_bad_dropout(cli_error, rate):
    cli_error("train", "--model", "transformer", "--task", "modadd", "--p", 7, "--frac", 0.5, "--steps", 2,
              "--dropout", rate, needles=("dropout",))


def test_cli_train_transformer_with_dropout(cli_json):
    o = cli_json("train", "--model", "transformer", "--task", "modadd", "--p", 7, "--frac", 0.8, "--dim", 8,
                 "--width", 8, "--steps", 20, "--eval-every", 10, "--dropout", 0.1)
    assert o["config"]["dropout"] == 0.1 and o["curve"]["steps"] == [0, 10, 20]


def test_a_run_that_leaves_the_numbers_stops_as_diverged():
    """An absurd learning rate throws the parameters past sqrt(float32 max) in one step: the run
    records that step, stops, and is "diverged"."""
    cfg = TransformerConfig(dim=4, width=4, embed_lr=1e25, decoder_lr=1e25, decoder_wd=0.0, seed=0)
    res = train_transformer(_split(p=5), cfg, 50)
    assert res.diverged and res.phase == "diverged"
    np.testing.assert_array_equal(res.steps, [0, 1])
    assert np.abs(res.theta_final).max() > np.sqrt(np.finfo(np.float32).max)
    assert res.rqi.shape == (2,) and np.isfinite(res.rqi[0])


def test_the_trajectory_does_not_depend_on_the_evaluation_interval():
    """Training and test samples go through separate forward passes, so evaluating more or less
    often changes no product BLAS computes for the update: float32 runs agree bit for bit."""
    cfg = TransformerConfig(dim=8, width=8, layers=1, seed=2)
    split = ModularAddition(11, ordered=True).split(frac=0.8, seed=0)
    a = train_transformer(split, cfg, 40, eval_every=1)
    b = train_transformer(split, cfg, 40, eval_every=13)
    np.testing.assert_array_equal(a.theta_final, b.theta_final)
    np.testing.assert_array_equal(a.train_loss[b.steps], b.train_loss)


# ------------------------------------------------------------------ dropout


@pytest.mark.parametrize("dtype", FLOAT_TYPES)
def test_dropout_acts_on_the_gradient_and_not_on_the_records(dtype):
    cfg = TransformerConfig(dim=8, width=8, layers=2, dropout=0.2, dtype=dtype, seed=3)
    split = ModularAddition(7, ordered=True).split(frac=0.7, seed=0)
    plain = dataclasses.replace(cfg, dropout=0.0)
    loss0, g0 = loss_and_gradient(split, plain)
    assert loss_and_gradient(split, cfg)[0] == loss0  # no step: the network without dropout
    loss_a, g_a = loss_and_gradient(split, cfg, dropout_step=0)
    loss_b, g_b = loss_and_gradient(split, cfg, dropout_step=1)
    assert loss_a != loss0 and loss_a != loss_b and not np.allclose(g_a, g0)
    res = train_transformer(split, cfg, 3)
    # the record reads the plain network
    assert res.train_loss[0] == pytest.approx(loss0, rel=1e-12 if dtype == "float64" else 1e-6)
    # the first update is AdamW on the gradient with step 0's masks, not on the plain one
    ref = train_transformer(split, plain, 3)
    assert not np.allclose(res.theta_final, ref.theta_final)


def test_dropout_trajectory_does_not_depend_on_the_evaluation_interval():
    """The masks are a function of the step, and the records' extra pass writes nothing the
    update reads: evaluating every step or every 7th gives the same parameters bit for bit."""
    cfg = TransformerConfig(dim=8, width=8, layers=1, dropout=0.1, seed=2)
    split = ModularAddition(11, ordered=True).split(frac=0.8, seed=0)
    a = train_transformer(split, cfg, 30, eval_every=1)
    b = train_transformer(split, cfg, 30, eval_every=7)
    np.testing.assert_array_equal(a.theta_final, b.theta_final)
    np.testing.assert_array_equal(a.train_loss[b.steps], b.train_loss)
    np.testing.assert_array_equal(a.test_acc[b.steps], b.test_acc)


def test_paper_config_carries_its_dropout():
    assert TransformerConfig.paper().dropout == 0.05 and TransformerConfig().dropout == 0.0


def test_random_ring_coherence_is_the_baseline_of_the_networks_own_start():
    """The coherence a ring fit finds in random embeddings: a fixed number for a shape, smaller
    with more symbols (more of them must line up), and what the transformer's initial embeddings
    actually score (their mean over 40 initialisations lies within 4 standard errors of it); an
    exact ring scores 1, far above it."""
    from efftheory.models.transformer.training import random_ring_coherence, ring_track

    p, d = 11, 8
    mean, sd = random_ring_coherence(p, d, draws=200)
    assert (mean, sd) == random_ring_coherence(p, d, draws=200)  # seeded
    assert 0 < sd < mean < 1
    assert random_ring_coherence(31, d, draws=100)[0] < mean < random_ring_coherence(5, d, draws=100)[0]
    starts = []
    for seed in range(40):
        theta, layout = init_params(p, TransformerConfig(dim=d, seed=seed))
        starts.append(layout.unpack(theta)["E"].copy())
    observed = ring_track(np.array(starts))["coherence"]
    assert abs(observed.mean() - mean) < 4 * sd / np.sqrt(observed.size)
    # an exact ring in a plane of zero-mean directions (so that standardising each token keeps it)
    u, v = np.zeros(d), np.zeros(d)
    u[:2], v[2:4] = (1, -1), (1, -1)
    phase = 2 * np.pi * 3 * np.arange(p) / p
    ring = np.cos(phase)[:, None] * u + np.sin(phase)[:, None] * v
    assert ring_track(ring[None])["coherence"][0] == pytest.approx(1) and 1 > mean + 3 * sd


def test_cli_transformer_text_says_which_run_each_step_count_belongs_to(capsys):
    from efftheory.cli import main

    assert main(["train", "--model", "transformer", "--p", "7", "--frac", "0.8", "--dim", "8", "--width", "8",
                 "--steps", "20", "--eval-every", "10"]) == 0
    text = capsys.readouterr().out
    assert "random embeddings of this shape, which hold no ring, fit coherence 0." in text
    assert "mean ± sd of 200 draws: near it means no ring" in text
    assert "run for 20000 steps of its own gradient descent on ℓ_circ" in text
    assert "network after its 20 training steps: |f| = " in text
