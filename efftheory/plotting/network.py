"""Figures of ``efftheory train`` (curves and trajectories) and ``efftheory compare`` (Figs 3, 4).

Training curves use a log step axis (steps >= 1), so that the early action is not squashed into
the first few percent of a long run, and mark the events t_train / t_test (first step with train
/ test accuracy >= 0.9) and t_rqi (first step with RQI >= 0.95). Embedding panels colour symbol
k along viridis, keyed by a colourbar.
"""

from __future__ import annotations

import numpy as np

from efftheory import plotting
from efftheory.plotting._symbols import no_data, symbol_colourbar, symbol_lines

#: (attribute of the result, label, colour, line style) of the events marked on training curves.
EVENTS = (("steps_to_train", "$t_{train}$ (train acc 0.9)", "C0", ":"),
          ("steps_to_test", "$t_{test}$ (test acc 0.9)", "C1", ":"),
          ("steps_to_rqi", "$t_{rqi}$ (RQI 0.95)", "C2", "-."))
METHOD_NAMES = {"rk4": "gradient flow", "adam": "Adam on $\\ell_{eff}$"}


def _events(ax, result, legend: bool) -> None:
    """Vertical lines at t_train, t_test, t_rqi; with ``legend`` each gets a label ("never" too)."""
    for attr, label, colour, style in EVENTS:
        t = getattr(result, attr)
        if t is not None and t >= 1:
            ax.axvline(t, color=colour, ls=style, lw=1, label=f"{label} = {t}" if legend else None)
        elif legend:
            ax.plot([], [], " ", label=f"{label}: never" if t is None else f"{label} = {t}")


def plot_training(result, counterparts: dict):
    """2 x 3 panels: accuracy, loss, RQI against steps (log); the first normalised embedding
    dimension of every symbol for the network and for the effective theory (gradient flow, Adam)
    from the same E0, on network steps: theory time divided by the fitted time scale s, or
    unscaled when no s fits (the best s at the edge of its grid)."""
    fig, ax = plotting.subplots(2, 3, figsize=(15, 8.5))
    t, later = result.steps, result.steps >= 1
    last = float(t[-1])
    _curves(ax[0], result, later)
    counterparts = counterparts or {}  # none for a diverged run
    _rqi_theory(ax[0, 2], counterparts, last)
    p = result.embeddings.shape[1]
    symbol_lines(ax[1, 0], t[later], result.embeddings[later, :, 0])
    ax[1, 0].set(ylabel="normalised embedding (dim 0)", title="network embeddings")
    for a, (m, c) in zip(ax[1, 1:], counterparts.items()):
        _theory_embeddings(a, m, c, last)
    if not counterparts:
        for a in ax[1, 1:]:
            no_data(a, "no theory run: the network diverged")
    first = float(t[later][0]) if later.any() else 1.0  # the first recorded step (log axis)
    for a in ax.flat:
        a.set_xscale("log")
        a.set_xlim(first, max(last, 2.0 * first))
        a.grid(alpha=0.3)
    ax[1, 0].set_xlabel("network step")
    symbol_colourbar(fig, ax[1, :], p)
    split = result.split
    where = "" if split is None else f"p = {split.p}, n_train = {split.n_train} of {split.task.n_samples}, "
    fig.suptitle(f"Training run: {where}{result.config.loss.upper()} head, phase: {result.phase}")
    return fig


def _curves(row, result, later) -> None:
    """Accuracy, loss and RQI against steps, with the events marked."""
    t = result.steps[later]
    a = row[0]
    a.plot(t, result.train_acc[later], label="train")
    a.plot(t, result.test_acc[later], label="test")
    a.plot(t, result.predicted_test_acc[later], ls="--", label="predicted test (Âcc)")
    a.axhline(0.9, color="grey", lw=0.5, label="0.9: the level of $t_{train}$, $t_{test}$")
    a.set(ylabel="accuracy", title="accuracy", ylim=(-0.02, 1.02))
    a = row[1]
    a.plot(t, result.train_loss[later], label="train")
    a.plot(t, result.test_loss[later], label="test")
    a.set_yscale("log")
    a.set(ylabel="loss", title="loss")
    a = row[2]
    a.plot(t, result.rqi[later], label="network")
    a.axhline(0.95, color="grey", lw=0.5, label="0.95: the level of $t_{rqi}$")
    a.set(ylabel="RQI", title="representation quality (theory unscaled)", ylim=(-0.02, 1.02))
    for a in row:
        _events(a, result, legend=a is row[0])
        a.set_xlabel("network step")
    row[1].legend(fontsize=8)
    row[0].legend(fontsize=7, loc="upper left")


