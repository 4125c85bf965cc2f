"""Phase-diagram plots: a categorical map of the four phases over a sweep grid.

Colours (a fixed, colour-blind-safe palette from Okabe & Ito; the paper's Fig 5 uses four
distinct colours with a legend, which is what matters here):
comprehension green ``#009E73``, grokking blue ``#0072B2``, memorization orange ``#E69F00``,
confusion grey ``#8C8C8C``; cells not run yet are white.

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


def _tick(value, log: bool) -> str:
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return f"{value:.2g}" if log else f"{value:.3g}"


def plot_phase_diagram(result, *, annotate_gap: bool = False, title: str | None = None):
    """A matplotlib Figure of ``result`` (a :class:`efftheory.sweep.SweepResult`).

    ``annotate_gap`` writes ``t_test - t_train`` (steps) in each cell where both were reached.
    """
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    grid = result.grid
    codes = np.ma.masked_less(result.phase_codes, 0)
    cmap = ListedColormap([PHASE_COLORS[p] for p in PHASES]).with_extremes(bad="white")
    nx, ny = grid.x.n, grid.y.n
    fig, ax = plotting.subplots(figsize=(max(6.0, 3.8 + 0.55 * nx), max(3.6, 1.6 + 0.45 * ny)), layout=None)
    ax.imshow(codes, cmap=cmap, vmin=-0.5, vmax=len(PHASES) - 0.5, origin="lower", aspect="auto",
              interpolation="nearest")
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
    ax.set_xticks(np.arange(nx + 1) - 0.5, minor=True)  # thin white lines between cells
    ax.set_yticks(np.arange(ny + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="white", linewidth=0.6)
    ax.tick_params(which="minor", length=0)
    if annotate_gap:
        gaps = result.gaps
        for iy in range(ny):
            for ix in range(nx):
                if np.isfinite(gaps[iy, ix]):
                    ax.text(ix, iy, f"{int(gaps[iy, ix])}", ha="center", va="center", fontsize=6, color="white")
    handles = [Patch(facecolor=PHASE_COLORS[p], label=f"{p} ({n})") for p, n in result.counts.items()]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False, fontsize=8)
    fixed = result.settings
    loss = str(fixed.network.get("loss", "mse")).upper()
    default = f"{loss}, {fixed.steps} steps, G = {fixed.gap:g}, seed {fixed.seed}"
    ax.set_title(title or default, fontsize=9)
    fig.tight_layout()
    return fig
