"""Figure of ``efftheory analyse`` and :meth:`efftheory.torch.Probe.plot`.

Left: the structure metric (RQI, circle RQI or matrix RQI) and the predicted test accuracy at
every record, the theory's other columns that are shares in [0, 1] (ring coherence, variance
share of the ring's plane, the share of the key Fourier frequency) as thin lines, the split's
ideal test accuracy and the threshold 0.95 as dashed lines, the step at which the structure
formed and the theory's time scale. Right: the last record as the theory read it, normalised per
dimension and projected on its two leading principal components, every symbol labelled and
coloured by its index (a ring shows as a circle ordered by f a mod p, addition as a line).
"""

from __future__ import annotations

import numpy as np

from efftheory import plotting
from efftheory.plotting._symbols import CMAP, symbol_colourbar


def _pca(X: np.ndarray) -> tuple[np.ndarray, float]:
    """((p, 2) coordinates on the two leading principal components of X (p, D) normalised per
    column (constant columns dropped), their variance share)."""
    sd = X.std(axis=0, ddof=1)
    keep = sd > 1e-12 * max(float(np.abs(X).max()), 1e-300)
    Z = (X[:, keep] - X[:, keep].mean(axis=0)) / sd[keep] if keep.any() else np.zeros((X.shape[0], 2))
    if Z.shape[1] == 1:
        Z = np.concatenate([Z, np.zeros_like(Z)], axis=1)
    _, sv, Vt = np.linalg.svd(Z, full_matrices=False)
    share = float(np.sum(sv[:2] ** 2) / np.sum(sv**2)) if np.sum(sv**2) > 0 else 0.0
    return Z @ Vt[:2].T, share


def plot_analysis(analysis, title: str = ""):
    """The two panels of the module docstring for an :class:`efftheory.experiments.analysis.Analysis`."""
    fig, (left, right) = plotting.subplots(1, 2, figsize=(12, 4.8), gridspec_kw={"width_ratios": (1.5, 1)})
    tr, steps = analysis.track, analysis.steps
    x = np.maximum(steps, 1) if steps.size > 1 and steps[-1] > 100 else steps
    style = dict(marker="o" if steps.size < 30 else None, ms=3)
    left.plot(x, tr.metric, color="C0", label=tr.metric_name, **style)
    left.plot(x, tr.predicted_test_acc, color="C1", label="predicted test accuracy", **style)
    for k, name in enumerate(tr.shares):
        left.plot(x, tr.columns[name], color=f"C{k + 3}", lw=0.8, alpha=0.8, label=name.replace("_", " "))
    ideal = analysis.theory.get("ideal_test_accuracy")
    if ideal is not None:
        left.axhline(ideal, color="C1", ls="--", lw=1, label=f"ideal test accuracy {ideal:.3f}")
    left.axhline(tr.threshold, color="0.5", ls=":", lw=1)
    if analysis.formed_at is not None:
        left.axvline(max(analysis.formed_at, x[0]), color="C2", lw=1.2, label=f"formed at step {analysis.formed_at}")
    if analysis.time_scale is not None and x[0] <= analysis.time_scale <= x[-1]:
        left.axvline(analysis.time_scale, color="0.3", ls="--", lw=1,
                     label=f"theory's time scale {analysis.time_scale:.0f} (η = {analysis.lr:g})")
    if x is not steps:
        left.set_xscale("log")
    left.set(xlabel="step", ylabel="fraction", ylim=(-0.02, 1.02),
             title=f"{title}{': ' if title else ''}{analysis.split.task.describe()}")
    left.grid(alpha=0.3)
    left.legend(fontsize=8, loc="best")
    p = analysis.split.p
    xy, share = _pca(analysis.last)
    colours = plotting.colours(CMAP, p)
    right.scatter(xy[:, 0], xy[:, 1], c=colours, s=40, zorder=2)
    for a in range(p):
        right.annotate(str(a), xy[a], fontsize=7, xytext=(3, 3), textcoords="offset points")
    right.set(xlabel="PC 1", ylabel="PC 2", aspect="equal",
              title=f"last record (step {steps[-1]}){', LayerNorm reading' if analysis.reading == 'layernorm' else ''}"
                    f"\ntwo leading PCs: {share:.0%} of the variance")
    right.grid(alpha=0.3)
    symbol_colourbar(fig, right, p)
    return fig
