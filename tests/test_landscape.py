"""The reduced (LU) landscape and the delay study: w_c from a grid, a landscape point is a run on
the sphere, the delay table's summaries, and `efftheory landscape` (inputs, JSON, MNIST files)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from efftheory.cli import main as cli_main
from efftheory.experiments.delay import DelayRun, delay_runs, delay_table, edge_norm
from efftheory.experiments.landscape import default_norms, loss_minimum, reduced_landscape
from efftheory.models.omnigrok.training import OmnigrokConfig, predicted_delay, train_omnigrok
from tests.test_images import idx_bytes, write_mnist
from tests.test_omnigrok import TASK


def test_loss_minimum_recovers_a_parabola_in_log_w_exactly():
    norms = np.geomspace(1.0, 100.0, 9)
    loss = 0.3 * (np.log(norms) - math.log(7.3)) ** 2 + 0.05
    assert loss_minimum(norms, loss) == pytest.approx(7.3, rel=1e-9)


def test_loss_minimum_at_the_grid_ends_and_with_non_finite_losses():
    norms = np.array([1.0, 2.0, 4.0, 8.0])
    assert loss_minimum(norms, np.array([0.1, 0.2, 0.3, 0.4])) == 1.0
    assert loss_minimum(norms, np.array([0.4, 0.3, 0.2, 0.1])) == 8.0
    assert loss_minimum(norms, np.array([np.nan, 0.3, np.inf, 0.1])) == 8.0
    np.testing.assert_allclose(default_norms(10.0, 0.5, 2.0, 3), [5.0, 10.0, 20.0])


@pytest.mark.slow
def test_a_landscape_point_is_a_run_on_the_sphere():
    config = OmnigrokConfig(width=12, wd=0.0, lr=3e-3)
    norms = [1.0, 3.0, 9.0]
    res = reduced_landscape(TASK, 15, norms, seeds=[0, 1], steps=40, config=config)
    assert res.test_loss.shape == res.train_acc.shape == (2, 3)
    direct = train_omnigrok(TASK.split(15, 1), OmnigrokConfig(width=12, wd=0.0, lr=3e-3, fixed_norm=3.0, seed=1), 40,
                            eval_every=40)
    assert res.test_loss[1, 1] == direct.test_loss[-1] and res.train_acc[1, 1] == direct.train_acc[-1]
    np.testing.assert_allclose(direct.weight_norm, 3.0, rtol=1e-5)
    assert res.w_c_low <= res.w_c <= res.w_c_high and 1.0 <= res.w_c_low and res.w_c_high <= 9.0
    for i in range(2):
        assert res.w_c_seeds[i] == pytest.approx(loss_minimum(res.norms, res.test_loss[i]))


def _run(alpha, wd, seed, t_test, t_norm, predicted=100.0):
    return DelayRun(alpha=alpha, wd=wd, seed=seed, w0=10.0, predicted=predicted, predicted_edge=None, t_train=5,
                    t_test=t_test, t_norm=t_norm, w_at_test=None if t_test is None else 3.0, final_test_acc=0.9,
                    steps_run=1000, seconds=0.1)


def test_delay_table_summarises_each_cell_over_seeds():
    runs = [_run(8, 0.1, 0, 300, 500), _run(8, 0.1, 1, 100, None), _run(8, 0.1, 2, 200, 700),
            _run(1, 0.1, 0, None, None, predicted=0.0)]
    table = delay_table(runs)
    assert [(r["alpha"], r["wd"], r["runs"]) for r in table] == [(1, 0.1, 1), (8, 0.1, 3)]
    cell = table[1]
    assert cell["t_test"] == {"median": 200.0, "low": 100.0, "high": 300.0, "reached": 3}
    assert cell["t_norm"] == {"median": 600.0, "low": 500.0, "high": 700.0, "reached": 2}
    assert table[0]["t_test"]["reached"] == 0 and table[0]["t_test"]["median"] is None
    assert edge_norm(np.array([1.0, 2.0, 4.0]), np.array([[0.95, 0.92, 0.5], [0.85, 0.91, 0.95]])) == 2.0
    assert edge_norm(np.array([1.0, 2.0]), np.array([[0.1, 0.2]])) is None


def test_delay_runs_measure_what_they_say():
    config = OmnigrokConfig(width=24, lr=3e-3)
    w_c = 4.0
    runs = delay_runs(TASK, 30, w_c, alphas=[6.0], wds=[3.0], seeds=[0], config=config, max_steps=800, eval_every=20)
    (r,) = runs
    assert r.predicted == pytest.approx(predicted_delay(r.w0, w_c, 3e-3, 3.0))
    res = train_omnigrok(TASK.split(30, 0), OmnigrokConfig(width=24, lr=3e-3, alpha=6.0, wd=3.0), 800, eval_every=20)
    # the same trajectory: the first recorded step at or below w_c ...
    assert r.t_norm == int(res.steps[np.flatnonzero(res.weight_norm <= w_c)[0]])
    # ... and with a strong decay the norm follows w0 exp(-lr wd t) (measured 220 against 214.5)
    assert abs(r.t_norm - r.predicted) <= 0.1 * r.predicted + 20
    assert r.t_test == res.steps_to_test and r.t_train == res.steps_to_train


# ---------------------------------------------------------------- the command


def _cli(capsys, *args):
    code = cli_main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("args, message", [
    (["--norms", "1,-2"], "--norms must be a comma-separated list of positive numbers"),
    (["--train-num", "0"], "--train-num must be a positive integer"),
    (["--low", "4", "--high", "2"], "--low 4.0 must be below --high 2.0"),
    (["--count", "2"], "--count must be at least 3"),
    (["--task", "mnist"], "needs --data-dir"),
    (["--data-dir", "/tmp"], "--data-dir applies only to --task mnist"),
    (["--plot", "/nonexistent/dir/x.png"], "--plot"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, args, message):
    try:
        code = cli_main(["landscape", *args])
    except SystemExit as exc:  # argparse's own refusals
        code = exc.code
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and err.count("\n") == 1 and message in err, err


def test_landscape_on_mnist_files_and_their_errors(tmp_path, capsys):
    write_mnist(tmp_path, n_train=20, n_test=8, side=4)
    code, out, err = _cli(capsys, "landscape", "--task", "mnist", "--data-dir", str(tmp_path), "--train-num", "10",
                          "--norms", "1,2,4", "--seeds", "0", "--steps", "5", "--width", "8", "--json")
    assert code == 0 and err == ""
    data = json.loads(out)
    assert data["task"] == "mnist" and data["train_num"] == 10 and len(data["test_acc"][0]) == 3
    assert 1.0 <= data["w_c"] <= 4.0
    raw = idx_bytes(np.zeros((20, 4, 4), np.uint8))
    (tmp_path / "train-images-idx3-ubyte").write_bytes(raw[:-3])
    code, out, err = _cli(capsys, "landscape", "--task", "mnist", "--data-dir", str(tmp_path), "--json")
    assert code == 2 and out == "" and err.count("\n") == 1 and "truncated IDX file" in err
    (tmp_path / "train-images-idx3-ubyte").write_bytes(raw)
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(b"\x08\x03" + raw[2:])
    code, out, err = _cli(capsys, "landscape", "--task", "mnist", "--data-dir", str(tmp_path))
    assert code == 2 and err.count("\n") == 1 and "not an IDX file" in err and "t10k-images" in err


def test_delay_command_on_mnist_files(tmp_path, capsys):
    write_mnist(tmp_path, n_train=20, n_test=8, side=4)
    code, out, err = _cli(capsys, "delay", "--task", "mnist", "--data-dir", str(tmp_path), "--train-num", "10",
                          "--w-c", "2", "--w-edge", "3", "--alphas", "1,4", "--wds", "1", "--seeds", "0,1",
                          "--max-steps", "40", "--eval-every", "10", "--width", "8", "--json")
    assert code == 0 and err == ""
    data = json.loads(out)
    assert [(r["alpha"], r["wd"], r["runs"]) for r in data["table"]] == [(1.0, 1.0, 2), (4.0, 1.0, 2)]
    for r in data["runs"]:
        assert r["predicted"] == pytest.approx(predicted_delay(r["w0"], 2.0, 1e-3, 1.0))
        assert r["predicted_edge"] == pytest.approx(predicted_delay(r["w0"], 3.0, 1e-3, 1.0))
        assert r["steps_run"] <= 40


@pytest.mark.parametrize("args, message", [
    (["--alphas", "1"], "required: --w-c"),
    (["--w-c", "0"], "--w-c must be positive"),
    (["--w-c", "5", "--alphas", "1,0"], "--alphas must be a comma-separated list of positive numbers"),
    (["--w-c", "5", "--wds", "x"], "--wds must be a comma-separated list of non-negative numbers"),
    (["--w-c", "5", "--seeds", "-1"], "--seeds must be non-negative"),
    (["--w-c", "5", "--task", "mnist", "--data-dir", "/nonexistent-dir"], "not a directory"),
])
def test_delay_bad_input_is_one_line_and_exit_2(capsys, args, message):
    try:
        code = cli_main(["delay", *args])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and err.count("\n") == 1 and message in err, err
