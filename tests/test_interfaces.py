"""The three interfaces of issue 26: the task registry, the theory of a task, the model registry.

Each registry is checked against the functions it wraps (same numbers, to the bit where the
computation is the same), on exact structures (a linear representation, a ring, the group's own
matrices score 1), and for what a new entry needs: one registration, no change elsewhere.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest

from efftheory.errors import InputError
from efftheory.models import MODELS, Model, TrainResult, model_named
from efftheory.tasks import TASKS, Addition, ModularAddition, Task, make_task, permutation_matrices, register_task
from efftheory.tasks import registry as task_registry
from efftheory.theories import THEORIES, Structure, theory_for
from efftheory.theories.circle.simulation import simulate_ring
from efftheory.theories.group.simulation import simulate_group
from efftheory.theories.linear.metrics import predicted_accuracy, rqi
from efftheory.theories.linear.simulation import simulate
from efftheory.theories.linear.theory import linear_theory, reachable_test_accuracy


# ---------------------------------------------------------------- tasks


def test_the_built_in_tasks_are_registered_in_order():
    assert list(TASKS)[:3] == ["add", "modadd", "s3"]
    assert TASKS["s3"].fixed_p == 6 and TASKS["add"].fixed_p is None
    assert make_task("add", 5) == Addition(5)
    assert make_task("modadd", 7, ordered=True) == ModularAddition(7, ordered=True)
    assert make_task("s3").p == 6 and make_task("s3", 6).ordered


@pytest.mark.parametrize("args, needle", [(("mul", 5), "task must be one of add, modadd, s3"),
                                          (("add", None), "the task add needs p"),
                                          (("s3", 5), "the task s3 has 6 symbols, got p=5")])
def test_make_task_refuses_what_it_cannot_build(args, needle):
    with pytest.raises(InputError, match=needle):
        make_task(*args)


@dataclass(frozen=True)
class _Subtraction(Task):
    """(a - b) mod p on ordered pairs: a task the package does not have, defined here."""

    name: ClassVar[str] = "sub"
    structural_nullity: ClassVar[int] = 1
    theory: ClassVar[str] = "circle"
    p: int
    ordered: bool = True

    def _result(self, a, b):
        return (a - b) % self.p

    @property
    def n_classes(self) -> int:
        return self.p

    def structural_null_vectors(self) -> np.ndarray:
        return np.ones((self.p, 1))


def test_a_new_task_is_one_registration(monkeypatch):
    monkeypatch.setattr(task_registry, "TASKS", dict(TASKS))  # leave the real registry as it was
    register_task("sub", lambda p, ordered: _Subtraction(p), "subtraction mod p")
    task = task_registry.make_task("sub", 5)
    assert task.n_samples == 25 and task.labels[task.pairs.tolist().index([1, 3])] == 3  # 1 - 3 = -2 = 3 mod 5
    assert theory_for(task) is THEORIES["circle"]
    with pytest.raises(InputError, match="already registered"):
        register_task("sub", lambda p, ordered: _Subtraction(p), "again")


# ---------------------------------------------------------------- theories


def test_every_task_has_its_theory():
    assert [theory_for(make_task(n, p)).name for n, p in (("add", 5), ("modadd", 5), ("s3", None))] == [
        "linear", "circle", "group"]
    with pytest.raises(InputError, match="no theory"):
        theory_for(object())


@pytest.mark.parametrize("name, p", [("add", 9), ("modadd", 9)])
def test_structure_is_the_linear_theory_of_the_split(name, p):
    split = make_task(name, p).split(frac=0.6, seed=2)
    s, th = theory_for(split.task).structure(split), linear_theory(split)
    assert (s.n_constraints, s.dof, s.rate, s.ideal_test_accuracy, s.unique) == (
        th.n_parallelograms, th.dof, th.grokking_rate, th.ideal_test_accuracy, th.unique)
    assert json.loads(json.dumps(s.to_json())) == dataclasses.asdict(s)


def test_group_structure_counts_equal_product_pairs():
    split = make_task("s3").split(n_train=24, seed=0)
    s = theory_for(split.task).structure(split)
    # count them by brute force: distinct training samples with equal products, unordered pairs
    labels = split.task.labels[split.train]
    brute = sum(int(labels[i] == labels[j]) for i in range(labels.size) for j in range(i + 1, labels.size))
    assert isinstance(s, Structure) and s.theory == "group" and s.dof is None and s.rate is None
    assert s.n_constraints == brute
    assert s.ideal_test_accuracy == reachable_test_accuracy(split)


def test_exact_structures_score_one():
    add = make_task("add", 8).split(frac=0.7, seed=1)
    E = np.arange(8.0)[:, None] * np.array([[1.0, -2.0]])  # a linear representation in d = 2
    score = theory_for(add.task).score(E, add)
    # every parallelogram holds, so a test sample is implied iff some training sample has its sum
    seen = set(add.task.labels[add.train].tolist())
    share = np.mean([label in seen for label in add.task.labels[add.test]])
    assert score.metric == "RQI" and float(score.value) == 1.0 and float(score.predicted_test_accuracy) == share

    ring = make_task("modadd", 11).split(frac=0.7, seed=1)
    angle = 2 * np.pi * 3 * np.arange(11) / 11
    E = np.stack([np.cos(angle), np.sin(angle)], axis=1)
    score = theory_for(ring.task).score(np.stack([E, np.zeros_like(E) + np.arange(2.0)]), ring)
    assert score.metric == "circle RQI" and score.value.shape == (2,)
    assert score.value[0] == 1.0 and np.isnan(score.value[1])  # a constant embedding has no plane
    # on an exact ring every parallelogram holds: a test sample is implied iff its label has a training sample
    seen = set(ring.task.labels[ring.train].tolist())
    assert score.predicted_test_accuracy[0] == np.mean([label in seen for label in ring.task.labels[ring.test]])
    assert np.isnan(score.predicted_test_accuracy[1])

    s3 = make_task("s3").split(n_train=30, seed=0)
    P = permutation_matrices(3)
    for M in (P, P.reshape(6, 9)):  # (p, k, k) or the toy's flattened (p, k²)
        score = theory_for(s3.task).score(M, s3)
        assert score.metric == "matrix RQI" and float(score.value) == 1.0


def test_linear_score_is_rqi_and_predicted_accuracy():
    split = make_task("add", 7).split(frac=0.6, seed=0)
    E = np.random.default_rng(0).normal(size=(3, 7, 1))
    score = theory_for(split.task).score(E, split)
    np.testing.assert_array_equal(score.value, rqi(E, task=split.task))
    np.testing.assert_array_equal(score.predicted_test_accuracy, predicted_accuracy(E, split)[0])


def test_simulate_is_each_theorys_own_flow():
    add = make_task("add", 7).split(frac=0.7, seed=0)
    a = theory_for(add.task).simulate(add, trials=2, seed=1, steps=200, n_times=20)
    b = simulate(linear_theory(add), trials=2, seed=1, steps=200, n_times=20)
    np.testing.assert_array_equal(a.trajectory.E, b.trajectory.E)

    ring = make_task("modadd", 7).split(frac=0.8, seed=0)
    a = theory_for(ring.task).simulate(ring, trials=2, seed=1, steps=100, n_times=10)
    b = simulate_ring(ring, trials=2, seed=1, steps=100, n_times=10)
    np.testing.assert_array_equal(a.trajectory.theta, b.trajectory.theta)

    s3 = make_task("s3").split(frac=0.7, seed=0)
    a = theory_for(s3.task).simulate(s3, trials=2, seed=1, steps=30, n_times=5)
    b = simulate_group(s3, trials=2, seed=1, max_steps=30, n_record=5)
    np.testing.assert_array_equal(a.flow.M, b.flow.M)


def test_critical_is_the_rank_criterion():
    from efftheory.theories.linear.critical import critical_curve

    task = make_task("modadd", 7)
    a, b = theory_for(task).critical(task, 50, seed=3), critical_curve(task, 50, 3)
    np.testing.assert_array_equal(a.n_star, b.n_star)


# ---------------------------------------------------------------- models


def test_the_built_in_models_are_registered():
    assert list(MODELS)[:2] == ["toy", "transformer"]
    assert all(isinstance(m, Model) for m in MODELS.values())
    assert MODELS["toy"].default_task == "add" and MODELS["transformer"].tasks == ("modadd",)
    assert MODELS["toy"].cell.stored_name == "efftheory.sweep:network_cell"
    assert MODELS["transformer"].cell.stored_name == "efftheory.sweep:transformer_cell"
    with pytest.raises(InputError, match="model must be one of toy, transformer"):
        model_named("mlp")


def test_model_tasks_and_configs():
    tr = MODELS["transformer"]
    assert tr.make_task("modadd", 5) == ModularAddition(5, ordered=True)
    with pytest.raises(InputError, match="trains on modadd, not 'add'"):
        tr.make_task("add", 5)
    toy = MODELS["toy"]
    assert toy.config("modadd", seed=4, width=None, dim=3).dim == 3
    assert toy.config("modadd", seed=4).loss == "ce" and toy.config("add").loss == "mse"
    names = {f.name for f in dataclasses.fields(tr.config_type)}
    assert {o.name for m in MODELS.values() for o in m.options if m is tr} <= names


def test_every_model_returns_the_same_result_type():
    runs = {}
    for name, p in (("toy", 6), ("transformer", 5)):
        model = MODELS[name]
        split = model.make_task(model.default_task, p).split(frac=0.8, seed=0)
        config = model.config(model.default_task, seed=1, width=8, dim=4 if name == "transformer" else None)
        runs[name] = model.train(split, config, 12, eval_every=4)
    for run in runs.values():
        assert isinstance(run, TrainResult)
        assert run.steps.tolist() == [0, 4, 8, 12] and run.embeddings.shape[0] == 4
        assert run.phase in ("comprehension", "grokking", "memorization", "confusion", "diverged")
        assert set(run.cell_record()) >= {"t_train", "t_test", "t_rqi", "steps_run", "phase"}


def test_the_toy_model_is_train_network():
    from efftheory.models.toy.config import NetworkConfig
    from efftheory.models.toy.training import train_network

    split = Addition(6).split(frac=0.8, seed=0)
    config = NetworkConfig(width=16, seed=2)
    a = MODELS["toy"].train(split, config, 40, eval_every=5)
    b = train_network(split, config, 40, eval_every=5)
    np.testing.assert_array_equal(a.embeddings, b.embeddings)
    assert (a.steps_to_train, a.phase) == (b.steps_to_train, b.phase)


# ---------------------------------------------------------------- the command line, written once


def test_train_reads_any_task_through_its_theory(cli_json):
    """``train --task s3`` has no report of its own: the generic one gives the group theory's
    structure and its metric of the final embeddings (the toy's matrix model on S3)."""
    o = cli_json("train", "--task", "s3", "--frac", 0.7, "--steps", 30, "--width", 8)
    assert o["model"] == "toy" and o["theory"]["theory"] == "group" and o["metric"] == "matrix RQI"
    assert o["config"]["embed"] == "matrix" and o["config"]["dim"] == 9  # the toy's S3 defaults
    split = make_task("s3").split(frac=0.7, seed=0)
    assert o["theory"] == theory_for(split.task).structure(split).to_json()


def test_a_new_model_trains_from_the_command_line_unchanged(cli_json, monkeypatch):
    """A model registered under a new name is offered by ``train`` and reported by the generic
    pieces, with no change to the command line."""
    class Tiny(type(MODELS["toy"])):
        name = "tiny"
        summary = "the toy under another name"
        tasks = ("add",)

    monkeypatch.setitem(MODELS, "tiny", Tiny())
    o = cli_json("train", "tiny", "--p", 5, "--frac", 0.8, "--steps", 20, "--width", 8)
    assert o["model"] == "tiny" and o["theory"]["theory"] == "linear" and o["steps"] == 20
    split = Addition(5).split(frac=0.8, seed=0)
    assert o["theory"] == theory_for(split.task).structure(split).to_json()


def test_train_says_whose_option_it_is(cli_error):
    cli_error("train", "--p", 7, "--frac", 0.5, "--layers", 2, needles=("--layers is an option of --model transformer",))
    cli_error("train", "transformer", "--p", 7, "--frac", 0.5, "--loss", "ce", needles=("--loss is an option of --model toy",))
    cli_error("train", "transformer", "--p", 7, "--frac", 0.5, "--task", "add",
              needles=("--model transformer trains on --task modadd",))
