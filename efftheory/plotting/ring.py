"""Figure of ``efftheory train --task modadd``: the network's embeddings in their plane at the start
and at the end beside the circle theory's phases from the same start, and the ring over training.

Symbols are coloured along viridis by their index; on a ring of frequency f the colours go round
the circle f times.
"""

from __future__ import annotations

import numpy as np

from efftheory import plotting


def _label_symbols(ax, xy, p: int) -> None:
    step = 1 if p <= 30 else max(1, p // 15)
    for i in range(0, p, step):
        ax.annotate(str(i), 1.12 * xy[i], ha="center", va="center", fontsize=7)


def _plane(ax, E, title: str) -> None:
    """Normalised embeddings (p, d) in their leading PCA plane (the plane the ring fit reads)."""
    from efftheory.theories.circle.ring import _normalize, _pca_plane

    try:
        En = _normalize(np.asarray(E, float))
    except Exception:  # a constant dimension: nothing to draw
        ax.text(0.5, 0.5, "no plane (a constant dimension)", ha="center", transform=ax.transAxes)
        ax.set_axis_off()
        return
    xy = En @ _pca_plane(En)
    p = xy.shape[0]
    r = float(np.max(np.hypot(xy[:, 0], xy[:, 1]))) or 1.0
    xy = xy / r
    ax.scatter(xy[:, 0], xy[:, 1], c=plotting.colours("viridis", p), s=30, zorder=3)
    _label_symbols(ax, xy, p)
    ax.set(xlim=(-1.3, 1.3), ylim=(-1.3, 1.3), aspect="equal", title=title)
    ax.axhline(0, color="0.85", lw=0.5)
    ax.axvline(0, color="0.85", lw=0.5)
    ax.set_xticks([])
    ax.set_yticks([])


def _circle(ax, theta, title: str) -> None:
    """Phases on the unit circle."""
    from matplotlib.patches import Circle

    p = theta.shape[0]
    xy = np.stack([np.cos(theta), np.sin(theta)], axis=1)
    ax.add_patch(Circle((0, 0), 1, fill=False, color="0.7"))
    ax.scatter(xy[:, 0], xy[:, 1], c=plotting.colours("viridis", p), s=30, zorder=3)
    _label_symbols(ax, xy, p)
    ax.set(xlim=(-1.3, 1.3), ylim=(-1.3, 1.3), aspect="equal", title=title)
    ax.set_axis_off()


def plot_network_ring(result, ring):
    """2 x 3 panels: the network's normalised embeddings in their leading PCA plane at step 0 and at
    the end, accuracies against steps; the circle theory's phases at its start (E0's phases) and
    where its flow came to rest, and the network's circle RQI and ring coherence against steps.

    ``result`` is a :class:`efftheory.models.base.TrainResult`, ``ring`` its
    :class:`efftheory.experiments.network_ring.NetworkRing`.
    """
    fig, ax = plotting.subplots(2, 3, figsize=(15.0, 9.0))
    last = int(result.steps[-1])
    _plane(ax[0, 0], result.E0, "network embeddings, step 0")
    _plane(ax[0, 1], result.E_final,
           f"network embeddings, step {last}: |f| = {ring.final_frequency}, circle RQI {ring.final_circle_rqi:.2f}")
    _circle(ax[1, 0], ring.theta0, "circle theory: start (phases of E0)")
    th_f = abs(ring.theory_frequency)
    _circle(ax[1, 1], ring.theory_theta,
            f"circle theory at rest after {ring.theory_steps} steps: {ring.theory_outcome}, |f| = {th_f}")
    t, later = result.steps, result.steps >= 1
    a = ax[0, 2]
    a.plot(t[later], result.train_acc[later], label="train accuracy")
    a.plot(t[later], result.test_acc[later], label="test accuracy")
    a.axhline(0.9, color="grey", lw=0.5, label="0.9: the level of t_train, t_test")
    a.set(xscale="log", xlabel="network step", ylabel="accuracy", ylim=(-0.02, 1.02), title="accuracy")
    a.legend(fontsize=8)
    a = ax[1, 2]
    a.plot(t[later], ring.circle_rqi[later], label="circle RQI of the fitted phases")
    a.plot(t[later], ring.coherence[later], label="ring coherence")
    a.axhline(0.95, color="grey", lw=0.5, label="0.95: a ring (circle RQI)")
    match = {True: "agree", False: "differ", None: "not compared"}[ring.frequency_match]
    a.set(xscale="log", xlabel="network step", ylabel="value", ylim=(-0.02, 1.02),
          title=f"the network's ring (frequencies {match})")
    a.legend(fontsize=8)
    for a in (ax[0, 2], ax[1, 2]):
        a.grid(alpha=0.3)
    split = result.split
    fig.suptitle(f"Addition mod {split.p}: n_train = {split.n_train} of {split.task.n_samples}, "
                 f"{result.config.loss.upper()} head, d = {result.config.dim}, phase: {result.phase}")
    return fig


def _errorbar(ax, x, rate, ci, **kwargs) -> None:
    """Rates with their (low, high) intervals; None entries skipped."""
    keep = [k for k, r in enumerate(rate) if r is not None]
    if not keep:
        return
    xs = np.array([x[k] for k in keep])
    r = np.array([rate[k] for k in keep], float)
    lo = np.array([ci[k][0] for k in keep], float)
    hi = np.array([ci[k][1] for k in keep], float)
    ax.errorbar(xs, r, yerr=[r - lo, hi - r], capsize=3, **kwargs)


def plot_ring_compare(summary):
    """Figure of ``compare --task modadd`` (a :class:`efftheory.experiments.comparison.ring.RingSummary`): (a) against
    the training fraction, the networks' ring-formation and generalisation rates beside the circle
    theory's ring probability (uniform random starts) and the rate at which the flow from the
    networks' own initial phases rings; (b) per fraction, how often a ringed network's frequency
    equals its flow's, with the chance level 1/⌊p/2⌋. Every rate has its Wilson 95% interval."""
    fig, ax = plotting.subplots(1, 2, figsize=(13.0, 4.8))
    x = np.asarray(summary.frac, float)
    dx = 0.006
    a = ax[0]
    _errorbar(a, x - dx, summary.theory_ring_probability, summary.theory_ring_ci, fmt="s-", color="black",
              label="circle theory: P(ring) from uniform random phases")
    _errorbar(a, x, summary.flow_ring_rate, summary.flow_ring_ci, fmt="^--", color="0.5",
              label="circle flow from the networks' own initial phases")
    _errorbar(a, x + dx, summary.ring_rate, summary.ring_ci, fmt="o-", color="C0",
              label="networks forming a ring (circle RQI ≥ 0.95)")
    _errorbar(a, x + 2 * dx, summary.generalised_rate, summary.generalised_ci, fmt="d:", color="C1",
              label="networks generalising (test accuracy ≥ 0.9)")
    a.plot(x, summary.mean_test_acc, "x", color="C1", label="networks' mean final test accuracy")
    a.set(xlabel="training fraction", ylabel="fraction of runs", ylim=(-0.03, 1.03),
          title=f"(a) rings on addition mod {summary.p} ({summary.runs - summary.diverged} networks)")
    a.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, frameon=False)  # off the points
    a.grid(alpha=0.3)
    a = ax[1]
    _errorbar(a, x, summary.match_rate, summary.match_ci, fmt="o", color="C2",
              label="network |f| = flow |f| (both ringed)")
    for k, (agree, compared) in enumerate(summary.match_counts):
        a.annotate(f"{agree}/{compared}", (x[k], 0.02), ha="center", fontsize=8)
    a.axhline(summary.chance_match, color="grey", ls="--", lw=1, label=f"chance 1/{summary.p // 2}")
    agree, compared = summary.match_total
    total = "no run to compare" if not compared else f"{agree} of {compared} agree"
    if not compared:
        from efftheory.plotting._symbols import no_data

        no_data(a, "Empty: a network's frequency is compared with its circle flow's\n"
                   "only when both formed a ring, and no network formed one\n"
                   "(circle RQI ≥ 0.95) within its budget (panel a).")
    a.set(xlabel="training fraction", ylabel="fraction of compared runs", ylim=(-0.03, 1.03), xlim=a.get_xlim() if
          any(r is not None for r in summary.match_rate) else (x.min() - 0.05, x.max() + 0.05),
          title=f"(b) frequency agreement: {total}")
    a.legend(fontsize=8)
    a.grid(alpha=0.3)
    return fig
