"""Looking does not change the system: the toy network's trajectory is bitwise independent of
which steps are evaluated or recorded, its crossings are exact at every step whatever the record
stride, and the sweep's cheap cell path gives the plain loop's records on a grid with all four
phases."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import numpy as np
import pytest

import efftheory.models.toy.training as net
from efftheory.models.shared_kernels import divergence_limit, representable
from efftheory.models.toy.config import NetworkConfig
from efftheory.models.toy.training import train_network
from efftheory.phases import ACC_THRESHOLD, phase_of
from efftheory.theories.linear.metrics import RQI_THRESHOLD
from efftheory.stats import first_at_or_above, step_or_none
from efftheory.runtime.store import MANIFEST
from efftheory.models.toy.cell import NETWORK_KERNEL, network_cell
from efftheory.experiments.sweep.grid import Axis, Grid
from efftheory.experiments.sweep.settings import SweepSettings
from efftheory.experiments.sweep.engine import manifest_for, run_sweep
from efftheory.tasks import Addition
from tests.conftest import ROOT


def _run_with_theta(monkeypatch, split, cfg, steps, **kw):
    """train_network plus its final flat parameters and AdamW moments (caught from the kernel's arguments)."""
    seen = {}
    kernel = net._train_chunk

    def spy(*args):
        seen["state"] = args[:3]  # theta, m, v: updated in place by the kernel
        return kernel(*args)

    monkeypatch.setattr(net, "_train_chunk", spy)
    result = train_network(split, cfg, steps, **kw)
    monkeypatch.setattr(net, "_train_chunk", kernel)
    return result, tuple(a.copy() for a in seen["state"])


SPLIT5 = Addition(5).split(n_train=12, seed=2)
CFG5 = NetworkConfig(width=40, seed=1, embed_lr=1e-2, decoder_lr=1e-3)  # float32, reaches test 0.9 early


def test_trajectory_is_bitwise_independent_of_the_evaluation_schedule(monkeypatch):
    plain, state = _run_with_theta(monkeypatch, SPLIT5, CFG5, 400, eval_every=1)
    assert plain.steps_to_test is not None and plain.steps_to_train is not None
    for k in (2, 7, 50, 400):
        thin, thin_state = _run_with_theta(monkeypatch, SPLIT5, CFG5, 400, eval_every=k)
        np.testing.assert_array_equal(thin.steps, np.r_[np.arange(0, 400, k), 400])
        for a, b in zip(state, thin_state):  # theta, m, v after 400 updates
            np.testing.assert_array_equal(a, b)
        for name in ("train_loss", "test_loss", "train_acc", "test_acc", "rqi", "predicted_test_acc", "embeddings"):
            np.testing.assert_array_equal(getattr(thin, name), getattr(plain, name)[thin.steps], err_msg=name)
        assert (thin.steps_to_train, thin.steps_to_test, thin.steps_to_rqi) == (
            plain.steps_to_train, plain.steps_to_test, plain.steps_to_rqi)


def _stop_step(plain) -> int | None:
    """Where early stopping ends the plain run: the first step with both accuracies >= 0.9."""
    both = np.flatnonzero((plain.train_acc >= ACC_THRESHOLD) & (plain.test_acc >= ACC_THRESHOLD))
    return int(plain.steps[both[0]]) if both.size else None


def test_early_stop_ends_on_the_plain_trajectory(monkeypatch):
    plain = train_network(SPLIT5, CFG5, 400)
    t_stop = _stop_step(plain)
    assert t_stop is not None and t_stop >= max(plain.steps_to_train, plain.steps_to_test)
    reference, ref_state = _run_with_theta(monkeypatch, SPLIT5, CFG5, t_stop)  # the plain loop cut at t_stop
    for k in (1, 3, 400):
        stopped, state = _run_with_theta(monkeypatch, SPLIT5, CFG5, 400, eval_every=k, stop_at_test=True)
        assert stopped.steps_run == t_stop == stopped.steps[-1]
        for a, b in zip(ref_state, state):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(stopped.E_final, reference.E_final)
        assert stopped.test_acc[-1] == plain.test_acc[t_stop] and stopped.train_acc[-1] == plain.train_acc[t_stop]
        assert stopped.phase == plain.phase


def test_crossings_are_exact_whatever_the_record_stride():
    split = Addition(6).split(n_train=15, seed=0)
    cfg = NetworkConfig(width=30, seed=3, embed_lr=1e-2, decoder_lr=3e-3)
    plain = train_network(split, cfg, 600)
    # the plain loop's records give the first steps directly
    expected = tuple(step_or_none(first_at_or_above(plain.steps, series, level)) for series, level in (
        (plain.train_acc, ACC_THRESHOLD), (plain.test_acc, ACC_THRESHOLD), (plain.rqi, RQI_THRESHOLD)))
    assert (plain.steps_to_train, plain.steps_to_test, plain.steps_to_rqi) == expected
    k = 97
    assert any(t is not None and t % k for t in expected)  # a crossing between two records: the check has teeth
    thin = train_network(split, cfg, 600, eval_every=k)
    assert (thin.steps_to_train, thin.steps_to_test, thin.steps_to_rqi) == expected
    assert thin.phase == plain.phase


# a reduced Fig 5b (decoder lr x decoder wd) at width 40, embedding lr 1e-2, 1500 steps, gap 200:
# with network seed 0 on split seed 3 its cells cover all four phases (found by a scan of such settings)
GRID4 = Grid(Axis.parse("decoder_lr", "1e-4:1e-2:3:log"), Axis.parse("decoder_wd", "0:1:2"))
FIXED4 = SweepSettings(steps=1500, seed=3, seeds=(0,), gap=200, network={"width": 40, "embed_lr": 1e-2})


def test_cheap_cell_path_gives_the_plain_loops_records(tmp_path):
    sweep = run_sweep(GRID4, FIXED4, tmp_path / "s", cell_fn=network_cell)
    split = Addition(10).split(n_train=45, seed=3)
    phases = set()
    for rec in sweep.records:
        cfg = NetworkConfig(width=40, embed_lr=1e-2, seed=rec["seed"], **rec["settings"])
        plain = train_network(split, cfg, FIXED4.steps, eval_every=1, gap=FIXED4.gap)  # no early stop
        t_train, t_test = plain.steps_to_train, plain.steps_to_test
        stop = _stop_step(plain) or FIXED4.steps
        assert rec["steps_run"] == stop
        assert (rec["t_train"], rec["t_test"]) == (t_train, t_test)
        assert rec["t_rqi"] == (plain.steps_to_rqi if plain.steps_to_rqi is not None and plain.steps_to_rqi <= stop
                                else None)
        assert rec["phase"] == plain.phase == phase_of(t_train, t_test, FIXED4.gap)
        assert rec["final_train_acc"] == plain.train_acc[stop]
        assert rec["final_test_acc"] == plain.test_acc[stop]
        assert rec["final_rqi"] == plain.rqi[stop]
        phases.add(rec["phase"])
    assert phases == {"comprehension", "grokking", "memorization", "confusion"}


def test_stores_of_the_first_kernel_are_refused_where_it_differed(tmp_path):
    from efftheory.errors import InputError

    tiny = Grid(Axis.parse("decoder_lr", "1e-3:1e-3:1"), Axis.parse("decoder_wd", "0:0:1"))
    every = SweepSettings(steps=5, network={"width": 8})
    sparse = SweepSettings(steps=5, eval_every=2, network={"width": 8})
    assert "kernel" not in manifest_for(tiny, every, network_cell)  # version 1 did the same at eval_every 1
    assert manifest_for(tiny, sparse, network_cell)["kernel"] == NETWORK_KERNEL
    run_sweep(tiny, sparse, tmp_path, cell_fn=network_cell)
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    assert manifest["sweep"].pop("kernel") == NETWORK_KERNEL
    (tmp_path / MANIFEST).write_text(json.dumps(manifest, indent=1))  # as version 1 wrote it
    with pytest.raises(InputError, match="different sweep.*kernel"):
        run_sweep(tiny, sparse, tmp_path, cell_fn=network_cell)


# two records of figures/sweeps/fig5b_1e5_5seeds, written by the first kernel (Fig 5b at 1e5
# steps, split seed 3, network seed 4, eval_every 1, early stop): the current kernel must give
# them bit for bit, or that store would resume records of another trajectory. They were computed
# where OpenBLAS ran its Haswell (AVX2) matrix kernel; its SkylakeX (AVX-512) kernel sums in
# another order and gives t_train 1389 for the second (docs/theory.md §10), so the runs are
# repeated in a fresh interpreter with that kernel chosen (OPENBLAS_CORETYPE is read at load).
OLD_RECORDS = [
    ({"decoder_lr": 0.0001, "decoder_wd": 0.0},
     dict(t_train=1353, t_test=1725, t_rqi=646, steps_run=1725, final_train_acc=0.9333333333333333,
          final_test_acc=0.9, final_rqi=1.0, phase="comprehension")),
    ({"decoder_lr": 0.00021544346900318823, "decoder_wd": 0.0},
     dict(t_train=1388, t_test=1042, t_rqi=None, steps_run=1388, final_train_acc=0.9111111111111111,
          final_test_acc=0.9, final_rqi=0.6571428571428571, phase="comprehension")),
]


_REPEAT = """
import json, sys
from efftheory.experiments.sweep.settings import SweepSettings
from efftheory.models.toy.cell import network_cell
fixed = SweepSettings(steps=100_000, seed=3, seeds=(0, 1, 2, 3, 4), network={"loss": "mse"}).run_fixed(4)
print(json.dumps([network_cell(settings, fixed) for settings in json.loads(sys.argv[1])]))
"""


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="OpenBLAS's Haswell kernel is x86-64's")
def test_records_of_the_first_kernel_are_reproduced():
    env = {**os.environ, "OPENBLAS_CORETYPE": "Haswell", "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run([sys.executable, "-c", _REPEAT, json.dumps([s for s, _ in OLD_RECORDS])],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [expected for _, expected in OLD_RECORDS]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_divergence_test_in_the_parameters_dtype_is_exact(dtype):
    dt = np.dtype(dtype)
    limit = divergence_limit(dt)
    below = net._below_in(dt, limit)
    assert below.dtype == dt and float(below) <= limit < float(np.nextafter(below, dt.type(np.inf)))
    x = np.zeros(37, dt)
    for value, ok in ((below, True), (-below, True), (np.nextafter(below, dt.type(np.inf)), False),
                      (np.nan, False), (np.inf, False), (-np.inf, False)):
        x[-1] = value  # the last element: a test that stopped early would still see it
        assert representable(x, below) is ok == (abs(float(x[-1])) <= limit)
