"""Fig 5d plumbing: explicit axis value lists, a task in the sweep settings, the fig5d preset and
``efftheory phase --preset fig5d`` on a tiny sub-grid."""

from __future__ import annotations

import json

import numpy as np
import pytest

from efftheory.errors import InputError
from efftheory.phases import PHASES
from efftheory.runtime.store import RESULTS
from efftheory.experiments.sweep.presets import PRESETS, first_split_seed, ideal_test_accuracy
from efftheory.experiments.sweep.grid import Axis
from efftheory.experiments.sweep.settings import SweepSettings
from efftheory.models.toy.cell import network_cell
from efftheory.tasks import make_task
from efftheory.theories.linear.theory import reachable_test_accuracy

WD = "0,1,2,3,5,10,20,30,50,100,200"


# ------------------------------------------------------------------ axes


def test_axis_value_list_keeps_exactly_the_values():
    axis = Axis.parse("decoder_wd", WD)
    assert axis.values == (0.0, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 50.0, 100.0, 200.0)
    assert (axis.lo, axis.hi, axis.n, axis.log) == (0.0, 200.0, 11, False)
    assert axis.to_dict()["values"] == list(axis.values)
    assert Axis.parse("decoder_wd", axis.spec()) == axis  # the spec reads back
    assert Axis.parse("width", "8,16,64").values == (8, 16, 64)
    assert all(isinstance(v, int) for v in Axis.parse("width", "8,16,64").values)


def test_range_axes_are_unchanged_and_have_no_value_list_in_their_manifest():
    axis = Axis.parse("decoder_wd", "0:10:11")
    assert axis.values == tuple(float(v) for v in range(11))
    assert axis.to_dict() == {"name": "decoder_wd", "lo": 0.0, "hi": 10.0, "n": 11, "log": False}
    lr = Axis.parse("decoder_lr", "1e-5:1e-2:10:log")
    assert lr.values[0] == 1e-5 and lr.values[-1] == 1e-2 and len(lr.values) == 10
    assert "values" not in SweepSettings().to_dict() and "task" not in SweepSettings().to_dict()


@pytest.mark.parametrize("name, text, needle", [
    ("decoder_wd", "0,2,1", "increase"),
    ("decoder_wd", "0,1,1", "increase"),
    ("decoder_wd", "-1,0,1", "out of range"),
    ("decoder_lr", "0,1e-3", "out of range"),
    ("decoder_wd", "0,x,2", "list of numbers"),
    ("decoder_wd", "0,inf", "finite"),
    ("width", "8,16.5", "whole"),
    ("frac", "0.2,1.0", "test set"),
])
def test_bad_value_lists_are_refused(name, text, needle):
    with pytest.raises(InputError, match=needle):
        Axis.parse(name, text)


# ------------------------------------------------------------------ the preset and its split


def test_fig5d_preset_is_the_papers_permutation_toy():
    pr = PRESETS["fig5d"]
    grid = pr.grid
    assert grid.x.name == "decoder_lr" and grid.x.log and grid.x.n == 10
    assert grid.x.values[0] == 1e-5 and grid.x.values[-1] == 1e-2
    assert grid.y.values == tuple(float(v) for v in WD.split(","))
    assert (pr.task, pr.p, pr.n_train, pr.loss) == ("s3", 6, 24, "mse")
    assert dict(pr.network) == {"embed": "matrix", "dim": 9, "embed_l1": 1e-3, "init_scale": 0.1}


def test_s3_split_seed_is_chosen_by_reachable_test_accuracy():
    seed = first_split_seed(6, n_train=24, task="s3")
    split = make_task("s3").split(n_train=24, seed=seed)
    assert ideal_test_accuracy(6, n_train=24, seed=seed, task="s3") == reachable_test_accuracy(split) == 1.0
    # with few training samples some class or symbol is missing from training, which caps it
    values = []
    for s in range(20):
        split = make_task("s3").split(n_train=4, seed=s)
        labels = set(split.task.labels[split.train].tolist())
        symbols = set(split.train_pairs.ravel().tolist())
        want = np.mean([split.task.labels[t] in labels and {int(a), int(b)} <= symbols
                        for t, (a, b) in zip(split.test, split.test_pairs)])
        values.append(ideal_test_accuracy(6, n_train=4, seed=s, task="s3"))
        assert values[-1] == pytest.approx(want)
    assert min(values) < 1.0


