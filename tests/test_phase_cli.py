"""``efftheory phase``: JSON contract, resume, refusal of a different grid (exit 2), bad input, plot."""

from __future__ import annotations

import json

import pytest

from efftheory.phases import PHASES
from efftheory.runtime.store import RESULTS
from tests.conftest import MISSING_DIR, assert_one_line_error, run_cli

SMALL = ("--x", "decoder_lr", "--x-range", "1e-5:1e-2:4:log", "--y", "decoder_wd", "--y-range", "0:10:3",
         "--cell", "synthetic", "--jobs", "1")


def test_json_contract_and_resume(cli_json, tmp_path):
    out = tmp_path / "run"
    first = cli_json("phase", *SMALL, "--out", out, "--seed", "2")
    assert (first["x"], first["y"]) == ("decoder_lr", "decoder_wd")
    assert first["x_values"] == [1e-5, 1e-4, 1e-3, 1e-2] and first["y_values"] == [0.0, 5.0, 10.0]
    assert first["cells"] == 12 and first["computed"] == 12 and first["reused"] == 0
    assert first["steps"] == 10_000 and first["gap"] == 1000.0 and first["p"] == 10 and first["n_train"] == 45
    assert first["network"] == {"loss": "mse"}
    assert len(first["phases"]) == 3 and all(len(row) == 4 for row in first["phases"])
    assert all(p in PHASES for row in first["phases"] for p in row)
    assert sum(first["counts"].values()) == 12
    lines = [json.loads(s) for s in (out / RESULTS).read_text().splitlines()]
    for rec in lines:  # the JSON maps and the store agree cell by cell
        assert first["phases"][rec["iy"]][rec["ix"]] == rec["phase"]
        assert first["t_test"][rec["iy"]][rec["ix"]] == rec["t_test"]
    again = cli_json("phase", *SMALL, "--out", out, "--seed", "2")
    assert again["computed"] == 0 and again["reused"] == 12
    assert again["phases"] == first["phases"] and again["gaps"] == first["gaps"]


def test_different_grid_into_same_directory_exits_2(tmp_path):
    out = tmp_path / "run"
    proc = run_cli("phase", *SMALL, "--out", out)
    assert proc.returncode == 0, proc.stderr
    before = (out / RESULTS).read_bytes()
    other = list(SMALL)
    other[other.index("0:10:3")] = "0:10:5"
    assert_one_line_error(run_cli("phase", *other, "--out", out), "different sweep", "grid.y.n")
    assert_one_line_error(run_cli("phase", *SMALL, "--out", out, "--loss", "ce"), "different sweep", "loss")
    assert (out / RESULTS).read_bytes() == before


@pytest.mark.parametrize(
    "args,needle",
    [
        (("--x-range", "1e-2:1e-5:3:log"), "LO < HI"),
        (("--y", "decoder_lr", "--y-range", "1e-3:1e-2:2"), "both"),
        (("--steps", "0"), "--steps"),
        (("--steps", "1.5"), "--steps"),
        (("--plot", f"{MISSING_DIR}/x.png"), "--plot"),
        (("--x", "banana"), "--x"),
        (("--p", "7"), "--train-num"),
    ],
)
def test_bad_input_exits_2_with_one_line(cli_error, tmp_path, args, needle):
    """In-process (no fresh interpreter needed; the subprocess tests above and below check the
    real entry point's exit status and its one line)."""
    argv = list(SMALL) + ["--out", str(tmp_path / "o")]
    for flag, value in zip(args[::2], args[1::2]):
        if flag in argv:
            argv[argv.index(flag) + 1] = value
        else:
            argv += [flag, value]
    cli_error("phase", *argv, needles=(needle,))
    assert not (tmp_path / "o" / RESULTS).exists()


def test_missing_axis_without_preset_exits_2(tmp_path):
    assert_one_line_error(run_cli("phase", "--x", "embed_lr", "--out", tmp_path / "o"), "--x-range")


