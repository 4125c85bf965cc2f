"""``efftheory analyse`` and the theories' readings of a stack of embeddings (docs/analyse.md).

Oracles: exact representations (a line for addition, a ring for addition mod p, the permutation
matrices of S3), brute-force loops for the predicted accuracy, Parseval for the Fourier shares,
and the records efftheory's own networks keep while they train (the toy on addition and on
addition mod p, the matrix toy on S3, the transformer), which ``analyse`` must reproduce.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import efftheory as et
from efftheory.errors import InputError
from efftheory.experiments.analysis import analyse, check_steps, split_from_pairs
from efftheory.tasks import ModularAddition
from efftheory.theories import theory_for
from efftheory.theories.circle.ring import circle_threshold, collapsed, modular_quads
from efftheory.theories.circle.theory import circle_linear_theory
from efftheory.theories.circle.readout import fourier_shares, implied_by_phases
from efftheory.theories.group.readout import matrix_stack
from efftheory.theories.track import read_tokens


def track(E, split, reading="raw"):
    """The task's theory's reading of E on ``split`` (the interface analyse uses)."""
    return theory_for(split.task).track(E, split, reading)
from tests.conftest import ROOT, assert_one_line_error


def ring(p: int, f: int, d: int = 2, phase: float = 0.3) -> np.ndarray:
    """(p, d) an exact ring of frequency f: (cos, sin) of 2π f a / p, the two columns repeated up
    to d, scaled and shifted (per-dimension normalisation keeps it a circle; a plane tilted
    against the axes would become an ellipse, docs/theory.md §13)."""
    a = np.arange(p)
    cols = [np.cos(2 * np.pi * f * a / p + phase), np.sin(2 * np.pi * f * a / p + phase)]
    return np.stack([(k + 1) * cols[k % 2] + k for k in range(d)], axis=1)


def brute_implied(phases, split, kappa=0.3) -> int:
    """Test samples with some training sample of their label, not the same two symbols, whose
    circle residual is within the tolerance: a plain double loop."""
    task, delta = split.task, circle_threshold(split.p, kappa)
    count = 0
    for t in split.test:
        a, b = task.pairs[t]
        for s in split.train:
            c, d = task.pairs[s]
            if task.labels[s] != task.labels[t] or {int(a), int(b)} == {int(c), int(d)} and (a, b) in ((c, d), (d, c)):
                continue
            if 1 - np.cos(phases[a] + phases[b] - phases[c] - phases[d]) < delta:
                count += 1
                break
    return count


# ---------------------------------------------------------------- the readings


def test_a_line_is_the_linear_structure():
    split = et.Addition(10).split(frac=0.6, seed=1)
    E = np.arange(10.0)[:, None] * [[1.0, -2.0]] + [[3.0, 0.5]]
    noise = np.random.default_rng(0).normal(size=(10, 2))
    tr = track(np.stack([noise, E]), split)
    assert tr.metric[1] == 1.0 and tr.metric[0] < 0.2
    test, full = et.predicted_accuracy(E, split)
    assert tr.predicted_test_acc[1] == test and tr.predicted_full_acc[1] == full
    # a line implies every test sample whose sum some training sample has (with other symbols)
    sums = {int(s) for s in split.task.labels[split.train]}
    assert test == np.mean([int(s) in sums for s in split.task.labels[split.test]])
    assert tr.formed_at(np.array([0, 50])) == 50


@pytest.mark.parametrize("p,f,d,ordered", [(11, 3, 2, False), (13, 5, 4, True), (12, 5, 2, True)])
def test_an_exact_ring_scores_one_at_its_frequency(p, f, d, ordered):
    split = ModularAddition(p, ordered=ordered).split(frac=0.5, seed=2)
    tr = track(ring(p, f, d), split)
    assert tr.metric[0] == 1.0
    assert abs(tr.columns["frequency"][0]) == f and tr.columns["coherence"][0] > 0.98
    if d == 2:  # both columns are pure frequency f: all the power is there
        assert tr.columns["top_frequency"][0] == f and tr.columns["top_share"][0] == pytest.approx(1.0)
    phases = 2 * np.pi * f * np.arange(p) / p
    assert tr.predicted_test_acc[0] * split.n_test == brute_implied(phases, split)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_predicted_accuracy_from_phases_matches_a_double_loop(seed):
    split = ModularAddition(9, ordered=bool(seed % 2)).split(frac=0.5, seed=seed)
    theta = np.random.default_rng(seed).uniform(-np.pi, np.pi, size=(1, 9))
    for kappa in (0.3, 2.0):  # a wide tolerance, so that many pairs hold
        got = implied_by_phases(theta, split, kappa)[0]
        want = 0 if collapsed(theta[0]) else brute_implied(theta[0], split, kappa)
        assert got == want


def test_collapsed_phases_predict_nothing():
    split = ModularAddition(7).split(frac=0.5, seed=0)
    assert implied_by_phases(np.zeros((1, 7)), split)[0] == 0


@settings(max_examples=30)
@given(st.integers(3, 16), st.integers(1, 5), st.integers(0, 2**31 - 1))
def test_fourier_shares_sum_to_one_and_are_invariant_to_scale(p, d, seed):
    E = np.random.default_rng(seed).normal(size=(2, p, d))
    shares = fourier_shares(E)
    assert shares.shape == (2, p // 2) and np.allclose(shares.sum(axis=1), 1.0)
    assert np.allclose(fourier_shares(3.0 * E + 1.0), shares)


def test_permutation_matrices_are_the_matrix_structure():
    task = et.make_task("s3")
    split = task.split(frac=0.5, seed=0)
    P = et.permutation_matrices(3)
    tr = track(P, split)
    assert tr.metric[0] == 1.0
    assert tr.columns["homomorphism_error"][0] == pytest.approx(0.0, abs=1e-12)
    assert tr.columns["full_loss"][0] == pytest.approx(0.0, abs=1e-12)
    test, _ = et.matrix_predicted_accuracy(P, split)
    assert tr.predicted_test_acc[0] == test
    flat = track(P.reshape(6, 9), split)  # (p, k²) reads the same
    assert flat.metric[0] == 1.0 and flat.predicted_test_acc[0] == test


@pytest.mark.parametrize("shape", [(6, 3, 3), (4, 6, 3, 3), (6, 9), (4, 6, 4)])
def test_matrix_shapes(shape):
    M = np.ones(shape)
    out = matrix_stack(M, 6)
    assert out.ndim == 4 and out.shape[1] == 6 and out.shape[2] == out.shape[3]


@pytest.mark.parametrize("shape", [(6, 3), (5, 3, 3), (6, 2, 3)])
def test_matrix_shapes_refused(shape):
    with pytest.raises(InputError):
        matrix_stack(np.ones(shape), 6)


def test_layernorm_reading_is_each_tokens_standardised_embedding():
    E = np.random.default_rng(0).normal(size=(3, 7, 5))
    want = (E - E.mean(axis=2, keepdims=True)) / E.std(axis=2, keepdims=True)  # biased, as LayerNorm
    np.testing.assert_allclose(read_tokens(E, "layernorm"), want, rtol=1e-12, atol=1e-12)
    with pytest.raises(InputError, match="record 1, symbol 2"):
        E[1, 2] = 4.0
        read_tokens(E, "layernorm")


@pytest.mark.parametrize("ordered", [False, True])
def test_split_from_pairs_gives_back_the_split(ordered):
    task = ModularAddition(8, ordered=ordered)
    split = task.split(frac=0.4, seed=3)
    again = split_from_pairs(task, split.train_pairs)
    assert np.array_equal(again.train, split.train)
    if not ordered:  # (b, a) is the same unordered sample
        assert np.array_equal(split_from_pairs(task, split.train_pairs[:, ::-1]).train, split.train)
    with pytest.raises(InputError, match=r"\[0, 8\)"):
        split_from_pairs(task, [[0, 8]])


def test_steps_are_checked():
    assert np.array_equal(check_steps(None, 3), [0, 1, 2])
    for bad, needle in (([0, 1], "2 step"), ([0, 2, 2], "increasing"), ([0, 1.5, 3], "whole"), ([-1, 0, 1], ">= 0")):
        with pytest.raises(InputError, match=needle):
            check_steps(bad, 3)


def test_non_finite_and_wrong_p_are_refused():
    split = et.Addition(5).split(frac=0.6, seed=0)
    E = np.zeros((3, 5, 2))
    E[2, 1, 0] = np.nan
    with pytest.raises(InputError, match="record 2"):
        analyse(E, split, critical_trials=0)
    with pytest.raises(InputError, match="6 rows"):
        analyse(np.ones((6, 2)), split, critical_trials=0)


def test_time_scales():
    split = et.Addition(10).split(frac=0.9, seed=0)
    E = np.random.default_rng(0).uniform(-0.5, 0.5, size=(10, 1))
    res = analyse(E, split, lr=1e-2, critical_trials=0)
    lam = et.linear_theory(split).grokking_rate
    assert res.time_scale == pytest.approx(np.sum(E**2) / (2 * 1e-2 * lam))
    msplit = ModularAddition(11).split(frac=0.7, seed=0)
    res = analyse(ring(11, 2), msplit, lr=1e-3, critical_trials=0)
    assert res.time_scale == pytest.approx(1 / (1e-3 * res.theory["rate"]))
    assert res.theory["rate"] == pytest.approx(circle_linear_theory(11, modular_quads(11, msplit.train_pairs)).rate)


# ---------------------------------------------------------------- against efftheory's own records


@pytest.mark.slow
def test_the_toy_on_addition_agrees_with_its_records():
    split = et.Addition(10).split(frac=0.8, seed=3)
    run = et.train_network(split, et.NetworkConfig(seed=0, embed_lr=1e-2), steps=600, eval_every=50)
    res = analyse(run.embeddings, split, run.steps, critical_trials=0)
    assert np.array_equal(res.track.metric, run.rqi)
    assert np.array_equal(res.track.predicted_test_acc, run.predicted_test_acc)
    assert res.formed_at == run.steps_to_rqi


@pytest.mark.slow
def test_the_toy_on_modular_addition_agrees_with_its_ring():
    from efftheory.models.toy.model import MODADD_CONFIG
    from efftheory.experiments.network_ring import network_ring
    import dataclasses

    split = ModularAddition(11).split(frac=0.7, seed=0)
    run = et.train_network(split, dataclasses.replace(MODADD_CONFIG, seed=1), steps=400, eval_every=50)
    read = network_ring(run)
    res = analyse(run.embeddings, split, run.steps, critical_trials=0)
    assert np.allclose(res.track.metric, read.circle_rqi, rtol=0, atol=1e-12)
    assert np.array_equal(np.abs(res.track.columns["frequency"]), np.abs(read.frequency))
    assert np.allclose(res.track.columns["coherence"], read.coherence, atol=1e-12)


def test_the_matrix_toy_agrees_with_its_records():
    task = et.make_task("s3")
    split = task.split(n_train=24, seed=0)
    cfg = et.NetworkConfig(seed=0, embed="matrix", dim=9, embed_l1=1e-3, init_scale=0.05)
    run = et.train_network(split, cfg, steps=300, eval_every=50)
    M = run.embeddings.reshape(-1, 6, 3, 3)
    res = analyse(M, split, run.steps, critical_trials=0)
    assert np.array_equal(res.track.metric, run.rqi)
    assert np.array_equal(res.track.predicted_test_acc, run.predicted_test_acc)


@pytest.mark.slow
def test_the_transformer_agrees_with_its_records():
    from efftheory.models.transformer.config import TransformerConfig
    from efftheory.models.transformer.training import train_transformer

    split = ModularAddition(7, ordered=True).split(frac=0.8, seed=0)
    res = train_transformer(split, TransformerConfig(dim=8, width=16, seed=0), steps=200, eval_every=20)
    ours = analyse(res.raw_embeddings, split, res.steps, reading="layernorm", critical_trials=0)
    # the transformer fits each record's plane alone, analyse all at once (one batched SVD): the
    # circle RQI is the same number, the fit equal to round-off and the frequency up to its sign
    assert np.array_equal(ours.track.metric, res.rqi, equal_nan=True)
    assert np.array_equal(np.abs(ours.track.columns["frequency"]), np.abs(res.ring_frequency))
    assert np.allclose(ours.track.columns["coherence"], res.ring_coherence, rtol=0, atol=1e-12, equal_nan=True)
    assert np.allclose(ours.track.columns["variance_explained"], res.ring_variance, rtol=0, atol=1e-12, equal_nan=True)
    assert ours.formed_at == res.steps_to_rqi


# ---------------------------------------------------------------- the command


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory):
    """A toy run on addition saved by ``efftheory train --save``."""
    from efftheory.cli import main

    path = tmp_path_factory.mktemp("analyse") / "run.npz"
    assert main(["train", "--p", "8", "--frac", "0.8", "--steps", "300", "--eval-every", "50",
                 "--embed-lr", "1e-2", "--save", str(path), "--json"]) == 0
    return path


@pytest.mark.slow
def test_cli_reads_a_saved_run(saved_run, cli_json, capsys):
    z = np.load(saved_run)
    o = cli_json("analyse", saved_run, "--task", "add", "--p", 8, "--train", saved_run, "--critical-trials", 50,
                 "--plot", saved_run.with_suffix(".png"))
    assert o["steps"] == z["steps"].tolist() and o["records"] == z["steps"].size
    assert o["structure"]["metric"] == z["rqi"].tolist()
    assert o["theory"]["critical_trials"] == 50 and o["theory"]["critical_side"] in ("above", "below", "at", None)
    assert saved_run.with_suffix(".png").stat().st_size > 10_000
    from efftheory.cli import main

    assert main(["analyse", str(saved_run), "--task", "add", "--p", "8", "--train", str(saved_run),
                 "--critical-trials", "0"]) == 0
    text = capsys.readouterr().out
    assert "Linear theory of the split" in text and "formed:" in text and "steps 0..300" in text


def test_cli_reads_pairs_from_text_and_a_single_matrix(tmp_path, cli_json):
    split = ModularAddition(11).split(frac=0.6, seed=0)
    np.savetxt(tmp_path / "train.csv", split.train_pairs, fmt="%d", delimiter=",")
    np.save(tmp_path / "E.npy", ring(11, 4))
    o = cli_json("analyse", tmp_path / "E.npy", "--task", "modadd", "--p", 11, "--train", tmp_path / "train.csv",
                 "--critical-trials", 0)
    assert o["n_train"] == split.n_train and o["records"] == 1
    assert o["structure"]["metric"] == [1.0] and o["formed_at"] == 0
    assert o["structure"]["final"]["key_frequencies"][0][0] == 4


@pytest.mark.parametrize("extra,needles", [
    (["--p", "9"], ("8 rows", "p = 9")),
    (["--p", "8", "--array", "nope"], ("--array 'nope'", "embeddings")),
    (["--p", "8", "--steps", "0,1"], ("2 step",)),
    (["--p", "8", "--task", "s3"], ("--p 8",)),
])
def test_cli_errors_are_one_line(saved_run, cli_error, extra, needles):
    cli_error("analyse", saved_run, "--train", saved_run, "--critical-trials", 0, *extra, needles=needles)


def test_cli_refuses_nan_missing_files_and_unknown_types(tmp_path, cli_error):
    E = np.ones((3, 5, 2))
    E[1, 0, 0] = np.inf
    np.save(tmp_path / "bad.npy", E)
    cli_error("analyse", tmp_path / "bad.npy", "--task", "add", "--p", 5, "--frac", 0.5, needles=("record 1",))
    cli_error("analyse", tmp_path / "none.npz", "--task", "add", "--p", 5, "--frac", 0.5, needles=("no such file",))
    (tmp_path / "E.txt").write_text("1 2\n")
    cli_error("analyse", tmp_path / "E.txt", "--task", "add", "--p", 5, "--frac", 0.5, needles=("unknown file type",))
    np.save(tmp_path / "pairs.npy", np.array([[0, 1], [3, 2]]))
    cli_error("analyse", tmp_path / "bad.npy", "--task", "modadd", "--p", 5, "--train", tmp_path / "pairs.npy",
              needles=("a > b", "--ordered"))
    np.save(tmp_path / "tr.npy", np.zeros((3, 3)))
    cli_error("analyse", tmp_path / "bad.npy", "--task", "add", "--p", 5, "--train", tmp_path / "tr.npy",
              needles=("(n, 2)",))


def test_a_checkpoint_without_torch_is_one_line(tmp_path):
    """With torch hidden (a None entry in sys.modules), a .pt file is refused in one line."""
    (tmp_path / "run.pt").write_bytes(b"not read")
    code = ("import sys; sys.modules['torch'] = None; from efftheory.cli import main; "
            f"sys.exit(main(['analyse', {str(tmp_path / 'run.pt')!r}, '--task', 'add', '--p', '5', '--frac', '0.5']))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert_one_line_error(proc, "needs torch", "efftheory[torch]")


def test_import_efftheory_does_not_import_torch():
    code = "import sys, efftheory, efftheory.cli.analyse, efftheory.experiments.analysis; print('torch' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() == "False", proc.stderr