def test_network_cell_trains_the_matrix_model_on_s3():
    settings = SweepSettings(task="s3", p=6, n_train=24, steps=50, network={**PRESETS["fig5d"].network, "width": 16})
    out = network_cell({"decoder_lr": 1e-3, "decoder_wd": 1.0}, settings.run_fixed(0))
    assert out["phase"] in PHASES and 1 <= out["steps_run"] <= 50
    assert 0.0 <= out["final_rqi"] <= 1.0 and 0.0 <= out["final_train_acc"] <= 1.0
    with pytest.raises(InputError, match="6 symbols"):
        SweepSettings(task="s3", p=7, n_train=24).check_grid(PRESETS["fig5d"].grid)


# ------------------------------------------------------------------ the command line


def test_phase_preset_fig5d_on_a_tiny_sub_grid(cli_json, tmp_path):
    out = tmp_path / "fig5d"
    args = ("phase", "--preset", "fig5d", "--x-range", "1e-4,1e-3", "--y-range", "0,200", "--steps", "60",
            "--seeds", "2", "--width", "16", "--jobs", "1", "--out", out)
    res = cli_json(*args)
    assert res["task"] == "s3" and res["p"] == 6 and res["n_train"] == 24 and res["split_seed"] == 0
    assert res["network"] == {"dim": 9, "embed": "matrix", "embed_l1": 1e-3, "init_scale": 0.1, "loss": "mse",
                              "width": 16}
    assert res["x_values"] == [1e-4, 1e-3] and res["y_values"] == [0.0, 200.0]
    assert res["cells"] == 4 and res["runs"] == 8 and sum(res["counts"].values()) == 8
    assert res["ideal_test_accuracy"] == 1.0
    assert all(p in PHASES for row in res["phases"] for p in row)
    lines = [json.loads(s) for s in (out / RESULTS).read_text().splitlines()]
    assert len(lines) == 8 and {(r["ix"], r["iy"], r["seed"]) for r in lines} == {
        (ix, iy, s) for ix in range(2) for iy in range(2) for s in range(2)}
    for rec in lines:
        assert rec["phase"] in PHASES and 1 <= rec["steps_run"] <= 60
        assert rec["settings"] == {"decoder_lr": [1e-4, 1e-3][rec["ix"]], "decoder_wd": [0.0, 200.0][rec["iy"]]}
        assert rec["split_seed"] == 0 and 0.0 <= rec["final_rqi"] <= 1.0
    manifest = json.loads((out / "manifest.json").read_text())["sweep"]
    assert manifest["fixed"]["task"] == "s3" and manifest["grid"]["y"]["values"] == [0.0, 200.0]
    again = cli_json(*args)  # resumable
    assert again["computed"] == 0 and again["reused"] == 8 and again["phases"] == res["phases"]


def test_phase_fig5d_with_the_wrong_p_exits_2(cli_error, tmp_path):
    # in-process, as the next (no fresh interpreter needed; test_phase_cli runs phase's real entry point)
    cli_error("phase", "--preset", "fig5d", "--p", "7", "--steps", "10", "--out", tmp_path / "o", needles=("6 symbols",))


def test_phase_bad_value_list_exits_2(cli_error, tmp_path):
    cli_error("phase", "--preset", "fig5d", "--y-range", "0,5,3", "--out", tmp_path / "o", needles=("increase",))


def test_paper_repro_fig5d_quick(tmp_path):
    from paper_repro import fig5d

    assert fig5d.main(["--quick", "--out", str(tmp_path), "--jobs", "1"]) == 0
    obj = json.loads((tmp_path / "fig5d_phase_quick.json").read_text())
    d = obj["data"]
    assert (d["x"], d["y"]) == ("decoder_lr", "decoder_wd")
    assert d["x_values"] == [1e-5, 1e-2] and d["y_values"] == [0.0, 200.0]
    assert d["fixed"]["task"] == "s3" and d["fixed"]["network"]["embed"] == "matrix"
    assert sum(d["counts"].values()) == 4 and all(p in PHASES for row in d["phases"] for p in row)
    assert obj["settings"]["split_seed"] == obj["settings"]["default_split_seed"] == 0
    assert (tmp_path / "fig5d_phase_quick.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
