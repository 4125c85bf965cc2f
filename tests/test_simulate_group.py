"""`simulate --task s3` and `critical --task s3`: the group's theories from the command line."""

import numpy as np
import pytest

from tests.conftest import run_cli, assert_one_line_error


def test_simulate_s3_json_text_plot_and_save(cli_json, capsys, tmp_path):
    from efftheory.cli import main

    out = cli_json("simulate", "--task", "s3", "--frac", "1.0", "--trials", "6", "--steps", "2000")
    assert out["p"] == 6 and out["n_samples"] == 36 and out["n_train"] == 36 and out["k"] == 3
    assert out["n_quads"] == out["n_quads_full"] == 90 and out["additive_parallelograms"] == 84
    assert set(out["outcome_fractions"]) == {"faithful", "unfaithful", "stalled", "fits-without-representation"}
    assert sum(out["outcome_fractions"].values()) == pytest.approx(1.0)
    assert out["outcome_fractions"]["fits-without-representation"] == 0.0  # the full table is the training set
    for o, loss in zip(out["outcomes"], out["train_loss"]):
        assert (loss <= 1e-8) == (o in ("faithful", "unfaithful"))
    assert np.all(np.diff(out["median_loss"]) <= 0)
    png, npz = tmp_path / "g.png", tmp_path / "g.npz"
    assert main(["simulate", "--task", "s3", "--train-num", "20", "--trials", "3", "--k", "4", "--steps", "500",
                 "--plot", str(png), "--save", str(npz)]) == 0
    text = capsys.readouterr().out
    assert "Matrix theory of the split" in text and "SO(4)" in text and "outcomes" in text
    assert png.read_bytes()[:4] == b"\x89PNG"
    with np.load(npz) as z:
        assert z["M"].shape == (3, 6, 4, 4) and z["train"].size == 20


@pytest.mark.parametrize("argv, needle", [
    (("simulate", "--task", "s3", "--p", 7, "--frac", 0.5), "--task s3 has 6 symbols; --p 7"),
    (("simulate", "--task", "s3", "--frac", 0.5, "--k", 1), "--k must be at least 2"),
    (("simulate", "--task", "add", "--p", 5, "--frac", 0.5, "--k", 3), "--k applies to --task s3 only"),
    (("simulate", "--frac", 0.5), "--p is required for --task add"),
    (("simulate", "--task", "s3", "--train-num", 37), "n_train must be in [1, 36]"),
    (("simulate", "--task", "s3", "--train-num", 1), "no pair of samples with equal products"),
    (("critical", "--task", "s3", "--p", 5), "--task s3 has 6 symbols"),
    (("critical", "--trials", 10), "--p is required"),
])
def test_bad_group_options_are_one_line_errors(cli_error, argv, needle):
    cli_error(*argv, needles=[needle])


def test_explicit_p_6_is_accepted_for_s3(cli_json):
    assert cli_json("simulate", "--task", "s3", "--p", "6", "--frac", "0.5", "--trials", "2", "--steps", "100")["p"] == 6


def test_critical_s3_is_the_additive_theory_of_the_group(cli_json, capsys):
    from efftheory.cli import main

    out = cli_json("critical", "--task", "s3", "--trials", "400")
    assert out["n_samples"] == 36 and out["p"] == 6 and "constant additive embeddings" in out["meaning"]
    assert out["p_unique"][-1] == 1.0 and 0.2 < out["r_c"] < 0.45
    assert main(["critical", "--task", "s3", "--trials", "100"]) == 0
    assert "note: for a group" in capsys.readouterr().out


def test_s3_in_a_fresh_interpreter_needs_no_p():
    proc = run_cli("simulate", "--task", "s3", "--frac", "0.6", "--trials", "2", "--steps", "200")
    assert proc.returncode == 0 and "Matrix theory" in proc.stdout, proc.stderr
    assert_one_line_error(run_cli("simulate", "--task", "s3", "--p", "9", "--frac", "0.6"), "--p 9")
