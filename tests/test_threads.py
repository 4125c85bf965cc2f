"""The thread policy (efftheory.runtime.threads): one thread for small steps, every allowed core for
large ones, overrides validated; a transformer gradient on two threads is the numpy twin's, as on
one."""

from __future__ import annotations

import os
import threading

import numba
import numpy as np
import pytest

from efftheory.errors import InputError
from efftheory.models.dropout import base_key
from efftheory.models.toy.config import NetworkConfig
from efftheory.models.transformer import layout as tf
from efftheory.models.transformer.config import TransformerConfig
from efftheory.models.transformer.training import loss_and_gradient
from efftheory.reference import transformer as naive
from efftheory.runtime import threads as th
from efftheory.tasks import ModularAddition

two_threads = pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="numba has one thread here")


# ------------------------------------------------------------------ the policy


def test_small_steps_run_on_one_thread_and_large_ones_on_the_allowed_cores():
    toy = NetworkConfig().flops_per_step(10, 55, 45, 19)
    default = TransformerConfig().flops_per_step(423, 23)
    paper = TransformerConfig.paper().flops_per_step(2785, 59)
    assert toy < default < th.PARALLEL_STEP_FLOPS <= paper
    assert th.threads_for(toy, allowed=2) == th.threads_for(default, allowed=2) == 1
    assert th.threads_for(paper, allowed=2) == 2
    assert th.threads_for(paper, allowed=1) == 1
    assert th.threads_for(toy, threads=2) == 2 and th.threads_for(paper, threads=1) == 1  # overrides


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_a_bad_thread_count_is_refused(bad):
    with pytest.raises(InputError, match="threads"):
        th.threads_for(10, threads=bad)


def test_allowed_threads_follow_the_environment_and_the_thread(monkeypatch):
    for name in th.THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    free = th.allowed_threads()
    assert free >= 1
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")  # what a sweep worker starts with
    assert th.allowed_threads() == 1
    monkeypatch.delenv("OPENBLAS_NUM_THREADS")
    seen = []
    worker = threading.Thread(target=lambda: seen.append(th.allowed_threads()))
    worker.start()
    worker.join()
    assert seen == [1]  # a thread pool already runs its tasks side by side


@two_threads
def test_compute_threads_sets_and_restores_numba_threads():
    before = numba.get_num_threads()
    with th.compute_threads(2):
        assert numba.get_num_threads() == 2
        with th.one_blas_thread():
            assert numba.get_num_threads() == 1
        assert numba.get_num_threads() == 2
    assert numba.get_num_threads() == before


def test_the_toy_flop_count_is_the_sum_over_its_products():
    # p = 10, widths 1-200-200-30: forward over 55 samples, two backward products over 45, AdamW
    macs = 1 * 200 + 200 * 200 + 200 * 30
    params = 10 + (200 + 200) + (200 * 200 + 200) + (200 * 30 + 30)
    assert NetworkConfig().flops_per_step(10, 55, 45, 19) == 2 * 55 * macs + 2 * 2 * 45 * macs + 14 * params == 14_050_960


# ------------------------------------------------------------------ two threads against one


@pytest.mark.slow
@two_threads
def test_gradient_on_two_threads_matches_the_numpy_twin():
    split = ModularAddition(23, ordered=True).split(frac=0.8, seed=0)
    config = TransformerConfig(dim=64, width=96, layers=2, dropout=0.1, dtype="float64")
    with th.compute_threads(2):
        loss2, grad2 = loss_and_gradient(split, config, dropout_step=3)
    with th.compute_threads(1):
        loss1, grad1 = loss_and_gradient(split, config, dropout_step=3)
    theta, layout = tf.init_params(split.p, config)
    masks = (config.dropout, naive.step_key(base_key(config.seed), 3))
    y = split.task.labels[split.train]
    want_loss, G = naive.loss_and_grads(layout.unpack(theta), split.train_pairs, y, config.final_ln, masks)
    want = np.zeros_like(grad2)
    P = layout.unpack(want)
    P["E"][...] = G["E"]
    for blk, gb in zip(P["blocks"], G["blocks"]):
        for k in tf.BLOCK_TENSORS:
            blk[k][...] = gb[k]
    for k in ("lnf_g", "lnf_b", "W_out", "b_out"):
        P[k][...] = G[k]
    assert loss2 == pytest.approx(want_loss, rel=1e-12) and loss1 == pytest.approx(want_loss, rel=1e-12)
    np.testing.assert_allclose(grad2, want, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(grad2, grad1, rtol=1e-12, atol=1e-15)  # only BLAS may order its sums differently


# ------------------------------------------------------------------ the command line


@pytest.mark.parametrize("model", ["toy", "transformer"])
@pytest.mark.parametrize("value", ["0", "-1", "1.5", "100000"])
def test_train_refuses_a_bad_thread_count(cli_error, model, value):
    # --threads is one of train's common options: every model offers it
    cli_error("train", model, "--p", "5", "--frac", "0.5", "--threads", value, needles=["--threads", value])


def test_train_takes_a_thread_count(cli_json, monkeypatch):
    from efftheory.models.toy import training

    n = min(2, os.cpu_count() or 1)  # 2 overrides the policy's 1 for this small network
    seen = []
    real = training.compute_threads
    monkeypatch.setattr(training, "compute_threads", lambda k: (seen.append(k), real(k))[1])
    out = cli_json("train", "--p", "5", "--frac", "0.6", "--width", "8", "--steps", "20", "--threads", str(n))
    assert out["n_train"] == 9
    assert seen == [n]  # the run went through the driver and the model to the trainer's thread limit
    assert out["threads"] == n  # and the report says how many it ran on


@pytest.mark.parametrize("model", ["toy", "transformer", "embed-mlp"])
def test_the_report_names_the_threads_the_policy_chose(cli_run, model):
    proc = cli_run("train", model, "--p", "7", "--frac", "0.6", "--steps", "20")
    assert proc.returncode == 0, proc.stderr
    assert "20 steps in" in proc.stdout and "s on 1 thread" in proc.stdout  # a small network: one thread
