"""Figures of the weight-norm (LU) picture: the reduced landscape, grokking on demand and undone,
and the predicted against the measured delay."""

from __future__ import annotations

import numpy as np

from efftheory import plotting


def _plain_log_ticks(axis) -> None:
    """Major ticks of a log axis as plain numbers, no labels on the minor ones."""
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    axis.set_major_formatter(ScalarFormatter())
    axis.set_minor_formatter(NullFormatter())


def plot_landscape(result):
    """Two panels against the fixed weight norm w (log axis): train and test loss (median over
    seeds, each seed thin), and train and test accuracy; w_c (median) dashed, its range over
    seeds shaded."""
    fig, ax = plotting.subplots(1, 2, figsize=(12, 4.5))
    w = result.norms
    for a, (tr, te, name) in zip(ax, ((result.train_loss, result.test_loss, "loss"),
                                      (result.train_acc, result.test_acc, "accuracy"))):
        for curve, colour, label in ((tr, "C0", "train"), (te, "C1", "test")):
            a.plot(w, curve.T, color=colour, lw=0.6, alpha=0.4)
            a.plot(w, np.median(curve, axis=0), "o-", color=colour, lw=2, ms=4, label=f"{label} (median of "
                   f"{curve.shape[0]} seeds)")
        a.axvspan(result.w_c_low, result.w_c_high, color="0.85", zorder=0, label="w_c range over seeds")
        a.axvline(result.w_c, color="k", ls="--", lw=1, label=f"$w_c$ = {result.w_c:.3g}")
        a.set_xscale("log")
        a.set_xlabel("weight norm w (held fixed)")
        a.set_ylabel(name)
        a.grid(alpha=0.3)
    ax[0].set_yscale("log")
    for a in ax:
        _plain_log_ticks(a.xaxis)
    ax[0].set_title("(a) final loss at fixed norm")
    ax[1].set_title(f"(b) final accuracy at fixed norm ({result.task}, {result.train_num} training images)")
    ax[1].set_ylim(-0.02, 1.02)
    ax[0].legend(fontsize=8)
    return fig


def plot_three_cases(cases, w_c: float | None = None):
    """Grokking on demand and undone: ``cases`` is a list of (label, OmnigrokResult). Top row: train
    (dashed) and test (solid) accuracy against steps; bottom: the weight norm, with w_c."""
    n = len(cases)
    fig, ax = plotting.subplots(2, n, figsize=(5 * n, 7), sharex=True, squeeze=False)
    norms = np.concatenate([res.weight_norm for _, res in cases] + ([[w_c]] if w_c is not None else []))
    norm_range = (float(np.nanmin(norms)) / 1.3, float(np.nanmax(norms)) * 1.3)  # one scale for every panel
    for j, (label, res) in enumerate(cases):
        t = np.maximum(res.steps, 1)
        top, bottom = ax[0, j], ax[1, j]
        top.plot(t, res.train_acc, "--", color="C0", label="train")
        top.plot(t, res.test_acc, "-", color="C1", label="test")
        for attr, colour, name in (("steps_to_train", "C0", "train"), ("steps_to_test", "C1", "test")):
            s = getattr(res, attr)
            top.axvline(max(s, 1), color=colour, ls=":", lw=1) if s is not None else None
            top.plot([], [], " ", label=f"{name} acc 0.9 at {s if s is not None else 'never'}")
        top.set_ylim(-0.02, 1.02)
        top.set_title(label)
        top.legend(fontsize=8, loc="lower right")
        top.grid(alpha=0.3)
        bottom.plot(t, res.weight_norm, color="C2", label="weight norm w")
        if w_c is not None:
            bottom.axhline(w_c, color="k", ls="--", lw=1, label=f"$w_c$ = {w_c:.3g}")
        bottom.set_xscale("log")
        bottom.set_yscale("log")
        bottom.set_ylim(*norm_range)
        _plain_log_ticks(bottom.yaxis)
        bottom.set_xlabel("step")
        bottom.legend(fontsize=8)
        bottom.grid(alpha=0.3)
    ax[0, 0].set_ylabel("accuracy")
    ax[1, 0].set_ylabel("weight norm (all parameters)")
    ax[1, 0].text(0.02, 0.02, "records every few steps; the first one after step 0 is drawn as a straight line",
                  transform=ax[1, 0].transAxes, fontsize=7, color="0.3")
    return fig


