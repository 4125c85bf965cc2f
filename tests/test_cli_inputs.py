"""Bad input on every command: exit 2 and one line on stderr, before any work; numbers written
the way people write them (1e5, -1e-3) are read as numbers. All in-process and fast."""

from __future__ import annotations

import errno

import pytest

from tests.conftest import parse

# the smallest valid invocation of every command; phase runs its cheap synthetic cell
BASE = {
    "critical": ["--p", "5", "--trials", "20"],
    "simulate": ["--p", "6", "--frac", "0.8", "--trials", "1", "--times", "20", "--critical-trials", "20"],
    "train": ["--p", "5", "--frac", "0.8", "--steps", "20", "--width", "8"],
    "compare": ["--p", "5", "--train-nums", "12", "--seeds", "0", "--steps", "20", "--width", "8", "--jobs", "1",
                "--trials", "20", "--no-trajectories"],
    "phase": ["--x", "decoder_lr", "--x-range", "1e-3:1e-2:2:log", "--y", "decoder_wd", "--y-range", "0:1:2",
              "--cell", "synthetic", "--jobs", "1"],
}
WITH_PLOT = ["critical", "simulate", "train", "compare", "phase"]
WITH_SAVE = ["simulate", "train"]
WITH_STEPS = ["simulate", "train", "compare", "phase"]
WITH_TRIALS = ["critical", "simulate", "compare"]


@pytest.fixture
def argv(tmp_path):
    """argv(command, *extra): the command's base arguments (phase gets a fresh --out) plus extra."""

    def build(command, *extra):
        out = ["--out", str(tmp_path / "sweep")] if command == "phase" else []
        return [command, *BASE[command], *out, *map(str, extra)]

    return build


def _no_computation(monkeypatch):
    """Make every long computation fail loudly: an input check must come first."""
    def forbidden(*args, **kwargs):
        raise AssertionError("computed before refusing the input")

    import efftheory.theories.linear.critical
    import efftheory.models.toy.model
    import efftheory.theories.linear.simulation
    import efftheory.experiments.sweep.engine

    monkeypatch.setattr(efftheory.theories.linear.critical, "critical_curve", forbidden)
    monkeypatch.setattr(efftheory.theories.linear.simulation, "simulate", forbidden)
    monkeypatch.setattr(efftheory.models.toy.model, "train_network", forbidden)  # what the toy model trains with
    monkeypatch.setattr(efftheory.experiments.sweep.engine, "run_sweep", forbidden)


@pytest.mark.parametrize("command", WITH_PLOT)
@pytest.mark.parametrize("plot, needle", [("/proc/x.png", "'/proc'"), ("out.txt", ".png, ")])
def test_unwritable_or_unknown_plot_is_refused_first(cli_error, argv, monkeypatch, tmp_path, command, plot, needle):
    _no_computation(monkeypatch)
    monkeypatch.chdir(tmp_path)
    line = cli_error(*argv(command, "--plot", plot), needles=["--plot", plot, needle])
    assert list(tmp_path.iterdir()) == []
    if plot == "out.txt":
        assert "'.txt'" in line and ".pdf" in line and ".svg" in line


@pytest.mark.parametrize("command", WITH_SAVE)
def test_unwritable_save_is_refused_first(cli_error, argv, monkeypatch, command):
    _no_computation(monkeypatch)
    cli_error(*argv(command, "--save", "/sys/x.npz"), needles=["--save '/sys/x.npz'", "'/sys'"])


@pytest.mark.parametrize("command, option, name", [("critical", "--plot", "x.png"), ("simulate", "--save", "x.npz")])
def test_a_write_that_fails_after_computing_is_one_line_and_leaves_no_file(cli_error, argv, monkeypatch,
                                                                             tmp_path, command, option, name):
    import efftheory.runtime.files

    def disk_full(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(efftheory.runtime.files, "_rename", disk_full)
    cli_error(*argv(command, option, tmp_path / name), needles=[option, "No space left on device"])
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["simulate", "train", "compare"])
def test_negative_scientific_learning_rate_is_a_value_not_an_option(cli_error, argv, command):
    option = "--lr" if command == "simulate" else "--embed-lr"
    cli_error(*argv(command, option, "-1e-3"), needles=[f"{option} must be positive, got -0.001"])


@pytest.mark.parametrize("command", list(BASE))
def test_p_must_be_whole(cli_error, argv, command):
    cli_error(*argv(command, "--p", "2.5"), needles=["--p", "2.5"])


@pytest.mark.parametrize("command", WITH_STEPS)
def test_steps_accepts_1e5_and_refuses_2_5(cli_error, argv, tmp_path, command):
    assert parse(*argv(command, "--steps", "1e5")).steps == 100_000
    cli_error(*argv(command, "--steps", "2.5"), needles=["--steps", "2.5"])


@pytest.mark.parametrize("command", WITH_TRIALS)
def test_trials_accepts_1e3(command, argv):
    assert parse(*argv(command, "--trials", "1e3")).trials == 1000


def test_every_integer_option_reads_scientific_notation_and_refuses_fractions():
    """Every option whose type is an integer type goes through the shared parser types."""
    import argparse

    from efftheory.cli import build_parser
    from efftheory.cli._common import integer, nonnegative_int, positive_int

    shared = {integer, positive_int, nonnegative_int}
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for name, parser in sub.choices.items():
        for action in parser._actions:
            assert action.type is not int, (name, action.option_strings)  # int('1e5') fails
            if action.type in shared:
                assert action.type("1e2") == 100
                with pytest.raises(argparse.ArgumentTypeError, match="got 2.5"):
                    action.type("2.5")


def test_number_types():
    import argparse

    from efftheory.cli._common import fraction, int_list, integer, nonnegative_float, positive_float

    assert integer("-3") == -3 and integer("1e5") == 100_000 and integer("123456789012345678901") == 123456789012345678901
    assert positive_float("1e-3") == 1e-3 and nonnegative_float("0") == 0.0 and fraction("1") == 1.0
    assert int_list("5, 1e1,-2") == [5, 10, -2]
    for convert, text, message in [
        (integer, "1e400", "got '1e400'"),
        (positive_float, "inf", "got 'inf'"),
        (positive_float, "-1e-3", "got -0.001"),
        (nonnegative_float, "-0.5", "got -0.5"),
        (fraction, "0", "got 0"),
        (int_list, "5,2.5", "got '5,2.5'"),
        (int_list, ",", "got ','"),
    ]:
        with pytest.raises(argparse.ArgumentTypeError, match=message):
            convert(text)


def test_negative_number_lists_reach_the_command(cli_error):
    cli_error("compare", "--p", "5", "--seeds", "-1,2", needles=["--seeds: -1 is negative"])


@pytest.mark.parametrize("command", ["critical", "simulate", "train", "compare", "phase"])
def test_p_above_the_common_limit_is_refused_up_front(capsys, command):
    from efftheory.cli import main

    argv = {"critical": [], "simulate": ["--frac", "0.3"], "train": ["--frac", "0.3"], "compare": [],
            "phase": ["--preset", "fig5b", "--out", "/tmp/efftheory-unused-dir", "--frac", "0.9"]}[command]
    assert main([command, "--p", "401", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--p 401 is too large (max 400" in err[0]
