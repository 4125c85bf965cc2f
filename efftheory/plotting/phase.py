"""Phase-diagram plots: a categorical map of the phases over a sweep grid, over one or more seeds.

Colours (a fixed, colour-blind-safe palette from Okabe & Ito; the paper's Fig 5 uses four
distinct colours with a legend, which is what matters here): comprehension green ``#009E73``,
grokking blue ``#0072B2``, memorization orange ``#E69F00``, confusion grey ``#8C8C8C``, and
dark red ``#A50026`` for a run that diverged (non-finite parameters); cells not run yet are
white. Every phase of :data:`efftheory.phases.PHASES` gets a colour and a legend entry.

Each cell shows its most frequent phase over the seeds (a plurality, not always a majority:
1 of 3 when three seeds end in three phases). With several seeds the colour fades towards
white with that phase's share (opacity = share: a 2-of-3 cell is paler than a unanimous one)
and a cell without unanimity is labelled with its share ``k/n``, or ``tie k/n`` when another
phase is as frequent (the colour is then the one listed first). The legend counts the
cells each phase wins and the runs in it. A one-seed sweep is a plain categorical map.

With ``annotate_gap`` a number is written only in grokking and comprehension cells: the median
of ``t_test - t_train`` over the cell's runs in that phase (the grokking delay; negative in a
comprehension cell when test accuracy reached 0.9 before train accuracy). Memorization and
confusion cells carry no number, whatever their other seeds did.

Axes carry the real hyper-parameter names and their grid values, increasing to the right and
upwards (the cell at column ``ix``, row ``iy`` is the run with ``x.values[ix]``, ``y.values[iy]``).
"""

from __future__ import annotations

import numpy as np

from efftheory import plotting
from efftheory.phases import PHASES

PHASE_COLORS = {
    "comprehension": "#009E73",
    "grokking": "#0072B2",
    "memorization": "#E69F00",
    "confusion": "#8C8C8C",
    "diverged": "#A50026",
}

ANNOTATION_SIZE = 8.5  # points: t_test - t_train and k/n in the cells


def _tick(value, log: bool) -> str:
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return f"{value:.2g}" if log else f"{value:.3g}"


def _colour(phase: str) -> str:
    """The phase's colour (black for a phase added to PHASES without one here)."""
    return PHASE_COLORS.get(phase, "#000000")


