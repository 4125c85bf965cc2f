"""``efftheory train embed-mlp`` and ``efftheory phase --model embed-mlp``: the JSON of a run with
its Fourier analysis, the same numbers as the library, bad input."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest

from efftheory.models.embed_mlp import EmbedMLPConfig, train_embed_mlp
from efftheory.tasks import ModularAddition
from efftheory.theories.circle.fourier import fourier_spectrum
from tests.conftest import run_cli


def _json(*args):
    from efftheory.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(list(args) + ["--json"]) == 0
    return json.loads(out.getvalue())


def test_train_reports_the_run_and_its_spectrum(tmp_path):
    png = tmp_path / "run.png"
    d = _json("train", "embed-mlp", "--task", "modadd", "--p", "11", "--frac", "0.6", "--steps", "150",
              "--eval-every", "10", "--dim", "8", "--lr", "1e-2", "--seed", "1", "--plot", str(png))
    assert d["model"] == "embed-mlp" and png.read_bytes()[:4] == b"\x89PNG"
    split = ModularAddition(11).split(frac=0.6, seed=1)
    run = train_embed_mlp(split, EmbedMLPConfig(dim=8, lr=1e-2, seed=1), 150, eval_every=10)
    assert d["final_test_acc"] == pytest.approx(float(run.test_acc[-1]))
    assert d["steps_to_train"] == run.steps_to_train
    spec = fourier_spectrum(run.E_final)
    assert d["fourier"]["key_frequencies"] == spec.key_frequencies()
    assert d["fourier"]["participation"][1] == pytest.approx(float(spec.participation))
    assert set(d["fourier"]["predicted_first"]) == {"s=0", "s=1", "s=4"}


def test_train_on_an_even_modulus_has_no_prediction():
    d = _json("train", "embed-mlp", "--p", "10", "--frac", "0.6", "--steps", "20", "--dim", "4")
    assert d["fourier"]["predicted_first"] is None and d["fourier"]["key_frequencies"]


def test_phase_sweeps_the_parity_task(tmp_path):
    d = _json("phase", "--model", "embed-mlp", "--task", "parity", "--p", "16", "--x", "wd", "--x-range", "0,1",
              "--y", "frac", "--y-range", "0.05,0.1", "--seeds", "2", "--vary-split", "--steps", "40",
              "--eval-every", "20", "--jobs", "1", "--out", str(tmp_path / "sweep"))
    assert d["task"] == "parity" and "embed_mlp_cell" in (tmp_path / "sweep" / "manifest.json").read_text()
    assert sum(d["counts"].values()) == 8
    assert sum(np.asarray(v).sum() for v in d["phase_counts"].values()) == 8


@pytest.mark.parametrize("args,needle", [(["--lr", "-1"], "--lr"), (["--dim", "0"], "--dim"),
                                         (["--loss", "hinge"], "--loss")])
def test_bad_options_are_one_line(cli_error, args, needle):
    # in-process (no fresh interpreter needed; test_train_cli runs train's real entry point)
    cli_error("train", "embed-mlp", "--p", "11", "--frac", "0.5", "--steps", "10", *args, needles=(needle,))


def test_phase_text_names_the_models_own_loss(tmp_path):
    # the embedding MLP's default head is cross-entropy (the toy's is MSE): the summary says so
    proc = run_cli("phase", "--model", "embed-mlp", "--task", "modadd", "--p", "7", "--x", "wd", "--x-range", "0,1",
                   "--y", "frac", "--y-range", "0.5,0.6", "--steps", "20", "--eval-every", "10", "--jobs", "1",
                   "--out", str(tmp_path / "sweep"))
    assert proc.returncode == 0, proc.stderr
    first = proc.stdout.splitlines()[0]
    assert "loss ce" in first and "mse" not in first and "sum model" not in first


def test_bias_is_an_option_of_the_command_line():
    args = ("train", "embed-mlp", "--p", "11", "--frac", "0.5", "--steps", "30")
    with_bias, without = _json(*args, "--bias"), _json(*args, "--no-bias")
    assert with_bias["config"]["bias"] is True and without["config"]["bias"] is False
    assert _json(*args)["config"]["bias"] is False  # the model's default
