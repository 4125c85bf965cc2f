import numpy as np
import pytest

from tests.conftest import MISSING_DIR, assert_one_line_error, run_cli


def test_json_has_the_contract_keys(cli_json):
    out = cli_json("critical", "--p", "10", "--trials", "2000", "--seed", "3")
    keys = {"p", "n_samples", "trials", "n", "p_unique", "ci_low", "ci_high", "n_c", "r_c", "seconds"}
    assert keys <= set(out)
    assert out["p"] == 10 and out["n_samples"] == 55 and out["trials"] == 2000
    assert len(out["n"]) == len(out["p_unique"]) == len(out["ci_low"]) == 55
    assert 0.35 < out["r_c"] < 0.45 and isinstance(out["n_c"], float)
    assert np.all(np.diff(out["p_unique"]) >= 0)


def test_readable_summary_and_plot(tmp_path, capsys):
    from efftheory.cli import main

    png = tmp_path / "crit.png"
    assert main(["critical", "--p", "8", "--trials", "500", "--plot", str(png)]) == 0
    text = capsys.readouterr().out
    assert "r_c" in text and "P_unique" in text
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [f for f in tmp_path.iterdir() if f.name != "crit.png"]  # no temporary left


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--p", "1"], "p must be >= 2, got 1"),
        (["--p", "ten"], "--p must be a whole number, got 'ten'"),
        (["--p", "2.5"], "--p must be a whole number, got 2.5"),
        (["--p", "401"], "--p 401 is too large"),
        (["--p", "10", "--trials", "0"], "--trials must be a positive integer, got 0"),
        (["--p", "10", "--trials", "-5"], "--trials must be a positive integer, got -5"),
        (["--p", "10", "--trials", "1e3.5"], "--trials must be a positive integer, got '1e3.5'"),
        (["--p", "10", "--seed", "-2"], "--seed must be a non-negative integer, got -2"),
        (["--p", "10", "--plot", f"{MISSING_DIR}/x.png"], MISSING_DIR),
        (["--trials", "10"], "--p"),
    ],
)
def test_bad_input_exits_2_with_one_line(cli_error, args, needle):
    cli_error("critical", *args, needles=[needle])


def test_bad_input_in_a_subprocess():
    assert_one_line_error(run_cli("critical", "--p", "10", "--seed", "-2"), "--seed must be a non-negative integer, got -2")
