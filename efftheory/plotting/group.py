"""Figures of the matrix theory of a group (``efftheory simulate --task s3 --plot``).

:func:`plot_group_simulation`: (a) the training loss ℓ_grp against the step count, one line per
start, coloured by outcome (log axes; zeros below a 1e-20 floor not drawn); (b) the outcome
fractions with Wilson 95% error bars. :func:`plot_outcome_curve`: outcome fractions against the
training fraction (a :class:`efftheory.theories.group.outcomes.GroupOutcomeCurve`).
"""

from __future__ import annotations

import numpy as np

from efftheory import plotting

#: one colour per outcome, the same in every figure
OUTCOME_COLOURS = {"faithful": "C2", "unfaithful": "C0", "stalled": "C3", "fits-without-representation": "C7"}

#: losses below this are drawn at nothing (log axis)
LOSS_FLOOR = 1e-20


def plot_group_simulation(sim):
    """Return a matplotlib figure of a :class:`efftheory.theories.group.simulation.GroupSimulation`."""
    fig, (ax_loss, ax_bar) = plotting.subplots(1, 2, figsize=(11.0, 4.5), gridspec_kw={"width_ratios": [1.6, 1.0]})
    f = sim.flow
    # the records after every start has stopped only repeat the final values
    end = int(np.searchsorted(f.record, f.steps.max())) + 1
    steps = f.record[:end].astype(float) + 1.0  # step 0 on a log axis
    seen = set()
    for b, outcome in enumerate(sim.outcomes):
        hist = f.loss_history[b, :end]
        loss = np.where(hist > LOSS_FLOOR, hist, np.nan)
        ax_loss.plot(steps, loss, color=OUTCOME_COLOURS[outcome], lw=0.8, alpha=0.7,
                     label=None if outcome in seen else outcome)
        seen.add(outcome)
    ax_loss.set_xscale("log")
    ax_loss.set_yscale("log")
    ax_loss.set_xlabel("accepted steps + 1")
    ax_loss.set_ylabel(r"training loss $\ell_{\rm grp}$")
    ax_loss.set_title(f"(a) loss per start (floor {LOSS_FLOOR:g})")
    ax_loss.grid(alpha=0.3)
    ax_loss.legend(fontsize=8)
    _bars(ax_bar, list(sim.fraction), [sim.fraction[o] for o in sim.fraction], [sim.ci_low[o] for o in sim.fraction],
          [sim.ci_high[o] for o in sim.fraction])
    ax_bar.set_title(f"(b) outcomes of {sim.outcomes.size} starts (Wilson 95%)")
    split = sim.split
    fig.suptitle(f"{split.task.describe()}: matrix theory in SO({sim.k}), n_train = {split.n_train} "
                 f"(frac {split.frac:.3f}), Q = {sim.n_quads} equal-product pairs")
    return fig


def _bars(ax, names, values, low, high):
    x = np.arange(len(names))
    values, low, high = np.asarray(values), np.asarray(low), np.asarray(high)
    ax.bar(x, values, color=[OUTCOME_COLOURS[n] for n in names],
           yerr=np.stack([values - low, high - values]), capsize=4)
    ax.set_xticks(x, [n.replace("-", "-\n", 1) if len(n) > 12 else n for n in names], fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("fraction")
    ax.grid(alpha=0.3, axis="y")


def plot_outcome_curve(curve):
    """Outcome fractions (with Wilson 95% bands) against the training fraction."""
    fig, ax = plotting.subplots(figsize=(7.0, 4.5))
    for j, name in enumerate(curve.outcomes):
        c = OUTCOME_COLOURS[name]
        ax.plot(curve.fracs, curve.fraction[:, j], "o-", color=c, label=name)
        ax.fill_between(curve.fracs, curve.ci_low[:, j], curve.ci_high[:, j], color=c, alpha=0.2)
    ax.set_xlabel("training fraction")
    ax.set_ylabel("fraction of trials")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"{curve.task}, SO({curve.k}): {curve.trials} trials per fraction")
    return fig