def _rqi_theory(a, counterparts, last) -> None:
    """The theories' RQI against their own time (unscaled) beside the network's."""
    for m, c in counterparts.items():
        keep = (c.times >= 1) & (c.times <= last)
        a.plot(c.times[keep], c.rqi[keep], ls="--", label=f"theory, {METHOD_NAMES[m]}")
    a.legend(fontsize=8)


def _theory_embeddings(a, method: str, c, last: float) -> None:
    """One theory's embeddings on network steps (fitted s) or unscaled (no fit)."""
    s = c.fitted_scale or 1.0
    x = c.times / s
    keep = (x >= 1) & (x <= last)
    # before its first saved step (theory time 1) the theory is still at E0 (times[0] = 0):
    # draw that from network step 1, so that every panel starts at the left edge
    x, E = np.r_[1.0, x[keep]], np.concatenate([c.embeddings[:1, :, 0], c.embeddings[keep, :, 0]])
    symbol_lines(a, x, E)
    name = METHOD_NAMES[method]
    if c.fitted_scale is None:
        a.set_xlabel("theory time in steps at the embedding lr (unscaled)")
        a.set_title(f"effective theory, {name}, same E0\ndrawn unscaled: no time factor s fits the network\n"
                    f"(the best, s = {c.scale:g}, is the {c.fit_at_bound} end of the range tried)", fontsize=10)
    else:
        a.set_xlabel(f"network step (theory time / s, fitted s = {c.scale:.3g})")
        a.set_title(f"effective theory, {name}, same E0\nrms {c.rms:.3f} to the network (up to mirror)",
                    fontsize=10)


def plot_compare(summary, runs, p_unique: np.ndarray):
    """2 x 2 panels (a) accuracy vs Âcc, (b) structure formation vs P_unique, (c) steps to RQI
    vs the theory's time scale, (d) trajectory mismatch per run (when computed).

    ``summary`` is a :class:`efftheory.experiments.comparison.linear.ComparisonSummary` and ``runs`` its
    :class:`efftheory.experiments.comparison.linear.GridRun` list (diverged runs are left out of every panel).
    """
    runs = [r for r in runs if not r.diverged]
    fig, ax = plotting.subplots(2, 2, figsize=(12, 11))
    _accuracy_panel(fig, ax[0, 0], summary, runs)
    _generalisation_panel(ax[0, 1], summary, runs, p_unique)
    _time_panel(ax[1, 0], summary, runs)
    _trajectory_panel(ax[1, 1], summary, runs)
    return fig


def _accuracy_panel(fig, a, summary, runs) -> None:
    """(a) real against predicted full-table accuracy, coloured by training-set size."""
    points = a.scatter([r.predicted_full_acc for r in runs], [r.full_acc for r in runs],
                       c=[r.n_train for r in runs], cmap="viridis", s=18)
    from matplotlib.ticker import MaxNLocator

    bar = fig.colorbar(points, ax=a, label="training samples n")
    bar.ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    a.plot([0, 1], [0, 1], color="grey", lw=0.7, label="y = x")
    acc = summary.accuracy
    corr = "n/a" if acc.correlation is None else f"{acc.correlation:.2f}"
    diff = "n/a" if acc.mean_abs_diff is None else f"{acc.mean_abs_diff:.3f}"
    a.set(xlabel="predicted full-table accuracy Âcc", ylabel="real full-table accuracy",
          title=f"(a) real vs predicted: mean |diff| {diff}, r = {corr}", xlim=(-0.02, 1.02), ylim=(-0.02, 1.02))
    a.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, frameon=False)


