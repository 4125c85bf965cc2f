"""What a phase diagram writes in its cells: the grokking delay only in grokking and comprehension
cells (the median over the runs in the cell's phase), the share of the cell's phase where the
seeds disagree, and "tie" where two phases are equally frequent."""

from __future__ import annotations

import numpy as np

from efftheory.experiments.sweep.grid import Axis, Grid
from efftheory.experiments.sweep.result import SweepResult
from efftheory.experiments.sweep.settings import SweepSettings

SEEDS = (0, 1, 2)
GRID = Grid(Axis.from_values("decoder_lr", (1e-4, 1e-3, 1e-2)), Axis.from_values("decoder_wd", (0.0,)))


def _run(phase: str, gap: float | None) -> dict:
    t_train = None if phase == "confusion" else 100
    t_test = None if gap is None else t_train + gap
    return {"phase": phase, "gap": gap, "t_train": t_train, "t_test": t_test, "t_rqi": None, "steps_run": 1000}


def _result() -> SweepResult:
    cells = [  # x = 0, 1, 2 (one row); three seeds each
        [_run("grokking", 3000), _run("grokking", 5000), _run("comprehension", -100)],  # grokking 2/3
        [_run("memorization", None), _run("memorization", None), _run("comprehension", -346)],  # memorization 2/3
        [_run("confusion", None), _run("memorization", None), _run("grokking", 2000)],  # a 1/3 tie
    ]
    records = tuple(rec for cell in cells for rec in cell)
    return SweepResult(GRID, SweepSettings(steps=10_000, seed=3, seeds=SEEDS), records, 0, len(records), 0, 0.0)


def test_delays_only_in_grokking_and_comprehension_cells_over_that_phases_runs():
    from efftheory.plotting.phase import cell_delays

    result = _result()
    assert list(result.phases[0]) == ["grokking", "memorization", "grokking"]  # ties: the phase listed first
    delays = cell_delays(result)[0]
    assert delays[0] == 4000  # median of the two grokking runs; the comprehension run's -100 left out
    assert np.isnan(delays[1])  # a memorization cell has no number, though one seed had a gap of -346
    assert delays[2] == 2000
    assert result.gaps[0, 0] == 3000  # the old number: the median over every seed that reached both


def test_the_cells_say_share_and_tie_and_the_key_says_what_numbers_mean():
    from efftheory.plotting.phase import plot_phase_diagram

    fig = plot_phase_diagram(_result(), annotate_gap=True)
    texts = {round(t.get_position()[0]): t.get_text() for t in fig.axes[0].texts}
    assert texts == {0: "4000\n2/3", 1: "2/3", 2: "2000\ntie 1/3"}
    key = "\n".join(t.get_text() for t in fig.artists if hasattr(t, "get_text"))
    assert "grokking and comprehension" in key and "tie" in key and "most frequent phase" in key
