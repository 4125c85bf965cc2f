"""``efftheory compare`` on a tiny grid, and the comparison helpers against exact cases."""

from __future__ import annotations

import numpy as np
import pytest

from efftheory.experiments.comparison.trajectories import match_rms
from efftheory.experiments.comparison.linear import summarise
from efftheory.theories.linear.dynamics import time_scale
from tests.conftest import grid_run
from efftheory.theories.linear.critical import critical_curve

GRID = ["--p", "5", "--train-nums", "9,13", "--seeds", "0,1", "--steps", "150", "--width", "16",
        "--embed-lr", "1e-2", "--decoder-lr", "1e-3", "--trials", "300"]


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    import contextlib
    import io
    import json

    from efftheory.cli import main

    d = tmp_path_factory.mktemp("compare")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["compare", *GRID, "--jobs", "1", "--plot", str(d / "cmp.png"), "--json"]) == 0
    return json.loads(buf.getvalue()), d


@pytest.mark.slow
def test_json_keys_and_consistency(grid):
    out, d = grid
    for key in ("preset", "settings", "runs", "accuracy_mae", "accuracy_mae_ci", "structure_rate", "structure_ci",
                "p_unique", "network_critical_fraction", "critical_fraction", "time_spearman", "time_spearman_ci",
                "time_loglog_slope", "calibration", "summary", "run_records", "seconds"):
        assert key in out, key
    assert set(out["calibration"]) == {"flow", "adam"}
    assert set(out["calibration"]["flow"]) == {"median", "q25", "q75", "n"}
    runs = out["run_records"]
    assert out["runs"] == len(runs) == 4
    assert [(r["n_train"], r["seed"]) for r in runs] == [(9, 0), (9, 1), (13, 0), (13, 1)]
    real = np.array([r["full_acc"] for r in runs])
    pred = np.array([r["predicted_full_acc"] for r in runs])
    assert out["accuracy_mae"] == pytest.approx(np.mean(np.abs(real - pred)))
    lo, hi = out["accuracy_mae_ci"]
    assert lo <= out["accuracy_mae"] <= hi
    curve = critical_curve(5, 300, 0)
    assert out["p_unique"] == pytest.approx([curve.p_unique[8], curve.p_unique[12]])
    assert out["critical_fraction"] == pytest.approx(curve.r_c)
    assert out["structure_rate"] == [np.mean([r["steps_to_rqi"] is not None for r in runs if r["n_train"] == n])
                                     for n in (9, 13)]
    b = out["summary"]["structure"]
    assert b["reached_ideal"] == [
        np.mean([r["final_test_acc"] >= r["ideal_test_acc"] - 1e-9 for r in runs if r["n_train"] == n]) for n in (9, 13)]
    for r in runs:
        assert (r["tau"] is None) == (r["dof"] > 0)
        # a unique split's exact flow forms the structure within the horizon: a finite prediction
        assert (r["predicted_rqi_flow"] is not None) == (r["dof"] == 0)
    assert (d / "cmp.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_process_pool_gives_the_same_runs(grid):
    from efftheory.cli import main
    import contextlib
    import io
    import json

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["compare", *GRID, "--jobs", "2", "--json"]) == 0
    pooled = json.loads(buf.getvalue())["run_records"]
    serial = grid[0]["run_records"]
    for a, b in zip(pooled, serial):
        for key in ("full_acc", "predicted_full_acc", "steps_to_rqi", "steps_to_test", "rms_rk4", "rms_adam",
                    "predicted_rqi_flow", "predicted_rqi_adam"):
            assert a[key] == b[key], key


# ------------------------------------------------------------------ helpers against exact cases


def _toy_trajectory(times, p=6):
    """A smooth (T, p, 1) trajectory relaxing from a random start to a linear structure."""
    rng = np.random.default_rng(0)
    start, end = rng.standard_normal(p), np.linspace(-1.5, 1.5, p)
    w = (1 - np.exp(-np.asarray(times) / 300.0))[:, None]
    return ((1 - w) * start + w * end)[:, :, None]


def test_match_rms_recovers_a_time_rescaling_and_a_mirror():
    net_steps = np.arange(0, 2001)
    theory_times = np.unique(np.r_[0, np.round(np.geomspace(1, 200_000, 4000))]).astype(float)
    net = _toy_trajectory(net_steps)
    scale, rms, _, unscaled = match_rms(net_steps, net, theory_times, _toy_trajectory(theory_times / 4.0),
                                        np.geomspace(0.25, 16, 13))
    assert scale == pytest.approx(4.0) and rms < 1e-3 < unscaled
    scale, rms, flips, _ = match_rms(net_steps, net, theory_times, -_toy_trajectory(theory_times), [1.0])
    assert rms < 1e-5 and flips.all()  # linear interpolation between saved theory times


def test_summarise_counts_rank_correlation_and_intervals():
    runs = [grid_run(n_train=4, seed=s, dof=0, tau=10.0 * (s + 1), steps_to_rqi=100 * (s + 1),
                     predicted_rqi_flow=50.0 * (s + 1), predicted_rqi_adam=200.0) for s in range(3)]
    runs += [grid_run(n_train=8, seed=0, dof=2, generalised=True),
             grid_run(n_train=8, seed=1, dof=0, tau=5.0),
             grid_run(n_train=8, seed=2, dof=0, diverged=True, full_acc=0.0)]  # left out of everything
    p_unique = np.linspace(0, 1, 10)
    out = summarise(runs, p_unique, critical_fraction=0.4)
    assert out.runs == 6 and out.diverged == 1
    c = out.timing
    assert c.spearman == pytest.approx(1.0) and c.runs_used == 3
    assert c.loglog_slope == pytest.approx(1.0)  # steps = 10 tau exactly
    assert (c.never_dof0, c.runs_dof0, c.never_dof_pos, c.runs_dof_pos) == (1, 4, 1, 1)
    b = out.structure
    assert b.n == [4, 8] and b.structure_rate == [1.0, 0.0] and b.generalised == [0.0, 0.5]
    assert b.p_unique == [p_unique[3], p_unique[7]] and b.unique == [1.0, 0.5]
    assert b.largest_gap == pytest.approx(max(abs(1 - p_unique[3]), p_unique[7]))
    assert b.network_critical_fraction == pytest.approx(4 / 10)  # at or above 1/2 from the first size on
    rising = [grid_run(n_train=4, seed=s) for s in range(2)] + [grid_run(n_train=8, seed=s, steps_to_rqi=10)
                                                                for s in range(2)]
    assert summarise(rising, p_unique).structure.network_critical_fraction == pytest.approx(6 / 10)
    lo, hi = b.ci[0]
    assert 0.0 < lo < 1.0 == hi  # Wilson interval of 3 out of 3
    assert out.accuracy.mean_abs_diff == 0.0 and out.accuracy.equal_fraction == 1.0
    assert out.accuracy.correlation is None
    flow = out.calibration["flow"]
    assert (flow.median, flow.n) == (2.0, 3) and out.calibration["adam"].median == pytest.approx(1.0)


def test_time_scale():
    assert time_scale(0.5, 9.0, 1e-3) == pytest.approx(9 / (2 * 1e-3 * 0.5))
    assert np.allclose(time_scale(0.5, np.array([9.0, 1.0]), 1e-3), [9000.0, 1000.0])
    assert time_scale(0.0, 9.0, 1e-3) is None and time_scale(None, 9.0, 1e-3) is None
