"""What a reader sees: the commands' readable summaries and figures say what they mean.

Each fixed wording is asserted present, and the misleading wording it replaced absent. The CLI
runs in-process (``main([...])`` with capsys); runs are kept tiny.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from efftheory.cli import main
from efftheory.cli._wording import chance_test_accuracy, fit_text, loss_value, plural, steps
from efftheory.experiments.comparison.trajectories import SCALES, bound_of, match_rms
from efftheory.experiments.comparison.linear import summarise
from tests.conftest import grid_run
from efftheory.tasks import Addition

FAST_SIM = ["--critical-trials", "50", "--trials", "2", "--times", "30"]
TINY_NET = ["--p", "6", "--train-num", "16", "--steps", "300", "--width", "24", "--seed", "0"]


def _run(capsys, *argv) -> str:
    assert main(list(argv)) == 0
    return capsys.readouterr().out


def _json(capsys, *argv) -> dict:
    import json

    return json.loads(_run(capsys, *argv, "--json"))


def _figure_texts(fig) -> str:
    """Every title, axis label, legend entry and free text of a figure, joined."""
    out = []
    for ax in fig.axes:
        out += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()] + [t.get_text() for t in ax.texts]
        legend = ax.get_legend()
        if legend is not None:
            out += [t.get_text() for t in legend.get_texts()]
    if fig._suptitle is not None:
        out.append(fig._suptitle.get_text())
    return "\n".join(out)


# ---------------------------------------------------------------- wording helpers


def test_plural_and_steps():
    assert plural(1, "network") == "1 network" and plural(2, "network") == "2 networks"
    assert plural(1, "initial condition") == "1 initial condition"
    assert steps(None) == "never" and steps(1663.2) == "1663" and steps(0.020931) == "0.02093"
    assert steps(1.2e7) == "1.2e+07"


def test_loss_round_off_printed_as_zero():
    assert loss_value(-6.629e-18, 0.551) == ("0", True)
    assert loss_value(3e-5, 0.551) == ("3e-05", False)


def test_chance_is_the_most_common_test_sum():
    split = Addition(5).split(n_train=5, seed=0)
    sums = split.task.sums[split.test]
    assert chance_test_accuracy(split) == pytest.approx(np.bincount(sums).max() / sums.size)
    assert chance_test_accuracy(split) >= 1 / 9  # never below a uniform guess among 2p - 1 sums


# ---------------------------------------------------------------- fit at the bound


def test_bound_of_a_grid():
    assert bound_of(SCALES[0]) == "lower" and bound_of(SCALES[-1]) == "upper"
    assert bound_of(SCALES[40]) is None and bound_of(1.0, [1.0]) is None


def test_match_rms_at_the_upper_edge_is_no_fit():
    """A theory 64 times slower than the network fits best at the largest s of a grid to 16."""
    net_steps = np.arange(0, 2001)
    times = np.unique(np.r_[0, np.round(np.geomspace(1, 200_000, 4000))]).astype(float)

    def relax(t):
        rng = np.random.default_rng(0)
        start, end = rng.standard_normal(6), np.linspace(-1.5, 1.5, 6)
        w = (1 - np.exp(-np.asarray(t) / 300.0))[:, None]
        return ((1 - w) * start + w * end)[:, :, None]

    grid = np.geomspace(0.25, 16, 13)
    scale, *_ = match_rms(net_steps, relax(net_steps), times, relax(times / 64.0), grid)
    assert bound_of(scale, grid) == "upper"
    assert fit_text(scale, "upper", grid) == ("no fit: even sped up 16 times (s = 16, the largest rescaling tried), "
                                              "the theory lags the network")


@pytest.fixture(scope="module")
def stuck_run(tmp_path_factory):
    """A train run whose best time rescaling sits at the grid's lower edge (the network barely moves)."""
    import contextlib
    import io
    import json

    d = tmp_path_factory.mktemp("present")
    texts = {}
    for mode in ("text", "json"):
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            extra = ["--json"] if mode == "json" else ["--plot", str(d / "run.png")]
            assert main(["train", *TINY_NET, *extra]) == 0
        texts[mode] = buf.getvalue()
    return texts["text"], json.loads(texts["json"]), d / "run.png"


