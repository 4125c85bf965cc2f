"""Colour by symbol: one line per symbol k = 0..p-1 along viridis, with a colourbar that says so.

Shared by the embedding panels of ``simulate``, ``train`` and ``compare`` figures.
"""

from __future__ import annotations

import numpy as np

from efftheory import plotting

CMAP = "viridis"


def symbol_lines(ax, t, values) -> None:
    """Draw ``values`` (T, p), one line per symbol k, coloured by k along :data:`CMAP`."""
    values = np.asarray(values)
    for k, colour in enumerate(plotting.colours(CMAP, values.shape[1])):
        ax.plot(t, values[:, k], color=colour, lw=1)


def symbol_colourbar(fig, axes, p: int, label: str = "symbol k"):
    """A colourbar beside ``axes`` (one Axes or several) keyed to the symbol index 0..p-1."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import BoundaryNorm
    import matplotlib

    norm = BoundaryNorm(np.arange(p + 1) - 0.5, p)
    cmap = matplotlib.colormaps[CMAP].resampled(p)
    bar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=axes, label=label, shrink=0.9)
    from matplotlib.ticker import MaxNLocator

    bar.ax.yaxis.set_major_locator(MaxNLocator(nbins=min(p, 10), integer=True))
    return bar


def no_data(ax, message: str) -> None:
    """Say in the middle of an empty panel why it is empty (axes kept, so labels still read)."""
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, fontsize=9,
            color="0.3", wrap=True)
