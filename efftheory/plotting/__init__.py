"""Figures of efftheory, one module per command: ``critical``, ``dynamics``, ``network``, ``phase``,
and ``group`` (the matrix theory of a group, ``simulate --task s3``).

Backend policy: figures are built as :class:`matplotlib.figure.Figure` objects, never through
``pyplot``, so no module selects a backend or touches pyplot's global state. A figure saves with
``fig.savefig(path)`` on any machine (headless included) and shows inline in Jupyter; a user who
wants a window can hand it to pyplot themselves.
"""

from __future__ import annotations


def subplots(nrows: int = 1, ncols: int = 1, *, figsize=(6.4, 4.8), layout: str | None = "constrained",
             **kwargs):
    """``(figure, axes)`` like ``pyplot.subplots``, on a :class:`Figure` that pyplot never sees."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout=layout)
    return fig, fig.subplots(nrows, ncols, **kwargs)


def colours(name: str, n: int):
    """``n`` colours (n, 4) evenly spaced along the matplotlib colormap ``name``."""
    import matplotlib
    import numpy as np

    return matplotlib.colormaps[name](np.linspace(0.0, 1.0, n))


from efftheory.plotting.critical import plot_critical  # noqa: E402
from efftheory.plotting.dynamics import plot_simulation  # noqa: E402
from efftheory.plotting.network import plot_compare, plot_training  # noqa: E402
from efftheory.plotting.phase import PHASE_COLORS, plot_phase_diagram  # noqa: E402

__all__ = ["subplots", "colours", "plot_critical", "plot_simulation", "plot_training", "plot_compare",
           "plot_phase_diagram", "PHASE_COLORS"]