def test_train_reports_a_fit_at_the_bound(stuck_run):
    text, out, _ = stuck_run
    assert out["trajectory_fit_at_bound_flow"] is True and out["trajectory_scale_flow"] is None
    assert out["trajectory_scale_edge_flow"] == "lower"
    assert out["trajectory_best_grid_scale_flow"] == pytest.approx(SCALES[0])
    assert ("no fit: even slowed down 100 times (s = 0.01, the smallest rescaling tried), the theory moves ahead "
            "of the network") in text
    assert "closer to the theory's start E0" in text and "a fit would need s < 0.01" in text
    assert "edge of [" not in text  # the grid's internals are not the reader's business
    assert "(s = 0.01)" not in text  # the old wording read like a fitted value


def test_train_plot_says_no_fit(stuck_run):
    from efftheory.experiments.comparison.trajectories import effective_counterpart
    from efftheory.models.toy.config import NetworkConfig
    from efftheory.models.toy.training import train_network
    from efftheory.plotting.network import plot_training
    from efftheory.theories.linear.theory import linear_theory

    assert stuck_run[2].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    split = Addition(6).split(n_train=16, seed=0)
    result = train_network(split, NetworkConfig(width=24, seed=0), 300)
    H_hat = linear_theory(split).H_hat
    counterparts = {m: effective_counterpart(result, H_hat, m) for m in ("rk4", "adam")}
    texts = _figure_texts(plot_training(result, counterparts))
    assert "no time factor s fits the network" in texts and "unscaled" in texts
    assert "theory time / s (s =" not in texts  # the old cryptic label
    assert "$t_{train}$" in texts and "symbol k" in texts  # events marked, colourbar keyed
    assert all(ax.get_xscale() == "log" for ax in plot_training(result, counterparts).axes[:6])


# ---------------------------------------------------------------- train text


def test_train_theory_never_reads_as_beyond_its_horizon():
    from efftheory.cli._train_toy import _theory_steps

    o = {"theory_steps_to_rqi_flow": None, "theory_horizon_flow": 300000.0,
         "theory_steps_to_rqi_adam": 1426.0, "theory_horizon_adam": 300000.0}
    assert _theory_steps(o, "flow") == "> 3e+05" and _theory_steps(o, "adam") == "1426"


def test_train_text_dof_positive_has_no_rate_and_notes_the_ideal(capsys):
    argv = ["train", "--p", "6", "--train-num", "5", "--steps", "300", "--width", "24"]
    text = _run(capsys, *argv)
    out = _json(capsys, *argv)
    assert out["dof"] > 0 and out["theory_time_scale"] is None
    assert "no time scale: dof = 3 > 0 leaves free directions, which have no rate" in text
    assert "never steps" not in text
    assert re.search(r"chance level\s+0\.\d{3}\s+\(always the most common test sum; uniform guess 1/11", text)
    assert out["chance_test_accuracy"] == pytest.approx(chance_test_accuracy(Addition(6).split(n_train=5, seed=0)))
    beats = out["final_test_acc"] > out["ideal_test_accuracy"] or out["predicted_test_accuracy"] > out["ideal_test_accuracy"]
    assert ("it is not an upper bound" in text) == beats


def test_train_text_huge_lr_prints_significant_digits(capsys):
    text = _run(capsys, "train", *TINY_NET[:-4], "--steps", "20", "--width", "8", "--embed-lr", "50")
    scale = re.search(r"time scale Z0/\(2ηλ3\) = (\S+) steps", text).group(1)
    assert float(scale) > 0 and scale != "0"
    assert "= 0 steps" not in text


# ---------------------------------------------------------------- simulate text


def test_simulate_text_dof_positive(capsys):
    text = _run(capsys, "simulate", "--p", "10", "--frac", "0.3", *FAST_SIM)
    assert "theory's time scale    none: dof = 3 > 0 leaves free directions, which have no rate" in text
    assert "never steps" not in text
    assert "integrator dt" in text and not re.search(r"lr [\d.e-]+, step ", text)
    assert "chance 0." in text and "always the most common test sum" in text


def test_simulate_text_huge_lr(capsys):
    text = _run(capsys, "simulate", "--p", "10", "--frac", "0.8", "--lr", "100", *FAST_SIM)
    assert re.search(r"Z0 / \(2 η λ3\) = 0\.0\d+ steps", text)
    assert "= 0 steps" not in text
    assert "-> 0 (|ℓ_eff| < 1e-12 of its start: round-off, printed as 0)" in text
    assert not re.search(r"-> -\d", text)  # no negative loss


def test_simulate_text_tiny_lr(capsys):
    text = _run(capsys, "simulate", "--p", "10", "--frac", "0.8", "--lr", "1e-7", *FAST_SIM)
    assert re.search(r"Z0 / \(2 η λ3\) = \d\.\d+e\+0[78] steps", text)
    assert "lr 1e-07, integrator dt" in text


