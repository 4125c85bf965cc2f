"""``efftheory train``: JSON contract, files, consistency with the library, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from efftheory.phases import phase_of
from efftheory.tasks import Addition
from efftheory.theories.linear.theory import linear_theory
from tests.conftest import MISSING_DIR, assert_one_line_error, run_cli

KEYS = {"steps_to_train", "steps_to_test", "steps_to_rqi", "final_train_acc", "final_test_acc", "final_rqi",
        "predicted_test_accuracy", "ideal_test_accuracy", "dof", "grokking_rate", "phase", "steps", "seconds",
        "steps_per_second"}
SMALL = ["--p", "6", "--train-num", "16", "--steps", "300", "--width", "24", "--embed-lr", "1e-2",
         "--decoder-lr", "1e-3", "--seed", "2"]


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    import contextlib
    import io
    import json

    from efftheory.cli import main

    d = tmp_path_factory.mktemp("train")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main(["train", *SMALL, "--save", str(d / "run.npz"), "--plot", str(d / "run.png"), "--json"])
    assert status == 0
    return json.loads(out.getvalue()), d


def test_json_keys_and_values(small_run):
    out, _ = small_run
    assert KEYS <= set(out)
    assert out["steps"] == 300 and out["steps_per_second"] > 0
    theory = linear_theory(Addition(6).split(n_train=16, seed=2))
    assert out["dof"] == theory.dof
    assert out["ideal_test_accuracy"] == pytest.approx(theory.ideal_test_accuracy)
    assert out["phase"] == phase_of(out["steps_to_train"], out["steps_to_test"], 1e3)
    # accuracies are counts over the 16 training and 5 test samples, not just numbers in [0, 1]
    for key, n in (("final_train_acc", 16), ("final_test_acc", 5), ("predicted_test_accuracy", 5)):
        assert out[key] * n == pytest.approx(round(out[key] * n), abs=1e-9) and 0 <= round(out[key] * n) <= n, key


def test_saved_arrays_and_plot(small_run):
    out, d = small_run
    data = np.load(d / "run.npz")
    np.testing.assert_array_equal(data["train"], Addition(6).split(n_train=16, seed=2).train)
    T = data["steps"].size
    assert T == 301 and data["embeddings"].shape == (301, 6, 1)
    assert data["rqi"][-1] == out["final_rqi"] and data["test_acc"][-1] == out["final_test_acc"]
    assert data["theory_rk4_embeddings"].shape[1:] == (6, 1) and data["theory_adam_rqi"].ndim == 1
    assert (d / "run.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(f.name for f in d.iterdir()) == ["run.npz", "run.png"]  # no temporaries left


def test_readable_summary(capsys):
    from efftheory.cli import main

    assert main(["train", *SMALL]) == 0
    text = capsys.readouterr().out
    for needle in ("dof", "phase", "steps/s", "ideal accuracy", "gradient flow"):
        assert needle in text


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--p", "1", "--frac", "0.5"], "p must be >= 2"),
        (["--p", "2.5", "--frac", "0.5"], "--p must be a whole number, got 2.5"),
        (["--p", "10", "--frac", "0"], "--frac must be a fraction in (0, 1], got 0"),
        (["--p", "10", "--frac", "1.5"], "--frac must be a fraction in (0, 1], got 1.5"),
        (["--p", "10", "--train-num", "56"], "n_train must be in [1, 55]"),
        (["--p", "10", "--frac", "0.5", "--steps", "0"], "--steps must be a positive integer, got 0"),
        (["--p", "10", "--frac", "0.5", "--embed-lr=-1e-3"], "--embed-lr must be positive, got -0.001"),
        (["--p", "10", "--frac", "0.5", "--decoder-wd", "-1"], "--decoder-wd must be >= 0, got -1"),
        (["--p", "10", "--frac", "0.5", "--loss", "hinge"], "hinge"),
        (["--p", "10", "--frac", "0.5", "--save", f"{MISSING_DIR}/x.npz"], MISSING_DIR),
        (["--p", "10"], "--frac"),
    ],
)
def test_bad_input_exits_2_with_one_line(cli_error, args, needle):
    cli_error("train", *args, needles=[needle])


def test_a_step_budget_too_large_for_memory_is_one_line(cli_error):
    # refused before any allocation, with the evaluation interval that would fit
    cli_error("train", "--p", "5", "--frac", "0.5", "--width", "8", "--steps", "1e15",
              needles=["recording every 1 of 1000000000000000 steps", "--eval-every"])


def test_running_out_of_memory_is_one_line(cli_error, monkeypatch):
    from efftheory.models import chunks

    def no_memory(*args, **kwargs):
        raise MemoryError("Unable to allocate 12 GiB")

    monkeypatch.setattr(chunks.Records, "allocate", classmethod(no_memory))
    cli_error("train", "--p", "5", "--frac", "0.5", "--width", "8", "--steps", "10",
              needles=["not enough memory", "12 GiB"])


def test_bad_input_in_a_subprocess():
    assert_one_line_error(run_cli("train", "--p", "10", "--frac", "0.5", "--embed-lr", "-1e-3"),
                          "--embed-lr must be positive, got -0.001")


def test_a_budget_too_short_to_decide_says_so(capsys):
    """300 steps of the p = 10 toy: train accuracy is still climbing and the theory's flow from the
    network's own E0 forms the structure thousands of steps later; the rule's phase stays in the
    JSON (what a sweep would record) beside decided = false and the reason."""
    from efftheory.cli import main

    args = ["train", "--p", "10", "--frac", "0.8", "--steps", "300"]
    assert main([*args, "--json"]) == 0
    o = json.loads(capsys.readouterr().out)
    assert o["phase"] in ("memorization", "confusion") and o["decided"] is False and o["steps_budget"] == 300
    assert "after the budget" in o["undecided_reason"] and o["theory_steps_to_rqi_flow"] > 300
    assert o["late_curve"] in ("test accuracy", "train accuracy") and o["late_gain"] is not None
    assert main(args) == 0
    text = capsys.readouterr().out
    assert f"phase: not decided within 300 steps (by the sweep's rule, which stops at the budget: {o['phase']})" in text
    assert "not decided because: " in text and "run longer (--steps) to decide" in text
