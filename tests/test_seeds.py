"""Seeds as a sweep dimension: per-run records, majority phase and share, resume per run,
executors, the diverged phase, presets and their default split, the plot and the CLI."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from efftheory.phases import PHASES
from efftheory.runtime.store import RESULTS
from efftheory.experiments.sweep.presets import PRESETS, first_split_seed, ideal_test_accuracy
from efftheory.experiments.sweep.grid import Axis, Grid
from efftheory.experiments.sweep.settings import SweepSettings
from efftheory.experiments.sweep.engine import run_sweep
from efftheory.experiments.sweep.cells import synthetic_cell

GRID = Grid(Axis.parse("decoder_lr", "1e-5:1e-2:4:log"), Axis.parse("decoder_wd", "0:10:3"))
SEEDS = (0, 1, 2)
MULTI = SweepSettings(steps=10_000, seed=3, seeds=SEEDS)

CALLS: list[tuple] = []


def counting_cell(settings, fixed):
    """synthetic_cell that remembers which (cell, seed) it ran."""
    CALLS.append((tuple(sorted(settings.items())), fixed["seed"]))
    return synthetic_cell(settings, fixed)


def diverging_cell(settings, fixed):
    """synthetic_cell whose highest decoder lr diverges (non-finite metrics, phase 'diverged')."""
    out = synthetic_cell(settings, fixed)
    if settings["decoder_lr"] == 1e-2:
        out.update(final_train_acc=float("nan"), final_test_acc=float("nan"), phase="diverged")
    return out


def _strip(records, drop=("seconds",)):
    return [{k: v for k, v in r.items() if k not in drop} for r in records]


def test_every_seed_is_its_own_run_and_the_majority_is_counted_right(tmp_path):
    result = run_sweep(GRID, MULTI, tmp_path / "multi", cell_fn=synthetic_cell)
    assert result.complete and result.computed == len(result.records) == 12 * 3
    singles = {s: run_sweep(GRID, SweepSettings(steps=10_000, seed=3, seeds=(s,)), tmp_path / f"s{s}",
                            cell_fn=synthetic_cell) for s in SEEDS}
    disagree = 0
    for ix, iy, _ in GRID.cells():
        runs = [result.record(ix, iy, s) for s in SEEDS]
        assert [r["seed"] for r in runs] == list(SEEDS) and {r["split_seed"] for r in runs} == {3}
        alone = [singles[s].record(ix, iy, s) for s in SEEDS]  # the same run in a one-seed sweep
        assert _strip(runs, ("seconds", "digest")) == _strip(alone, ("seconds", "digest"))
        tally = Counter(r["phase"] for r in runs)
        top = max(tally.values())
        winner = next(p for p in PHASES if tally[p] == top)  # ties: the first in PHASES
        assert result.phases[iy, ix] == winner
        assert result.majority_share[iy, ix] == pytest.approx(top / 3)
        assert list(result.phase_counts[iy, ix]) == [tally[p] for p in PHASES]
        gaps = [r["gap"] for r in runs if r["gap"] is not None]
        assert (np.isnan(result.gaps[iy, ix]) if not gaps else result.gaps[iy, ix] == np.median(gaps))
        disagree += top < 3
    assert disagree > 0  # the tiny grid does exercise a split vote
    assert sum(result.counts.values()) == 36 and sum(result.cell_counts.values()) == 12
    tally = Counter(r["phase"] for r in result.records)
    assert result.counts == {p: tally[p] for p in PHASES}


def test_deleting_one_run_recomputes_only_that_run(tmp_path):
    first = run_sweep(GRID, MULTI, tmp_path, cell_fn=counting_cell)
    lines = (tmp_path / RESULTS).read_bytes().split(b"\n")[:-1]
    gone = json.loads(lines[7])
    (tmp_path / RESULTS).write_bytes(b"".join(line + b"\n" for k, line in enumerate(lines) if k != 7))
    CALLS.clear()
    again = run_sweep(GRID, MULTI, tmp_path, cell_fn=counting_cell)
    assert CALLS == [(tuple(sorted(gone["settings"].items())), gone["seed"])]
    assert (again.computed, again.reused, again.dropped) == (1, 35, 0)
    assert _strip(again.records) == _strip(first.records)


def test_vary_split_gives_each_seed_its_own_split(tmp_path):
    fixed = run_sweep(GRID, MULTI, tmp_path / "fixed", cell_fn=synthetic_cell)
    vary = run_sweep(GRID, SweepSettings(steps=10_000, seed=3, seeds=SEEDS, vary_split=True), tmp_path / "vary",
                     cell_fn=synthetic_cell)
    assert [r["split_seed"] for r in vary.records[:3]] == list(SEEDS)
    assert _strip(vary.records) != _strip(fixed.records)


# a two-seed sweep on a local Dask cluster against the process pool: tests/test_sweep.py


def test_a_diverged_run_is_stored_counted_and_coloured(tmp_path):
    from efftheory.plotting.phase import PHASE_COLORS, plot_phase_diagram

    result = run_sweep(GRID, MULTI, tmp_path, cell_fn=diverging_cell)
    assert "diverged" in PHASES and result.counts["diverged"] == 3 * 3
    assert list(result.phases[:, 3]) == ["diverged"] * 3
    rec = result.record(3, 0, 0)
    assert rec["final_test_acc"] is None and rec["phase"] == "diverged"
    again = run_sweep(GRID, MULTI, tmp_path, cell_fn=diverging_cell)  # valid when read back
    assert again.reused == 36 and again.dropped == 0
    legend = [t.get_text() for t in plot_phase_diagram(result).axes[0].get_legend().get_texts()]
    assert legend[-1].startswith("diverged (3 cells, 9 runs)") and PHASE_COLORS["diverged"] == "#A50026"


def test_the_plot_shows_the_majority_share(tmp_path):
    from efftheory.plotting.phase import plot_phase_diagram

    result = run_sweep(GRID, MULTI, tmp_path, cell_fn=synthetic_cell)
    ax = plot_phase_diagram(result).axes[0]
    image = ax.get_images()[0]
    np.testing.assert_array_equal(np.asarray(image.get_array()), result.phase_codes)
    np.testing.assert_allclose(image.get_alpha(), result.majority_share)  # paler where fewer seeds agree
    split = int((result.majority_share < 1).sum())
    assert len(ax.texts) == split and all("/3" in t.get_text() for t in ax.texts)
    assert "3 network seeds" in ax.get_title() and "p = 10, n_train = 45" in ax.get_title()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0] == f"comprehension ({result.cell_counts['comprehension']} cells, {result.counts['comprehension']} runs)"


# ---------------------------------------------------------------- presets


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_the_default_split_of_each_preset_can_generalise(name):
    preset = PRESETS[name]
    assert preset.grid.size in (100, 110)
    seed = first_split_seed(10, n_train=45)
    assert seed == 3 and ideal_test_accuracy(10, n_train=45, seed=seed) == 1.0
    assert all(ideal_test_accuracy(10, n_train=45, seed=s) < 1.0 for s in range(seed))
    with pytest.raises(Exception):
        preset.loss = "ce"  # frozen


def test_no_generalising_split_is_none():
    assert first_split_seed(10, n_train=45, at_least=1.01, tries=5) is None


# ---------------------------------------------------------------- command line

SMALL = ("--x", "decoder_lr", "--x-range", "1e-5:1e-2:4:log", "--y", "decoder_wd", "--y-range", "0:10:3",
         "--cell", "synthetic", "--jobs", "1")


def test_cli_seeds_json_and_text(cli_json, cli_run, tmp_path):
    res = cli_json("phase", *SMALL, "--seeds", "3", "--split-seed", "3", "--out", tmp_path / "o")
    lib = run_sweep(GRID, SweepSettings(steps=10_000, seed=3, seeds=SEEDS, network={"loss": "mse"}),
                    tmp_path / "lib", cell_fn=synthetic_cell)
    assert res["seeds"] == [0, 1, 2] and res["split_seed"] == 3 and res["runs"] == 36 and res["cells"] == 12
    assert res["phases"] == lib.phases.tolist() and res["counts"] == lib.counts
    assert res["majority_share"] == lib.majority_share.tolist()
    assert res["phase_counts"]["grokking"] == lib.phase_counts[..., PHASES.index("grokking")].tolist()
    assert np.array(res["phases_by_seed"]).shape == (3, 3, 4)
    proc = cli_run("phase", *SMALL, "--seeds", "3", "--split-seed", "3", "--out", tmp_path / "o")
    assert proc.returncode == 0 and "36 runs: 0 computed, 36 reused" in proc.stdout
    rows = [line.split()[1:] for line in proc.stdout.splitlines() if line.startswith("  ")]
    lower = sum(letter.islower() for row in rows for letter in row)
    assert lower == int((lib.majority_share < 1).sum()) > 0


@pytest.mark.parametrize("args,needle", [
    (("--seeds", "0,0"), "repeats"),
    (("--seeds", "0"), ">= 1"),
    (("--seeds", "a"), "--seeds"),
    (("--seeds", "2", "--seed", "1"), "--seed"),
    (("--vary-split", "--split-seed", "1"), "--split-seed"),
])
def test_cli_bad_seeds_exit_2(cli_error, tmp_path, args, needle):
    cli_error("phase", *SMALL, *args, "--out", tmp_path / "o", needles=(needle,))  # in-process: no fresh interpreter needed


def test_cli_preset_without_seed_uses_the_first_generalising_split(cli_run, tmp_path):
    proc = cli_run("phase", "--preset", "fig5b", "--x-range", "1e-4:1e-3:2:log", "--y-range", "0:1:2",
                   "--cell", "synthetic", "--jobs", "1", "--out", tmp_path / "o")
    assert proc.returncode == 0, proc.stderr
    assert "split seed 3, the first whose ideal test accuracy is 1" in proc.stderr
    assert "seed 3" in proc.stdout.splitlines()[0]
    proc = cli_run("phase", "--preset", "fig5b", "--x-range", "1e-4:1e-3:2:log", "--y-range", "0:1:2",
                   "--cell", "synthetic", "--jobs", "1", "--out", tmp_path / "p", "--json")
    assert proc.stderr == "" and json.loads(proc.stdout)["seed"] == 3


def test_cli_says_when_no_split_seed_can_generalise(cli_run, tmp_path):
    one = ("--x", "embed_lr", "--x-range", "1e-3:1e-3:1", "--y", "decoder_lr", "--y-range", "1e-3:1e-3:1",
           "--steps", "5", "--width", "4", "--jobs", "1", "--p", "5", "--train-num", "3")
    proc = cli_run("phase", *one, "--out", tmp_path / "a")
    assert proc.returncode == 0, proc.stderr
    assert "< 0.9" in proc.stderr and "no seed below 1000 can" in proc.stderr and "None" not in proc.stderr
    proc = cli_run("phase", "--preset", "fig5b", "--x-range", "1e-3:1e-3:1", "--y-range", "0:0:1", "--p", "5",
                   "--train-num", "3", "--cell", "synthetic", "--jobs", "1", "--out", tmp_path / "b")
    assert proc.returncode == 0, proc.stderr
    assert "no split seed below 1000 has ideal test accuracy 1" in proc.stderr and "seed 0" in proc.stdout