def test_simulate_text_plurals_and_ideal_note(capsys):
    text = _run(capsys, "simulate", "--p", "10", "--frac", "0.3", "--lr", "100", "--trials", "1",
                "--critical-trials", "50", "--times", "30")
    assert "1 initial condition (" in text and "1 initial conditions" not in text
    assert "of 1 trial)" in text and "of 1 trials" not in text
    out = _json(capsys, "simulate", "--p", "10", "--frac", "0.3", "--lr", "100", "--trials", "1",
                "--critical-trials", "50", "--times", "30")
    beats = out["final_predicted_test_accuracy"] > out["ideal_test_accuracy"]
    assert ("it is not an upper bound" in text) == beats
    assert 0 < out["chance_test_accuracy"] <= 1


def test_simulate_plot_marks_zero_eigenvalues():
    from efftheory.plotting.dynamics import plot_simulation
    from efftheory.theories.linear.simulation import simulate
    from efftheory.theories.linear.theory import linear_theory

    sim = simulate(linear_theory(Addition(10).split(frac=0.3, seed=0)), trials=2, n_times=20)
    texts = _figure_texts(plot_simulation(sim))
    assert "$\\lambda_k$ = 0 (5 of them), drawn at the bottom" in texts
    assert "zero (5)" not in texts
    assert "no time scale: dof = 3 > 0" in texts and "symbol k" in texts and "round-off" in texts


# ---------------------------------------------------------------- critical


def test_critical_text_says_which_n(capsys):
    text = _run(capsys, "critical", "--p", "10", "--trials", "200")
    assert re.search(r"P_unique\(n\) at \d+ selected n of 1\.\.55: the transition region", text)
    assert "--json gives every n" in text


def test_critical_plot_states_the_band_width():
    from efftheory.theories.linear.critical import critical_curve
    from efftheory.plotting.critical import plot_critical

    curve = critical_curve(10, 200, 0)
    half = 0.5 * float(np.max(curve.ci_high - curve.ci_low))
    assert f"Wilson 95% interval (half-width ≤ {half:.2g}" in _figure_texts(plot_critical(curve))


# ---------------------------------------------------------------- compare


def _fake_runs(**fields):
    return [grid_run(full_acc=0.2, predicted_full_acc=0.1, reached_ideal=True, n_train=n, seed=s, dof=2,
                     ideal_test_acc=0.0, **fields) for n in (2, 4) for s in (0, 1)]


def test_compare_plot_no_data_paths():
    from efftheory.plotting.network import plot_compare

    runs, p_unique = _fake_runs(), np.linspace(0, 1, 15)
    fig = plot_compare(summarise(runs, p_unique), runs, p_unique)
    texts = _figure_texts(fig)
    assert "no data: no run with dof = 0 reached RQI >= 0.95" in texts
    assert "trajectories not compared" in texts
    assert "not shown: the ideal is < 0.9 at every n" in texts
    panel_b = fig.axes[1]
    reached = [line for line in panel_b.get_lines() if line.get_marker() == "x"][0]
    assert reached.get_xdata().size == 0  # ideal ~0 at every n: 'reached ideal' is not drawn
    assert any(ax.get_ylabel() == "training samples n" for ax in fig.axes)  # panel (a) colourbar


def test_compare_plot_marks_fits_at_bound():
    from efftheory.plotting.network import plot_compare

    runs = _fake_runs(rms_rk4=0.3, rms_adam=0.2, rms_unscaled_rk4=0.5, rms_unscaled_adam=0.5,
                      scale_rk4=float("nan"), scale_adam=1.0, fit_at_bound_rk4="lower", fit_at_bound_adam=None)
    p_unique = np.linspace(0, 1, 15)
    summary = summarise(runs, p_unique)
    assert summary.trajectory["rk4"]["scale_median"] is None
    assert summary.trajectory["rk4"]["fits_at_bound"] == 4 and summary.trajectory["adam"]["fits_at_bound"] == 0
    assert "no fit (s at grid edge)" in _figure_texts(plot_compare(summary, runs, p_unique))


def test_compare_text_plurals_and_ideal(capsys):
    text = _run(capsys, "compare", "--p", "5", "--train-nums", "2", "--seeds", "0", "--steps", "30",
                "--width", "8", "--trials", "50", "--jobs", "1", "--no-trajectories")
    assert "1 network (1 size x 1 seed)" in text and "1 networks" not in text
    assert "ideal acc" in text and "says little where that ideal is far below 0.9" in text
    assert "with 1 job)" in text