def _axes(ax, grid) -> None:
    """Ticks at the grid values, named axes, thin white lines between cells."""
    for axis, set_ticks, set_labels, set_name in (
        (grid.x, ax.set_xticks, ax.set_xticklabels, ax.set_xlabel),
        (grid.y, ax.set_yticks, ax.set_yticklabels, ax.set_ylabel),
    ):
        set_ticks(np.arange(axis.n))
        set_labels([_tick(v, axis.log) for v in axis.values])
        set_name(f"{axis.label} ({axis.name}{', log scale' if axis.log else ''})")
    ax.tick_params(axis="x", labelrotation=45)
    for label in ax.get_xticklabels():
        label.set_horizontalalignment("right")
    ax.set_xticks(np.arange(grid.x.n + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(grid.y.n + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="white", linewidth=0.6)
    ax.tick_params(which="minor", length=0)


#: Phases whose cells carry the grokking delay t_test - t_train (both reached by definition).
DELAY_PHASES = ("grokking", "comprehension")


def cell_delays(result) -> np.ndarray:
    """(ny, nx) float: median ``t_test - t_train`` over the runs of each cell that ended in the
    cell's phase, where that phase is in :data:`DELAY_PHASES`; NaN elsewhere."""
    gaps, runs, top = result.steps_by_seed("gap"), result.phases_by_seed(), result.phases
    out = np.full(result.grid.shape, np.nan)
    for iy, ix in np.ndindex(*result.grid.shape):
        if top[iy, ix] in DELAY_PHASES:
            mine = gaps[:, iy, ix][(runs[:, iy, ix] == top[iy, ix]) & np.isfinite(gaps[:, iy, ix])]
            out[iy, ix] = np.median(mine) if mine.size else np.nan
    return out


def _annotate(ax, result, annotate_gap: bool) -> None:
    """The grokking delay (grokking and comprehension cells) and, where the seeds disagree, the
    share k/n of the cell's phase ("tie k/n" when another phase is as frequent)."""
    delays, counts = cell_delays(result), result.phase_counts
    for iy in range(result.grid.y.n):
        for ix in range(result.grid.x.n):
            lines = []
            if annotate_gap and np.isfinite(delays[iy, ix]):
                lines.append(f"{delays[iy, ix]:.0f}")
            total, top = int(counts[iy, ix].sum()), int(counts[iy, ix].max())
            if 0 < top < total:
                tied = int((counts[iy, ix] == top).sum()) > 1
                lines.append(f"{'tie ' if tied else ''}{top}/{total}")
            if lines:
                ax.text(ix, iy, "\n".join(lines), ha="center", va="center", fontsize=ANNOTATION_SIZE,
                        color="white" if len(lines) == 1 and top == total else "black")


def _key(many: bool, annotate_gap: bool) -> str:
    """What the colours' fading and the numbers in the cells mean (under the legend)."""
    lines = []
    if many:
        lines += ["colour: the cell's most frequent phase", "over the seeds; paler: a smaller share;",
                  "k/n: that share; tie: another phase is as", "frequent (colour: the one listed first)"]
    if annotate_gap:
        lines += ["number (grokking and comprehension", "cells only): median t_test − t_train in",
                  "steps over the cell's runs in that phase", "(negative: test acc reached 0.9 first)"]
    return "\n".join(lines)


def _title(result) -> str:
    """p, n_train, loss, budget, G and the seeds."""
    fixed, grid = result.settings, result.grid
    if "frac" in (grid.x.name, grid.y.name):
        size = "n_train by frac"
    else:
        from efftheory.tasks import Addition

        task = Addition(fixed.p)
        n = task.n_train_for(frac=fixed.frac) if fixed.frac is not None else task.n_train_for(n_train=fixed.n_train)
        size = f"n_train = {n} of {task.n_samples}"
    seeds = fixed.network_seeds
    if len(seeds) == 1 and not fixed.vary_split:
        seed = f"seed {fixed.seed}" if seeds[0] == fixed.seed else f"split seed {fixed.seed}, network seed {seeds[0]}"
    else:
        split = "own splits" if fixed.vary_split else f"split seed {fixed.seed}"
        seed = f"{len(seeds)} network seeds, {split}; most frequent phase"
    loss = str(fixed.network.get("loss", "mse")).upper()
    return f"p = {fixed.p}, {size}, {loss}, {fixed.steps} steps, G = {fixed.gap:g}, {seed}"


def plot_phase_diagram(result, *, annotate_gap: bool = False, title: str | None = None):
    """A matplotlib Figure of ``result`` (a :class:`efftheory.experiments.sweep.result.SweepResult`).

    ``annotate_gap`` writes the grokking delay in grokking and comprehension cells
    (:func:`cell_delays`; module docstring). ``title`` replaces the default one (p, n_train, loss, budget, G, seeds).
    """
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    grid = result.grid
    codes = np.ma.masked_less(result.phase_codes, 0)
    share = np.nan_to_num(result.majority_share, nan=1.0)
    cmap = ListedColormap([_colour(p) for p in PHASES]).with_extremes(bad="white")
    nx, ny = grid.x.n, grid.y.n
    fig, ax = plotting.subplots(figsize=(max(6.0, 3.8 + 0.6 * nx), max(3.6, 1.6 + 0.5 * ny)), layout=None)
    ax.set_facecolor("white")
    ax.imshow(codes, cmap=cmap, vmin=-0.5, vmax=len(PHASES) - 0.5, origin="lower", aspect="auto",
              interpolation="nearest", alpha=None if np.all(share == 1) else share)
    _axes(ax, grid)
    _annotate(ax, result, annotate_gap)
    many = len(result.seeds) > 1
    cells = result.cell_counts
    labels = {p: f"{p} ({cells[p]} cells, {n} runs)" if many else f"{p} ({n})" for p, n in result.counts.items()}
    handles = [Patch(facecolor=_colour(p), label=labels[p]) for p in PHASES]
    legend = ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False, fontsize=8)
    key = _key(many, annotate_gap)
    if key:  # under the legend; a figure artist, so that the axes' texts stay the cells' labels
        from matplotlib.text import Annotation

        fig.add_artist(Annotation(key, xy=(0, 0), xycoords=legend, xytext=(0, -6), textcoords="offset points",
                                  va="top", ha="left", fontsize=7, color="0.25"))
    ax.set_title(title or _title(result), fontsize=9)
    fig.tight_layout()
    return fig
