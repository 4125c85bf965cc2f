"""`efftheory phase --model transformer`: the paper's transformer as a sweep cell."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from efftheory.errors import InputError
from efftheory.experiments.sweep.grid import Axis, Grid
from efftheory.experiments.sweep.settings import SweepSettings
from efftheory.experiments.sweep.engine import run_sweep
from efftheory.models.transformer.cell import transformer_cell
from efftheory.tasks import ModularAddition
from efftheory.models.transformer.config import TransformerConfig
from efftheory.models.transformer.training import train_transformer
from tests.conftest import ROOT

GRID = Grid(Axis.parse("decoder_wd", "0:1:2"), Axis.parse("decoder_lr", "1e-3:1e-3:1"))
SETTINGS = SweepSettings(task="modadd", p=7, n_train=None, frac=0.8, steps=120, eval_every=10,
                         seeds=(0, 1), vary_split=True)


def test_a_cell_is_the_transformer_run_of_its_settings(tmp_path):
    result = run_sweep(GRID, SETTINGS, tmp_path / "out", cell_fn=transformer_cell)
    assert result.computed == 4 and result.complete
    for ix, wd in enumerate(GRID.x.values):
        for seed in (0, 1):
            split = ModularAddition(7, ordered=True).split(frac=0.8, seed=seed)
            run = train_transformer(split, TransformerConfig(decoder_wd=wd, decoder_lr=1e-3, seed=seed), 120,
                                    eval_every=10, stop_at_full=True)
            rec = result.record(ix, 0, seed)
            assert (rec["t_train"], rec["t_test"], rec["phase"], rec["steps_run"]) == (
                run.steps_to_train, run.steps_to_test, run.phase, run.steps_run)
            assert rec["final_test_acc"] == pytest.approx(float(run.test_acc[-1]))
    again = run_sweep(GRID, SETTINGS, tmp_path / "out", cell_fn=transformer_cell)
    assert again.computed == 0 and again.reused == 4  # resumed, nothing recomputed


def test_dropout_is_an_axis_of_the_transformer_and_not_of_the_toy(tmp_path):
    grid = Grid(Axis.parse("dropout", "0,0.2"), Axis.parse("decoder_lr", "1e-3:1e-3:1"))
    settings = SweepSettings(task="modadd", p=7, n_train=None, frac=0.8, steps=30, eval_every=10)
    result = run_sweep(grid, settings, tmp_path / "t", cell_fn=transformer_cell)
    split = ModularAddition(7, ordered=True).split(frac=0.8, seed=0)
    run = train_transformer(split, TransformerConfig(dropout=0.2, seed=0), 30, eval_every=10, stop_at_full=True)
    assert result.record(1, 0, 0)["final_test_acc"] == pytest.approx(float(run.test_acc[-1]))
    assert result.record(1, 0, 0)["settings"]["dropout"] == 0.2
    with pytest.raises(InputError, match="dropout"):
        run_sweep(grid, SweepSettings(steps=10), tmp_path / "toy")
    with pytest.raises(InputError, match="dropout must be below 1"):
        run_sweep(Grid(Axis.parse("dropout", "0,1"), grid.y), settings, tmp_path / "t1", cell_fn=transformer_cell)


def test_axes_the_transformer_does_not_have_are_refused_before_any_run(tmp_path):
    grid = Grid(Axis.parse("init_scale", "1:2:2"), Axis.parse("decoder_lr", "1e-3:1e-3:1"))
    with pytest.raises(InputError, match="no setting 'init_scale'"):
        run_sweep(grid, SETTINGS, tmp_path / "bad", cell_fn=transformer_cell)
    assert not (tmp_path / "bad" / "results.jsonl").exists()


@pytest.mark.parametrize("extra, message", [
    (["--task", "add"], "--task modadd"),
    (["--task", "modadd", "--loss", "mse"], "--loss"),
    (["--task", "modadd", "--preset", "fig5b"], "--preset"),
])
def test_cli_bad_input_is_one_line_exit_2(cli_error, tmp_path, extra, message):
    # in-process (no fresh interpreter needed; the sweep below runs phase's real entry point)
    cli_error("phase", "--model", "transformer", "--p", "7", "--frac", "0.8", "--x", "decoder_wd", "--x-range",
              "0:1:2", "--y", "decoder_lr", "--y-range", "1e-3:1e-3:1", "--out", tmp_path / "o", *extra,
              needles=(message,))


def test_cli_runs_a_tiny_transformer_sweep(tmp_path):
    args = [sys.executable, "-m", "efftheory", "phase", "--model", "transformer", "--task", "modadd", "--p", "7",
            "--frac", "0.8", "--x", "decoder_wd", "--x-range", "0:1:2", "--y", "decoder_lr", "--y-range",
            "1e-3:1e-3:1", "--steps", "60", "--eval-every", "10", "--jobs", "1", "--out", str(tmp_path / "o"), "--json"]
    proc = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert sum(out["counts"].values()) == 2
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert manifest["sweep"]["cell"].endswith("transformer_cell") and manifest["sweep"]["fixed"]["task"] == "modadd"
