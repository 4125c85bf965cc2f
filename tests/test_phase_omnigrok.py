"""`efftheory phase --model omnigrok --task digits`: the Omnigrok MLP as a sweep cell."""

from __future__ import annotations

import pytest

from efftheory.errors import InputError
from efftheory.experiments.sweep.engine import run_sweep
from efftheory.experiments.sweep.grid import Axis, Grid
from efftheory.experiments.sweep.settings import SweepSettings
from efftheory.models import MODELS
from efftheory.models.omnigrok.cell import omnigrok_cell
from efftheory.models.omnigrok.training import OmnigrokConfig, train_omnigrok
from tests.conftest import assert_one_line_error, run_cli

pytest.importorskip("sklearn")

GRID = Grid(Axis.parse("alpha", "1,4"), Axis.parse("train_num", "60,120"))
SETTINGS = SweepSettings(task="digits", n_train=None, steps=60, eval_every=20, gap=20,
                         network={"width": 16}, seeds=(0, 1), vary_split=True)


def test_the_registered_cell_is_the_omnigrok_run_of_its_settings(tmp_path):
    from efftheory.tasks import make_task

    assert MODELS["omnigrok"].cell is omnigrok_cell
    result = run_sweep(GRID, SETTINGS, tmp_path / "out", cell_fn=omnigrok_cell)
    assert result.computed == 8 and result.complete
    for ix, alpha in enumerate(GRID.x.values):
        for iy, n in enumerate(GRID.y.values):
            for seed in (0, 1):
                split = make_task("digits").split(n_train=n, seed=seed)
                run = train_omnigrok(split, OmnigrokConfig(width=16, alpha=alpha, seed=seed), 60, eval_every=20, gap=20)
                rec = result.record(ix, iy, seed)
                assert (rec["t_train"], rec["t_test"], rec["phase"], rec["steps_run"]) == (
                    run.steps_to_train, run.steps_to_test, run.phase, run.steps_run)
                assert rec["final_test_acc"] == pytest.approx(float(run.test_acc[-1]))
                assert rec["final_rqi"] is None and rec["t_rqi"] is None  # no embeddings
    again = run_sweep(GRID, SETTINGS, tmp_path / "out", cell_fn=omnigrok_cell)
    assert again.computed == 0 and again.reused == 8  # resumed, nothing recomputed


def test_axes_and_tasks_the_omnigrok_model_does_not_have_are_refused_before_any_run(tmp_path):
    grid = Grid(Axis.parse("embed_lr", "1e-3,1e-2"), Axis.parse("alpha", "1,2"))
    with pytest.raises(InputError, match="no setting 'embed_lr'"):
        run_sweep(grid, SweepSettings(task="digits", n_train=50, steps=10), tmp_path / "bad", cell_fn=omnigrok_cell)
    assert not (tmp_path / "bad" / "results.jsonl").exists()
    with pytest.raises(InputError, match="image tasks"):
        run_sweep(Grid(GRID.x, Axis.parse("wd", "0,0.1")), SweepSettings(task="add", n_train=10, steps=10),
                  tmp_path / "add", cell_fn=omnigrok_cell)
    with pytest.raises(InputError, match="2000"):  # more images than the pool holds
        run_sweep(Grid(GRID.x, Axis.parse("train_num", "100,2000")), SETTINGS, tmp_path / "big",
                  cell_fn=omnigrok_cell)


def test_the_command_line_maps_the_phases(tmp_path):
    proc = run_cli("phase", "--model", "omnigrok", "--task", "digits", "--x", "alpha", "--x-range", "1,4",
                   "--y", "wd", "--y-range", "0.01,0.1", "--train-num", "80", "--width", "16", "--steps", "40",
                   "--eval-every", "20", "--jobs", "1", "--out", tmp_path / "sweep", "--plot", tmp_path / "map.png")
    assert proc.returncode == 0, proc.stderr
    assert "task digits, loss mse" in proc.stdout and "4 cells: 4 computed" in proc.stdout
    assert (tmp_path / "map.png").stat().st_size > 0


@pytest.mark.parametrize("args, needles", [
    (["--p", "10", "--train-num", "50"], ["--p does not apply"]),
    ([], ["--train-num"]),
])
def test_bad_input_is_one_line(cli_error, tmp_path, args, needles):
    # in-process (no fresh interpreter needed; the test above runs phase's real entry point)
    cli_error("phase", "--model", "omnigrok", "--task", "digits", "--x", "alpha", "--x-range", "1,4",
              "--y", "wd", "--y-range", "0.01,0.1", *args, "--steps", "5", "--out", tmp_path / "s", needles=needles)


def test_a_task_read_from_files_is_refused_with_what_works_instead(tmp_path):
    # phase has no --data-dir: the error must not send the user to an option it lacks
    proc = run_cli("phase", "--model", "omnigrok", "--task", "mnist", "--train-num", "100", "--x", "alpha",
                   "--x-range", "1,4", "--y", "wd", "--y-range", "0.01,0.1", "--steps", "5", "--out", tmp_path / "s")
    assert_one_line_error(proc, "--task mnist", "efftheory train --model omnigrok --task mnist --data-dir DIR")
    assert not (tmp_path / "s").exists()