def test_preset_fig5c_grid_and_plot(cli_json, tmp_path):
    plot = tmp_path / "f.png"
    res = cli_json("phase", "--preset", "fig5c", "--cell", "synthetic", "--jobs", "2", "--out", tmp_path / "o",
                   "--plot", plot, "--annotate-gap", "--steps", "1e5")
    assert (res["x"], res["y"], res["network"]["loss"], res["steps"]) == ("decoder_lr", "decoder_wd", "ce", 100_000)
    assert res["x_values"][0] == 1e-5 and res["x_values"][-1] == 1e-2 and len(res["x_values"]) == 10
    assert res["y_values"] == [float(v) for v in range(11)] and res["cells"] == 110 == res["computed"]
    assert plot.stat().st_size > 1000 and res["plot"] == str(plot)


def test_preset_fig5a_axes_and_override(cli_json, tmp_path):
    res = cli_json("phase", "--preset", "fig5a", "--y-range", "1e-4:1e-3:2:log", "--x-range", "1e-4:1e-3:2:log",
                   "--cell", "synthetic", "--jobs", "1", "--out", tmp_path / "o")
    assert (res["x"], res["y"], res["network"]["loss"]) == ("embed_lr", "decoder_lr", "mse")
    assert res["x_values"] == [1e-4, 1e-3] and res["cells"] == 4


def test_text_summary(cli_run, tmp_path):
    proc = cli_run("phase", *SMALL, "--out", tmp_path / "o")
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert "12 cells: 12 computed" in text
    rows = [line.split() for line in text.splitlines() if line.startswith("  ")]
    assert [row[0] for row in rows] == ["10", "5", "0"]  # highest y first, like the plot
    assert all(len(row) == 5 and set(row[1:]) <= set("CGMX") for row in rows)


def test_real_network_tiny_sweep(cli_json, tmp_path):
    res = cli_json("phase", "--x", "embed_lr", "--x-range", "1e-3:1e-2:2:log", "--y", "decoder_lr",
                   "--y-range", "1e-3:1e-2:2:log", "--steps", "200", "--width", "16", "--jobs", "1",
                   "--out", tmp_path / "o")
    assert res["cells"] == 4 and res["network"] == {"loss": "mse", "width": 16}
    for row_steps, row_phase in zip(res["steps_run"], res["phases"]):
        for steps, phase in zip(row_steps, row_phase):
            assert 1 <= steps <= 200 and phase in PHASES


def test_dask_scheduler_address_gives_the_same_sweep(cli_json, tmp_path):
    distributed = pytest.importorskip("distributed")
    local = cli_json("phase", *SMALL, "--out", tmp_path / "local")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster:
        remote = cli_json("phase", *SMALL, "--out", tmp_path / "dask", "--dask", cluster.scheduler_address)
    assert remote["computed"] == 12
    for key in ("phases", "gaps", "t_train", "t_test", "t_rqi", "steps_run"):
        assert remote[key] == local[key]


def test_a_split_that_cannot_generalise_is_pointed_out(cli_run, tmp_path):
    tiny = ["--x", "embed_lr", "--x-range", "1e-3:1e-2:2:log", "--y", "decoder_lr", "--y-range",
            "1e-3:1e-2:2:log", "--steps", "20", "--width", "8", "--jobs", "1"]
    # n_train = 45 of 55: seed 0's split has ideal test accuracy 0.8, seed 3's has 1.
    proc = cli_run("phase", *tiny, "--seed", "0", "--out", tmp_path / "a")
    assert proc.returncode == 0
    assert "ideal test accuracy 0.80 < 0.9" in proc.stderr and "seed 3 can" in proc.stderr
    proc = cli_run("phase", *tiny, "--seed", "3", "--out", tmp_path / "b")
    assert proc.returncode == 0 and "ideal test accuracy" not in proc.stderr
    proc = cli_run("phase", *tiny, "--seed", "3", "--out", tmp_path / "b", "--json")
    assert json.loads(proc.stdout)["ideal_test_accuracy"] == 1.0
