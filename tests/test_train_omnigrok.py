"""``efftheory train omnigrok``: the Omnigrok MLP through the one train driver and the generic
report, on image tasks that have no theory of their structure."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest

from efftheory.cli import main
from efftheory.models import MODELS
from efftheory.tasks import Addition, make_task
from efftheory.theories import theory_for
from tests.conftest import MISSING_DIR, assert_one_line_error, run_cli
from tests.test_images import write_mnist

SMALL = ["--train-num", "120", "--width", "24", "--steps", "120", "--eval-every", "20", "--wd", "0.1",
         "--seed", "3"]


def _json(*args) -> dict:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["train", "omnigrok", *args, "--json"]) == 0
    return json.loads(out.getvalue())


def _text(*args) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["train", "omnigrok", *args]) == 0
    return out.getvalue()


def test_an_image_task_has_no_theory_and_a_table_keeps_its_own():
    pytest.importorskip("sklearn")
    assert theory_for(make_task("digits")) is None
    assert theory_for(Addition(6)).name == "linear"


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    pytest.importorskip("sklearn")
    d = tmp_path_factory.mktemp("train_omnigrok")
    out = _json("--task", "digits", *SMALL, "--alpha", "4", "--save", str(d / "run.npz"), "--plot", str(d / "run.png"))
    return out, d


def test_the_report_is_the_library_run_without_a_theory(digits_run):
    out, d = digits_run
    assert out["model"] == "omnigrok" and out["theory"] is None and out["metric"] is None
    assert out["p"] is None and out["n_train"] == 120 and out["n_test"] == 500 and out["n_samples"] == 1297
    model = MODELS["omnigrok"]
    split = make_task("digits").split(n_train=120, seed=3)
    config = model.config("digits", seed=3, width=24, wd=0.1, alpha=4.0)
    ref = model.train(split, config, 120, eval_every=20)
    assert out["steps_to_train"] == ref.steps_to_train and out["steps_to_test"] == ref.steps_to_test
    assert out["phase"] == ref.phase
    assert out["final_test_acc"] == pytest.approx(float(ref.test_acc[-1]), abs=0)
    norm = out["records"]["weight_norm"]
    assert norm["first"] == pytest.approx(ref.w0, rel=1e-12) and norm["final"] == pytest.approx(float(ref.weight_norm[-1]))
    assert norm["final_step"] == 120
    saved = np.load(d / "run.npz")
    np.testing.assert_array_equal(saved["weight_norm"], ref.weight_norm)
    np.testing.assert_array_equal(saved["train"], split.train)
    assert (d / "run.png").stat().st_size > 0


def test_alpha_scales_the_initial_norm_exactly():
    """Every initial weight and bias times alpha: the norm at step 0 is alpha times alpha = 1's."""
    pytest.importorskip("sklearn")
    one = _json("--task", "digits", *SMALL[:4], "--steps", "1", "--seed", "3")
    eight = _json("--task", "digits", *SMALL[:4], "--steps", "1", "--seed", "3", "--alpha", "8")
    assert eight["records"]["weight_norm"]["first"] == pytest.approx(8 * one["records"]["weight_norm"]["first"], rel=1e-6)


def test_the_text_says_there_is_no_theory_and_shows_the_norm():
    pytest.importorskip("sklearn")
    text = _text("--task", "digits", *SMALL)
    assert "no theory of the task's structure" in text and "theory of the split" not in text
    assert "steps to train acc >= 0.9" in text and "-> phase:" in text
    assert "weight norm:" in text and "at step 120" in text


def test_mnist_from_idx_files_the_test_writes(tmp_path):
    write_mnist(tmp_path, n_train=30, n_test=10, side=4)
    out = _json("--task", "mnist", "--data-dir", str(tmp_path), "--train-num", "20", "--width", "8", "--steps", "30",
                "--eval-every", "10")
    assert out["n_train"] == 20 and out["n_test"] == 10 and out["theory"] is None
    assert out["records"]["weight_norm"]["first"] > 0


@pytest.mark.parametrize("args, needles", [
    (["--task", "digits", "--train-num", "50", "--p", "10"], ["--p does not apply", "digits"]),
    (["--task", "mnist", "--train-num", "5"], ["--data-dir"]),
    (["--task", "mnist", "--data-dir", MISSING_DIR, "--train-num", "5"], [MISSING_DIR]),
    (["--task", "digits", "--train-num", "5000"], ["5000", "1297"]),
    (["--task", "digits", "--train-num", "50", "--batch-size", "-1"], ["--batch-size", "-1"]),
    (["--task", "digits", "--train-num", "50", "--alpha", "0"], ["--alpha", "0"]),
    (["--task", "add", "--train-num", "5"], ["--task add", "digits"]),
])
def test_bad_input_is_one_line(cli_error, args, needles):
    # in-process (no fresh interpreter needed); the two tests below run the real entry point
    cli_error("train", "omnigrok", *args, "--steps", "5", needles=needles)


def test_mnist_with_missing_files_names_them(tmp_path):
    assert_one_line_error(run_cli("train", "omnigrok", "--task", "mnist", "--data-dir", str(tmp_path),
                                  "--train-num", "5"), "t10k-images-idx3-ubyte")


def test_the_toy_model_does_not_take_an_image_task():
    assert_one_line_error(run_cli("train", "toy", "--task", "digits", "--train-num", "5"), "--task digits")


def test_update_flops_counts_forward_and_backward_products():
    from efftheory.models.omnigrok.training import update_flops

    # layers 2x3 and 3x4 on 5 rows: forward 2*5*(6+12), backward twice that
    assert update_flops((2, 3, 4), 5) == 6 * 5 * (6 + 12)


def test_threads_reach_the_omnigrok_run(monkeypatch):
    """--threads N sets the run's thread limit; without it the policy gives one thread to this
    small network (below a GFLOP per update)."""
    pytest.importorskip("sklearn")
    import efftheory.models.omnigrok.training as training

    seen = []
    real = training.compute_threads

    def spy(n):
        seen.append(n)
        return real(n)

    monkeypatch.setattr(training, "compute_threads", spy)
    _json("--task", "digits", *SMALL[:4], "--steps", "20", "--threads", "2")
    _json("--task", "digits", *SMALL[:4], "--steps", "20")
    assert seen == [2, 1]
