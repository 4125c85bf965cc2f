"""Runs shared between sweeps: a run another sweep's store holds is copied, and the copy is the
record this sweep would have computed; runs of another loss, kernel or budget are never taken."""

from __future__ import annotations

import json

import pytest

from efftheory.runtime.store import RESULTS
from efftheory.experiments.sweep.grid import Axis, Grid
from efftheory.experiments.sweep.settings import SweepSettings
from efftheory.experiments.sweep.engine import run_sweep
from efftheory.models.toy.cell import network_cell

# Two tiny real-network sweeps that share a row: A (embed lr x decoder lr, as Fig 5a) at embed lr
# 1e-3 is B (decoder lr x decoder wd, as Fig 5b) at decoder wd 0, cell for cell and seed for seed.
A = Grid(Axis.from_values("embed_lr", (1e-3, 1e-2)), Axis.from_values("decoder_lr", (1e-3, 1e-2)))
B = Grid(Axis.from_values("decoder_lr", (1e-3, 1e-2)), Axis.from_values("decoder_wd", (0.0, 1.0)))
SETTINGS = SweepSettings(steps=150, seed=3, seeds=(0, 1), network={"width": 8})
RESULT_FIELDS = ("t_train", "t_test", "t_rqi", "steps_run", "final_train_acc", "final_test_acc", "final_rqi",
                 "phase", "gap")


def _results(rec: dict) -> dict:
    return {k: rec[k] for k in RESULT_FIELDS}


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """Sweep A, run once."""
    out = tmp_path_factory.mktemp("a")
    run_sweep(A, SETTINGS, out)
    return out


def test_the_shared_row_is_copied_and_equals_the_computed_one(source, tmp_path):
    alone = run_sweep(B, SETTINGS, tmp_path / "alone")
    shared = run_sweep(B, SETTINGS, tmp_path / "shared", share_from=[source])
    assert (shared.shared, shared.computed, shared.reused) == (4, 4, 0)  # the wd 0 row: 2 cells x 2 seeds
    for ix, iy, _ in B.cells():
        for seed in SETTINGS.network_seeds:
            got, want = shared.record(ix, iy, seed), alone.record(ix, iy, seed)
            assert _results(got) == _results(want)
            assert got["settings"] == want["settings"] and got["seed"] == seed
            if iy == 0:  # taken from A's run at embed lr 1e-3 and this decoder lr
                origin = run_sweep(A, SETTINGS, source, compute=False).record(0, ix, seed)
                assert got["shared_from"] == origin["digest"] != got["digest"]
                assert got["seconds"] == origin["seconds"]
            else:
                assert "shared_from" not in got


def test_shared_lines_are_kept_on_resume(source, tmp_path):
    first = run_sweep(B, SETTINGS, tmp_path, share_from=[source])
    again = run_sweep(B, SETTINGS, tmp_path)
    assert (again.computed, again.reused, again.shared, again.dropped) == (0, 8, 0, 0)
    assert again.records == first.records


def test_nothing_is_taken_from_a_sweep_of_another_loss_kernel_or_budget(source, tmp_path):
    for name, settings in [("ce", SweepSettings(steps=150, seed=3, seeds=(0, 1), network={"width": 8, "loss": "ce"})),
                           ("kernel", SweepSettings(steps=150, seed=3, seeds=(0, 1), network={"width": 8}, eval_every=10)),
                           ("budget", SweepSettings(steps=100, seed=3, seeds=(0, 1), network={"width": 8})),
                           ("split", SweepSettings(steps=150, seed=4, seeds=(0, 1), network={"width": 8}))]:
        result = run_sweep(B, settings, tmp_path / name, share_from=[source])
        assert (result.shared, result.computed) == (0, 8), name


def test_an_impossible_stored_value_is_not_shared(source, tmp_path):
    copy = tmp_path / "a"
    copy.mkdir()
    (copy / "manifest.json").write_bytes((source / "manifest.json").read_bytes())
    lines = [json.loads(line) for line in (source / RESULTS).read_text().splitlines()]
    for rec in lines:
        if rec["ix"] == 0 and rec["iy"] == 0 and rec["seed"] == 0:
            rec["final_test_acc"] = 1.5
    (copy / RESULTS).write_text("".join(json.dumps(r) + "\n" for r in lines))
    result = run_sweep(B, SETTINGS, tmp_path / "b", share_from=[copy])
    assert result.shared == 3 and "shared_from" not in result.record(0, 0, 0)


