"""``efftheory compare`` on a tiny grid, and the comparison helpers against exact cases."""

from __future__ import annotations

import numpy as np
import pytest

from efftheory.comparison import match_rms, summarise, theory_time_scale
from efftheory.critical import critical_curve

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


def test_json_keys_and_consistency(grid):
    out, d = grid
    for key in ("accuracy", "generalisation", "time_to_structure", "trajectory", "runs", "seconds",
                "accuracy_mean_abs_diff", "time_to_structure_spearman", "trajectory_rms_flow", "trajectory_rms_adam"):
        assert key in out
    runs = out["runs"]
    assert [(r["n_train"], r["seed"]) for r in runs] == [(9, 0), (9, 1), (13, 0), (13, 1)]
    real = np.array([r["full_acc"] for r in runs])
    pred = np.array([r["predicted_full_acc"] for r in runs])
    assert out["accuracy_mean_abs_diff"] == pytest.approx(np.mean(np.abs(real - pred)))
    curve = critical_curve(5, 300, 0)
    assert out["generalisation"]["p_unique"] == pytest.approx([curve.p_unique[8], curve.p_unique[12]])
    assert out["generalisation"]["fraction"] == [np.mean([r["generalised"] for r in runs if r["n_train"] == n])
                                                 for n in (9, 13)]
    assert out["generalisation"]["fraction_reaching_ideal"] == [
        np.mean([r["final_test_acc"] >= r["ideal_test_acc"] - 1e-9 for r in runs if r["n_train"] == n]) for n in (9, 13)]
    for r in runs:
        assert (r["tau"] is None) == (r["dof"] > 0)
        assert r["rms_rk4"] >= 0 and r["rms_adam"] >= 0
    assert (d / "cmp.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_process_pool_gives_the_same_runs(grid):
    from efftheory.cli import main
    import contextlib
    import io
    import json

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["compare", *GRID, "--jobs", "2", "--json"]) == 0
    pooled = json.loads(buf.getvalue())["runs"]
    serial = grid[0]["runs"]
    for a, b in zip(pooled, serial):
        for key in ("full_acc", "predicted_full_acc", "steps_to_rqi", "steps_to_test", "rms_rk4", "rms_adam"):
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


def test_summarise_counts_and_rank_correlation():
    base = dict(full_acc=0.5, predicted_full_acc=0.5, generalised=False)
    runs = [dict(base, n_train=4, seed=s, dof=0, tau=10.0 * (s + 1), steps_to_rqi=100 * (s + 1)) for s in range(3)]
    runs += [dict(base, n_train=8, seed=0, dof=2, tau=None, steps_to_rqi=None, generalised=True),
             dict(base, n_train=8, seed=1, dof=0, tau=5.0, steps_to_rqi=None)]
    p_unique = np.linspace(0, 1, 10)
    out = summarise(runs, p_unique)
    c = out["time_to_structure"]
    assert c["spearman"] == pytest.approx(1.0) and c["runs_used"] == 3
    assert (c["never_dof0"], c["runs_dof0"], c["never_dof_pos"], c["runs_dof_pos"]) == (1, 4, 1, 1)
    assert out["generalisation"]["fraction"] == [0.0, 0.5]
    assert out["generalisation"]["p_unique"] == [p_unique[3], p_unique[7]]
    assert out["accuracy"]["mean_abs_diff"] == 0.0 and out["accuracy"]["correlation"] is None


def test_theory_time_scale():
    E0 = np.array([[1.0], [2.0], [-2.0]])  # Z0 = 9
    assert theory_time_scale(0.5, E0, 1e-3) == pytest.approx(9 / (2 * 1e-3 * 0.5))
    assert theory_time_scale(0.0, E0, 1e-3) is None and theory_time_scale(None, E0, 1e-3) is None
