"""``efftheory simulate``: JSON contract, consistency with the theory, files, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from efftheory.tasks import Addition
from efftheory.theories.linear.theory import linear_theory
from tests.conftest import MISSING_DIR, assert_one_line_error, run_cli

FAST = ("--critical-trials", "200", "--trials", "2", "--times", "60")

# the JSON keys of simulate and their types (None allowed where the theory can be silent)
KEYS = {
    "p": int, "n_samples": int, "n_train": int, "frac": float, "n_parallelograms": int, "dof": int,
    "unique": bool, "grokking_rate": float, "spectrum": list, "ideal_test_accuracy": float,
    "critical_fraction": float, "critical_ci": list, "steps_to_rqi": float,
    "predicted_steps_to_rqi": float, "time_scale": float, "final_rqi": float, "final_predicted_test_accuracy": float,
    "final_loss": float, "z_drift": float, "seconds": float, "max_deviation_from_exact": float,
}


def _check_types(out: dict, nullable=()):
    for key, typ in KEYS.items():
        assert key in out, key
        if out[key] is None:
            assert key in nullable, key
        elif typ is float:
            assert isinstance(out[key], (int, float)) and not isinstance(out[key], bool), key
        else:
            assert isinstance(out[key], typ), key


def test_unique_split_json(cli_json):
    out = cli_json("simulate", "--p", 10, "--frac", 0.8, *FAST)
    _check_types(out)
    th = linear_theory(Addition(10).split(frac=0.8, seed=0))
    assert (out["p"], out["n_samples"], out["n_train"]) == (10, 55, 44)
    assert out["n_parallelograms"] == th.n_parallelograms and out["dof"] == 0 and out["unique"] is True
    assert out["grokking_rate"] == pytest.approx(th.grokking_rate, rel=1e-12)
    np.testing.assert_allclose(out["spectrum"], th.eigenvalues[: len(out["spectrum"])], atol=1e-12)
    lo, hi = out["critical_ci"]
    assert lo <= out["critical_fraction"] <= hi and out["critical_side"] == "above"
    # a unique split reaches the linear representation within the default horizon
    assert out["final_rqi"] == 1.0
    assert out["final_predicted_test_accuracy"] == pytest.approx(th.ideal_test_accuracy, abs=1e-12)
    assert out["final_loss"] < 1e-12 * out["initial_loss"]
    assert out["steps_to_rqi"] == np.median(out["steps_to_rqi_trials"])
    assert out["steps_to_rqi"] == pytest.approx(out["exact_steps_to_rqi"], rel=0.05)  # rk4 follows the exact flow
    # the slowest non-structural mode decays as exp(-t / time scale): RQI 0.95 takes a few time scales
    assert 1 < out["steps_to_rqi"] / out["time_scale"] < 20
    # the calibrated prediction is the exact flow's own crossing: the saved grid finds it no earlier
    assert out["predicted_by"] == "exact flow"
    assert out["predicted_steps_to_rqi"] <= out["exact_steps_to_rqi"] <= out["predicted_steps_to_rqi"] * 1.2
    assert out["max_deviation_from_exact"] < 1e-4 and out["z_drift"] < 1e-4


def test_non_unique_split_has_no_time_scale(cli_json):
    out = cli_json("simulate", "--p", 10, "--frac", 0.3, "--seed", 1, "--dim", 2, *FAST)
    _check_types(out, nullable=("steps_to_rqi", "predicted_steps_to_rqi", "time_scale"))
    assert out["unique"] is False and out["dof"] == 2 and out["grokking_rate"] == 0.0
    assert out["predicted_steps_to_rqi"] is None and out["time_scale"] is None and out["critical_side"] == "below"
    assert out["final_rqi"] < 1.0


@pytest.mark.parametrize("method", ["exact", "euler", "rk4-projected", "adam"])
def test_methods(cli_json, method):
    out = cli_json("simulate", "--p", 8, "--frac", 0.7, "--method", method, *FAST)
    _check_types(out, nullable=("steps_to_rqi",))
    assert out["method"] == method
    if method in ("exact", "rk4-projected"):
        assert out["z_drift"] < 1e-12
    if method == "exact":
        assert out["max_deviation_from_exact"] == 0.0 and out["dt"] is None
    if method == "euler":
        assert out["max_deviation_from_exact"] < 5e-2
    assert out["final_loss"] < out["initial_loss"]


def test_text_summary(capsys):
    from efftheory.cli import main

    assert main(["simulate", "--p", "10", "--frac", "0.8", *FAST]) == 0
    text = capsys.readouterr().out
    for needle in ("|P0(D)|", "dof = 0", "critical fraction", "lies above", "Z0 / (2 η λ3)", "final RQI", "Z drift"):
        assert needle in text, needle


def test_plot_and_save(cli_json, tmp_path):
    png, npz = tmp_path / "run.png", tmp_path / "run.npz"
    out = cli_json("simulate", "--p", 7, "--frac", 0.8, "--dim", 2, *FAST, "--plot", png, "--save", npz)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = np.load(npz)
    split = Addition(7).split(frac=0.8, seed=0)
    np.testing.assert_array_equal(data["train"], split.train)
    T = data["times"].size
    assert data["E"].shape == (T, 7, 2) and data["rqi"].shape == data["loss"].shape == (T,)
    np.testing.assert_array_equal(data["E"][0], data["E0"])
    assert data["times"][-1] == out["steps"] and data["rqi"][-1] == pytest.approx(1.0)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left


@pytest.mark.parametrize(
    "args, needle",
    [
        (("--p", 1, "--frac", 0.5), "p must be >= 2"),
        (("--p", 401, "--frac", 0.5), "--p 401 is too large"),
        (("--p", 10, "--frac", 0), "--frac must be a fraction in (0, 1], got 0"),
        (("--p", 10, "--frac", 1.5), "--frac must be a fraction in (0, 1], got 1.5"),
        (("--p", 10, "--train-num", 0), "n_train must be in [1, 55] at p=10, got 0"),
        (("--p", 10, "--train-num", 56), "got 56"),
        (("--p", 10, "--train-num", 5.5), "--train-num must be a whole number, got 5.5"),
        (("--p", 10, "--frac", 0.5, "--lr", 0), "--lr must be positive, got 0"),
        (("--p", 10, "--frac", 0.5, "--lr", -1), "--lr must be positive, got -1"),
        (("--p", 10, "--frac", 0.5, "--lr", "nan"), "--lr must be positive, got 'nan'"),
        (("--p", 10, "--frac", 0.5, "--steps", 0), "--steps must be a positive integer, got 0"),
        (("--p", 10, "--frac", 0.5, "--dt", "-1e-2"), "--dt must be positive, got -0.01"),
        (("--p", 10, "--frac", 0.5, "--method", "leapfrog"), "leapfrog"),
        (("--p", 10, "--frac", 0.5, "--method", "exact", "--dt", 1), "--dt"),
        (("--p", 10, "--frac", 0.5, "--trials", 0), "--trials must be a positive integer, got 0"),
        (("--p", 10, "--frac", 0.5, "--times", 1), "--times must be at least 2, got 1"),
        (("--p", 10, "--frac", 0.5, "--plot", f"{MISSING_DIR}/x.png"), "--plot"),
        (("--p", 10, "--frac", 0.5, "--save", f"{MISSING_DIR}/x.npz"), "--save"),
        (("--p", 10, "--train-num", 1), "no parallelogram"),
        (("--p", 2, "--frac", 1.0), "no parallelogram"),
    ],
)
def test_bad_input_exits_2_with_one_line(cli_error, args, needle):
    cli_error("simulate", *args, needles=[needle])


def test_steps_above_the_integrator_cap_are_refused_before_any_work(cli_error):
    from efftheory.theories.linear.dynamics import MAX_INTEGRATOR_STEPS

    line = cli_error("simulate", "--p", 10, "--frac", 0.8, "--method", "adam", "--steps", "1e9", *FAST)
    assert "1e+09" in line and f"{MAX_INTEGRATOR_STEPS:.0e}" in line


def test_bad_input_in_a_subprocess():
    assert_one_line_error(run_cli("simulate", "--p", "10", "--frac", "0.5", "--lr", "-1e-3"), "--lr must be positive, got -0.001")


def test_a_terminal_gets_progress_bars(monkeypatch, capsys):
    """On a terminal the integration and the critical-size estimate draw tqdm bars on stderr."""
    import io

    import efftheory.cli as cli
    from efftheory.cli._common import UI

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    monkeypatch.setattr(cli, "UI", lambda json_mode: UI(json_mode, stream=terminal))
    assert cli.main(["simulate", "--p", "6", "--frac", "0.8", *FAST]) == 0
    bars = terminal.getvalue()
    assert "rk4:" in bars and "critical size:" in bars and "|" in bars
    assert capsys.readouterr().err == ""


def test_a_log_gets_progress_lines_with_the_time_left(monkeypatch):
    """On a stderr that is not a terminal, progress is a plain line at most every log_every
    seconds (here: every update), with the count and an estimate of the time left; short work
    with the default interval writes nothing; --json writes nothing either."""
    import io

    from efftheory.cli._common import UI

    clock = iter(range(0, 1000, 30))  # 30 s per update
    monkeypatch.setattr("time.monotonic", lambda: float(next(clock)))
    log = io.StringIO()
    ui = UI(False, stream=log)
    ui.log_every = 45.0
    with ui.progress(10, "runs") as update:
        update(4)  # found done (a resumed sweep): sets the pace's origin
        for _ in range(6):
            update(1)
    lines = log.getvalue().splitlines()
    # the clock reads 0 at the start and 30 s more at every update: the 4 found done at 30 s
    # set the origin, so at 60 s the pace is 30 s a run and 5 runs are left
    assert lines[0] == "runs: 5/10 (50%), 60 s elapsed, about 150 s left"
    assert lines[1] == "runs: 7/10 (70%), 120 s elapsed, about 90 s left"
    assert lines[-1] == "runs: 10/10 (100%), 210 s elapsed"
    assert len(lines) == 4  # at 60, 120 and 180 s (45 s apart at least), and the last
    monkeypatch.undo()  # real time: ten quick updates are short work
    quiet = io.StringIO()
    with UI(False, stream=quiet).progress(10, "runs") as update:
        for _ in range(10):
            update(1)
    assert quiet.getvalue() == ""
    silent = io.StringIO()
    with UI(True, stream=silent).progress(10, "runs") as update:
        update(10)
    assert silent.getvalue() == ""
