"""Figure of the critical training-set size: P_unique against the training fraction."""

from __future__ import annotations

import numpy as np

from efftheory.theories.linear.critical import CriticalCurve
from efftheory import plotting


def plot_critical(curve: CriticalCurve, ax=None, label: str | None = None):
    """P_unique(r) with its Wilson 95% band (its largest half-width in the legend, as a band
    that narrow hides under the line) and r_c marked. Returns the figure."""
    fig = None
    if ax is None:
        fig, ax = plotting.subplots(figsize=(6.0, 4.0), layout=None)
    r = curve.fractions
    line = ax.plot(r, curve.p_unique, lw=2, label=label or f"P(unique), p = {curve.p}")[0]
    half = 0.5 * float(np.max(curve.ci_high - curve.ci_low))
    ax.fill_between(r, curve.ci_low, curve.ci_high, color=line.get_color(), alpha=0.25, lw=0,
                    label=f"Wilson 95% interval (half-width ≤ {half:.2g}{'; thinner than the line' if half < 0.01 else ''})")
    if curve.r_c is not None:
        ax.axvline(curve.r_c, color="k", ls="--", lw=1, label=f"$r_c$ = {curve.r_c:.3f}")
    ax.axhline(0.5, color="0.6", lw=0.8, ls=":", label="P = 1/2 (defines $r_c$)")
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("training fraction $r = |D| / N$")
    ax.set_ylabel("probability of a unique linear structure")
    ax.set_title(f"Critical training-set size, {curve.task} ({curve.trials} trials)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, fontsize=8, frameon=False)  # off the curve
    ax.grid(alpha=0.3)
    return fig if fig is not None else ax.figure
