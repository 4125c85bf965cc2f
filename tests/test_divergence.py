"""Runs whose numbers blow up stop and say so: networks get phase "diverged", integrators flag
the members that diverged, and nothing downstream averages over NaNs as if they were results."""

import numpy as np
import pytest

from efftheory.theories.linear.dynamics import evolve
from efftheory.models.toy.config import NetworkConfig
from efftheory.models.toy.training import train_network
from efftheory.phases import PHASES, phase_of
from efftheory.theories.linear.simulation import simulate
from efftheory.tasks import Addition
from efftheory.theories.linear.theory import linear_theory


def test_phase_rule_has_diverged_first():
    assert "diverged" in PHASES
    assert phase_of(10, 20, diverged=True) == "diverged"
    assert phase_of(None, None, diverged=False) == "confusion"


def test_network_with_a_huge_learning_rate_stops_as_diverged():
    split = Addition(10).split(n_train=45, seed=3)
    run = train_network(split, NetworkConfig(embed_lr=1e30, seed=0), steps=300)
    assert run.diverged and run.phase == "diverged"
    assert run.steps_run < 300  # stopped at once, not run to the budget
    # stopped when a parameter passed sqrt(float32 max) = 1.8e19, where its square overflows
    assert not np.isfinite(run.train_loss[-1]) or np.max(np.abs(run.E_final)) > 1.8e19
    assert np.all(np.isfinite(run.train_loss[:-1]))  # finite until the recorded step


@pytest.mark.jit_heavy
def test_a_sane_network_does_not_diverge():
    split = Addition(10).split(n_train=45, seed=3)
    run = train_network(split, NetworkConfig(seed=0), steps=50)
    assert not run.diverged and run.phase != "diverged" and run.steps_run == 50


@pytest.mark.parametrize("method", ["euler", "adam"])
def test_integrators_at_a_huge_step_flag_the_diverged_members_and_stop_them(method):
    """Euler grows Z by (η dt)² |∇ℓ|² per step and Adam moves by about lr per step: at lr 1e200
    Z overflows within a step. Members with tiny embeddings do not overflow."""
    th = linear_theory(Addition(10).split(frac=0.8, seed=0))
    E0 = np.random.default_rng(0).uniform(-0.5, 0.5, (3, 10, 1))
    times = np.array([0.0, 1.0, 10.0, 100.0])
    traj = evolve(th.H_hat, E0, times, lr=1e200, method=method, dt=None if method == "adam" else 1.0)
    assert traj.diverged.all()
    for b in range(3):
        first_bad = int(np.argmax(~np.isfinite(traj.loss[:, b])))
        assert first_bad >= 1 and np.all(np.isfinite(traj.loss[:first_bad, b]))
        assert np.all(np.isnan(traj.E[first_bad + 1 :, b]))  # nothing computed after it
    assert np.isnan(traj.z_drift)
    sane = evolve(th.H_hat, E0, times, lr=1e-3, method=method, dt=None if method == "adam" else 1.0)
    assert not sane.diverged.any() and np.isfinite(sane.z_drift)  # Adam does not conserve Z


def test_simulate_reports_diverged_trials():
    th = linear_theory(Addition(10).split(frac=0.8, seed=0))
    sim = simulate(th, trials=2, lr=1e200, method="adam", steps=50)
    assert sim.diverged.all() and np.isnan(sim.max_deviation_from_exact)
    ok = simulate(th, trials=2, method="rk4")
    assert not ok.diverged.any() and np.isfinite(ok.max_deviation_from_exact)


def test_train_cli_reports_divergence_and_compares_nothing(cli_json, capsys):
    from efftheory.cli import main

    out = cli_json("train", "--p", "10", "--frac", "0.8", "--embed-lr", "1e30", "--steps", "300")
    assert out["diverged"] is True and out["phase"] == "diverged" and out["steps"] < 300
    assert out["trajectory_rms_flow"] is None and out["theory_steps_to_rqi_adam"] is None
    assert main(["train", "--p", "10", "--frac", "0.8", "--embed-lr", "1e30", "--steps", "300"]) == 0
    text = capsys.readouterr().out
    assert "DIVERGED at step" in text and "rms" not in text