def test_the_identity_is_the_resolved_run():
    fixed = SETTINGS.run_fixed(1)
    one = network_cell.identity({"embed_lr": 1e-3, "decoder_lr": 1e-2}, fixed)
    same = network_cell.identity({"decoder_lr": 1e-2, "decoder_wd": 0.0}, fixed)  # defaults made explicit
    assert one == same and one["network"]["seed"] == 1 and len(one["train"]) == 45
    assert network_cell.identity({"decoder_lr": 1e-2, "decoder_wd": 1.0}, fixed) != one


def test_cli_share_from(cli_json, source, tmp_path):
    out = cli_json("phase", "--x", "decoder_lr", "--x-range", "1e-3,1e-2", "--y", "decoder_wd", "--y-range", "0,1",
                   "--steps", "150", "--seeds", "0,1", "--split-seed", "3", "--width", "8", "--jobs", "1",
                   "--out", tmp_path / "b", "--share-from", source)
    assert (out["shared"], out["computed"]) == (4, 4)


def test_cli_share_from_a_directory_that_is_no_sweep_exits_2(cli_error, tmp_path):
    cli_error("phase", "--preset", "fig5b", "--x-range", "1e-3,1e-2", "--y-range", "0,1", "--steps", "10",
              "--out", tmp_path / "b", "--share-from", tmp_path / "nothing", needles=("nothing", "not a sweep"))


def _copy_with(source, tmp_path, edit_records=None, manifest=None):
    """A copy of the source store with its records edited and/or its manifest replaced."""
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "manifest.json").write_bytes(manifest if manifest is not None else (source / "manifest.json").read_bytes())
    lines = [json.loads(line) for line in (source / RESULTS).read_text().splitlines()]
    if edit_records:
        lines = [edit_records(rec) for rec in lines]
    (copy / RESULTS).write_text("".join(json.dumps(r) + "\n" for r in lines))
    return copy


def test_forged_or_incomplete_records_are_not_shared(source, tmp_path):
    def forge(rec):  # every run of cell (0, 0), seed 0 claims comprehension without training
        if (rec["ix"], rec["iy"], rec["seed"]) == (0, 0, 0):
            return {**rec, "t_train": None, "t_test": None, "gap": None, "phase": "comprehension"}
        if (rec["ix"], rec["iy"], rec["seed"]) == (0, 0, 1):
            return {k: v for k, v in rec.items() if k != "seed"}
        return rec

    result = run_sweep(B, SETTINGS, tmp_path / "b", share_from=[_copy_with(source, tmp_path, forge)])
    assert result.shared == 2 and "shared_from" not in result.record(0, 0, 0)
    assert "shared_from" not in result.record(0, 0, 1)
    assert result.record(0, 0, 0)["phase"] == run_sweep(A, SETTINGS, source, compute=False).record(0, 0, 0)["phase"]


@pytest.mark.parametrize("damage", ["no fixed", "sweep a list", "deep"])
def test_a_damaged_share_from_manifest_is_one_line(cli_error, source, tmp_path, damage):
    manifest = json.loads((source / "manifest.json").read_text())
    if damage == "no fixed":
        del manifest["sweep"]["fixed"]
        data = json.dumps(manifest).encode()
    elif damage == "sweep a list":
        manifest["sweep"] = [manifest["sweep"]]
        data = json.dumps(manifest).encode()
    else:
        data = b'{"format":"efftheory-phase-sweep/2","sweep":' + b'{"a":' * 3000 + b"1" + b"}" * 3001
    copy = _copy_with(source, tmp_path, manifest=data)
    cli_error("phase", "--x", "decoder_lr", "--x-range", "1e-3,1e-2", "--y", "decoder_wd", "--y-range", "0,1",
              "--steps", "150", "--seeds", "0,1", "--split-seed", "3", "--width", "8", "--jobs", "1",
              "--out", tmp_path / "b", "--share-from", copy, needles=(f"--share-from {str(copy)!r}",))