def _ideal_at_least(runs, n: int, level: float = 0.9) -> bool:
    """Whether every run of size n has an ideal test accuracy >= ``level``."""
    ideals = [r.ideal_test_acc for r in runs if r.n_train == n]
    return bool(ideals) and all(x is not None and x >= level for x in ideals)


def _generalisation_panel(a, summary, runs, p_unique) -> None:
    """(b) fraction of networks forming the structure (Wilson 95% bars) and generalising,
    against P_unique(n); the fraction reaching the ideal test accuracy only where that ideal is
    >= 0.9 (elsewhere reaching it says nothing)."""
    g = summary.structure
    a.plot(np.arange(1, p_unique.size + 1), p_unique, color="black", label="P_unique(n) (theory)")
    rate = np.array(g.structure_rate)
    err = np.abs(np.array(g.ci, dtype=float).T - rate) if g.n else None
    a.errorbar(g.n, rate, yerr=err, fmt="o", capsize=3, label="networks forming the structure (RQI ≥ 0.95)")
    a.plot(g.n, g.generalised, "^", ms=5, label="networks reaching test acc 0.9")
    keep = [k for k, n in enumerate(g.n) if _ideal_at_least(runs, n)]
    where = "shown only where the ideal is ≥ 0.9" if keep else "not shown: the ideal is < 0.9 at every n"
    a.plot([g.n[k] for k in keep], [g.reached_ideal[k] for k in keep], "x",
           label=f"networks reaching the ideal test acc\n({where})")
    a.set(xlabel="training samples n", ylabel="probability / fraction of networks",
          title="(b) structure formation vs uniqueness", ylim=(-0.02, 1.02))
    a.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, frameon=False)


def _time_panel(a, summary, runs) -> None:
    """(c) network steps to RQI >= 0.95 against Z0/(2ηλ3) (dof = 0 runs that got there), y = x."""
    timed = [r for r in runs if r.tau is not None and r.steps_to_rqi is not None]
    c = summary.timing
    rho = "n/a" if c.spearman is None else f"{c.spearman:.2f}"
    a.set(xlabel="theory time scale Z0 / (2 η λ3) (steps)", ylabel="network steps to RQI >= 0.95",
          title=f"(c) Spearman {rho}; never: {c.never_dof0}/{c.runs_dof0} (dof=0), "
                f"{c.never_dof_pos}/{c.runs_dof_pos} (dof>0)")
    if not timed:
        no_data(a, "no data: no run with dof = 0 reached RQI >= 0.95\n(dof > 0 runs have no time scale)")
        return
    x = np.array([r.tau for r in timed])
    y = np.array([max(r.steps_to_rqi, 1) for r in timed])
    a.loglog(x, y, "o", label="one network (dof = 0)")
    lo, hi = min(x.min(), y.min()) / 2, max(x.max(), y.max()) * 2
    a.plot([lo, hi], [lo, hi], color="grey", lw=0.7, label="y = x (steps = time scale)")
    a.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, frameon=False)
    a.grid(alpha=0.3, which="both")


def _trajectory_panel(a, summary, runs) -> None:
    """(d) rms of normalised trajectories per run; open markers where no time rescaling fits."""
    if summary.trajectory is None:
        no_data(a, "trajectories not compared (--no-trajectories)")
        a.set_axis_off()
        return
    for k, m in enumerate(("rk4", "adam")):
        at_bound = np.array([bool(getattr(r, f"fit_at_bound_{m}")) for r in runs])
        n = np.array([r.n_train for r in runs], float) + (k - 0.5) * 0.3  # side by side
        rms = np.array([getattr(r, f"rms_{m}") for r in runs], float)
        a.plot(n[~at_bound], rms[~at_bound], "o", color=f"C{k}", alpha=0.8, label=f"{METHOD_NAMES[m]}, fitted s")
        if at_bound.any():
            a.plot(n[at_bound], rms[at_bound], "s", ms=9, mfc="none", color=f"C{k}",
                   label=f"{METHOD_NAMES[m]}, no fit (s at grid edge)")
    a.set(xlabel="training samples n", ylabel="rms of normalised trajectories",
          title="(d) network vs effective theory (best time rescaling)")
    a.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, frameon=False)
    a.grid(alpha=0.3)