def plot_delays(table: list[dict], runs: list[dict] | None = None, gap: float = 1e3):
    """(a) Measured steps to test accuracy 0.9 (and to w <= w_c) against the prediction
    t* = ln(w0 / w_c) / (lr wd), one point per (alpha, wd) at the medians with range bars over
    seeds; the diagonal is agreement. Cells whose prediction is 0 (w0 <= w_c) sit at the left
    edge. (b) With ``runs`` (DelayRun dicts): the phase of every run over (alpha, wd), from its
    steps to train and test accuracy 0.9 and the grokking ``gap``."""
    fig, axes = plotting.subplots(1, 2 if runs else 1, figsize=(13 if runs else 6.5, 5.5), squeeze=False)
    ax = axes[0, 0]
    alphas = sorted({row["alpha"] for row in table})
    colours = plotting.colours("viridis", max(len(alphas), 2))
    floor = 50.0
    lo_all, hi_all = [], []
    for row in table:
        c = colours[alphas.index(row["alpha"])]
        p = row["predicted"]
        x = max(p["median"], floor)
        xerr = [[x - max(p["low"], floor)], [max(p["high"], floor) - x]]
        for key, marker, fill in (("t_test", "o", True), ("t_norm", "s", False)):
            m = row[key]
            if m["median"] is None:
                continue
            y = max(m["median"], floor)
            yerr = [[y - max(m["low"], floor)], [max(m["high"], floor) - y]]
            ax.errorbar(x, y, xerr=xerr, yerr=yerr, fmt=marker, color=c, mfc=c if fill else "none", capsize=2)
            lo_all.append(min(x, y))
            hi_all.append(max(x, y))
        edge, m = row.get("predicted_edge", {}).get("median"), row["t_test"]["median"]
        if edge is not None and m is not None:  # the same measurement against the edge of the U
            ax.plot(max(edge, floor), max(m, floor), "x", color=c, ms=8, mew=2)
    lo, hi = (min(lo_all) / 2, max(hi_all) * 2) if lo_all else (floor, 1e5)
    ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="measured = predicted")
    for a, c in zip(alphas, colours):
        ax.plot([], [], "o", color=c, label=f"alpha = {a:g}")
    ax.plot([], [], "o", color="0.4", label="test acc 0.9 (filled)")
    ax.plot([], [], "s", color="0.4", mfc="none", label="norm reaches $w_c$ (open)")
    ax.plot([], [], "x", color="0.4", ms=8, mew=2, label="test acc 0.9 against $t^*$ with $w_{edge}$ for $w_c$")
    ax.set(xscale="log", yscale="log", xlim=(lo, hi), ylim=(lo, hi), xlabel=r"predicted $t^* = \ln(w_0/w_c)/(\eta\gamma)$",
           ylabel="measured step (median, range over seeds)",
           title=f"(a) delay: prediction vs measurement (values < {floor:g} drawn at {floor:g})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if runs:
        _phase_grid(axes[0, 1], runs, gap)
    return fig


def _phase_grid(ax, runs: list[dict], gap: float) -> None:
    """One cell per (alpha, wd): the phase of each seed's run as a letter (c comprehension,
    g grokking, m memorization, x confusion), the cell coloured by the most common one."""
    from efftheory.phases import PHASES, phase_of

    alphas = sorted({r["alpha"] for r in runs})
    wds = sorted({r["wd"] for r in runs})
    colours = {"comprehension": "#8fd694", "grokking": "#f5c542", "memorization": "#e8837a", "confusion": "#b0b0b0",
               "diverged": "#606060"}
    letters = {"comprehension": "c", "grokking": "g", "memorization": "m", "confusion": "x", "diverged": "d"}
    for i, a in enumerate(alphas):
        for j, g in enumerate(wds):
            cell = [phase_of(r["t_train"], r["t_test"], gap) for r in runs if (r["alpha"], r["wd"]) == (a, g)]
            common = max(PHASES, key=cell.count)
            ax.add_patch(plotting_rectangle(j, i, colours[common]))
            ax.text(j + 0.5, i + 0.5, " ".join(letters[p] for p in cell), ha="center", va="center", fontsize=11)
    ax.set(xlim=(0, len(wds)), ylim=(0, len(alphas)), xticks=np.arange(len(wds)) + 0.5, yticks=np.arange(len(alphas)) + 0.5,
           xlabel="weight decay", ylabel="alpha (initial scale)",
           title=f"(b) phase per seed (c comprehension, g grokking: gap > {gap:g} steps)")
    ax.set_xticklabels([f"{g:g}" for g in wds])
    ax.set_yticklabels([f"{a:g}" for a in alphas])


def plotting_rectangle(x: float, y: float, colour):
    """A unit square at (x, y) filled with ``colour``."""
    from matplotlib.patches import Rectangle

    return Rectangle((x, y), 1, 1, facecolor=colour, edgecolor="white")
