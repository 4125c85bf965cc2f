"""Figure of one effective-theory run (``efftheory simulate --plot``): four panels.

(a) the embeddings of the first trial: E_k(t) for d = 1, the final normalised embedding of
the first two dimensions with symbol labels for d >= 2, coloured by symbol (colourbar);
(b) ℓ_eff(t), values below a round-off floor (1e-12 of the start) not drawn; (c) RQI(t) and
predicted test accuracy(t) with the ideal accuracy and the theory's time scale; (d) the spectrum
of Ĥ on a log axis, its zero eigenvalues as separate markers at the bottom, labelled as zeros.
"""

from __future__ import annotations

import numpy as np

from efftheory import plotting
from efftheory.theories.linear.metrics import normalize
from efftheory.plotting._symbols import symbol_colourbar, symbol_lines


def plot_simulation(sim):
    """Return a matplotlib figure of a :class:`efftheory.theories.linear.simulation.Simulation`."""
    fig, axes = plotting.subplots(2, 2, figsize=(11.0, 8.0), layout=None)
    th, traj = sim.theory, sim.trajectory
    later = traj.times > 0  # log time axes
    t = traj.times[later]
    _embeddings(axes[0, 0], traj, later)
    _loss(axes[0, 1], traj, later)
    _quality(axes[1, 0], sim, later)
    _spectrum(axes[1, 1], th)
    for ax in (axes[0, 1], axes[1, 0]) + ((axes[0, 0],) if traj.E.shape[-1] == 1 else ()):
        if t.size:
            ax.set_xscale("log")
            ax.set_xlabel("steps")
        ax.grid(alpha=0.3)
    split = th.split
    fig.suptitle(f"Effective theory, p = {split.p}, n_train = {split.n_train} (frac {split.frac:.3f}), "
                 f"dof = {th.dof}, method {traj.method}, lr {traj.lr:g}")
    fig.tight_layout()
    return fig


def _embeddings(ax, traj, later):
    """(a) E_k(t) of the first trial for d = 1; the final normalised embedding for d >= 2."""
    E = traj.E[:, 0]  # (T, p, d), first trial
    p = E.shape[1]
    symbol_colourbar(ax.figure, ax, p)
    if E.shape[-1] == 1:
        symbol_lines(ax, traj.times[later], E[later, :, 0])
        ax.set_ylabel("embedding $E_k(t)$ (trial 1)")
        ax.set_title("(a) embeddings over time, one line per symbol k")
        return
    En = normalize(E[-1])[:, :2]
    ax.scatter(En[:, 0], En[:, 1], c=plotting.colours("viridis", p), s=25)
    for k in range(p):
        ax.annotate(str(k), En[k], fontsize=7, xytext=(2, 2), textcoords="offset points")
    ax.set_xlabel("normalised dimension 1")
    ax.set_ylabel("normalised dimension 2")
    ax.set_title(f"(a) final embeddings (trial 1, t = {traj.times[-1]:.3g})")
    ax.grid(alpha=0.3)


def _loss(ax, traj, later):
    """(b) ℓ_eff per trial and its median; values under the round-off floor are left out."""
    from efftheory.theories.linear.dynamics import LOSS_ROUND_OFF

    floor = LOSS_ROUND_OFF * float(np.abs(traj.loss[0]).max())
    loss = np.where(traj.loss[later] > floor, traj.loss[later], np.nan)
    ax.plot(traj.times[later], loss, color="C0", lw=0.6, alpha=0.5)
    ax.plot(traj.times[later], np.median(traj.loss[later], axis=1), color="C0", lw=2, label="median over trials")
    ax.set_yscale("log")
    ax.set_ylim(floor, 3 * float(np.nanmax(loss)))
    ax.set_ylabel(r"$\ell_{\rm eff}$")
    ax.set_title(r"(b) effective loss $\ell_{\rm eff}(t)$")
    ax.text(0.02, 0.03, f"floor: {LOSS_ROUND_OFF:g} x the starting loss (below it: round-off, not drawn)",
            transform=ax.transAxes, fontsize=8, color="0.3")
    ax.legend(fontsize=8)


def _quality(ax, sim, later):
    t = sim.trajectory.times[later]
    ax.plot(t, sim.rqi[later].mean(axis=1), color="C2", lw=2, label="RQI (mean over trials)")
    acc = sim.predicted_test_accuracy[later]
    if not np.all(np.isnan(acc)):
        ax.plot(t, np.nanmean(acc, axis=1), color="C1", lw=2, label="predicted test accuracy")
    ideal = sim.theory.ideal_test_accuracy
    if ideal is not None:
        ax.axhline(ideal, color="C1", ls=":", lw=1, label=f"ideal accuracy {ideal:.3f}")
    if sim.time_scale is not None:
        ax.axvline(sim.time_scale, color="k", ls="--", lw=1, label=r"$Z_0 / (2 \eta \lambda_3)$")
    elif sim.theory.dof > 0:
        ax.plot([], [], " ", label=f"no time scale: dof = {sim.theory.dof} > 0 (no rate)")
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel("fraction")
    ax.set_title("(c) representation quality and predicted accuracy")
    ax.legend(fontsize=8, loc="best")


def _spectrum(ax, theory):
    """(d) positive eigenvalues of Ĥ on a log axis; zeros as markers on the bottom edge."""
    lam = theory.eigenvalues
    k = np.arange(1, lam.size + 1)
    zero = lam <= 0
    pos = lam[~zero]
    ax.semilogy(k[~zero], pos, "o", color="C0", ms=4, label="eigenvalues of $\\hat H$")
    if pos.size:
        decades = max(np.log10(pos.max() / pos.min()), 0.5)
        ax.set_ylim(pos.min() / 10 ** (0.15 * decades), pos.max() * 10 ** (0.05 * decades))
    if zero.any():
        ax.plot(k[zero], np.full(zero.sum(), 0.03), "x", color="C3", ms=7, clip_on=False,
                transform=ax.get_xaxis_transform(), label=f"$\\lambda_k$ = 0 ({zero.sum()} of them), drawn at the bottom")
    if theory.grokking_rate:
        ax.axhline(theory.grokking_rate, color="k", ls="--", lw=1, label=f"$\\lambda_3$ = {theory.grokking_rate:.3g}")
    ax.set_xlabel("index k")
    ax.set_ylabel(r"$\lambda_k$ (log scale; zeros below it)")
    ax.set_title(f"(d) spectrum of $\\hat H$ (|P0(D)| = {theory.n_parallelograms})")
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3, which="both")


def plot_ring(sim):
    """Figure of ``simulate --task modadd`` (a :class:`efftheory.theories.circle.simulation.RingSimulation`): the
    first start's phases on the circle at the start and at the end (symbols coloured by index),
    and ℓ_circ and the circle RQI of every start against steps."""
    from matplotlib.patches import Circle

    fig, ax = plotting.subplots(1, 3, figsize=(15.0, 4.8))
    traj = sim.trajectory
    p = traj.theta.shape[-1]
    colours = plotting.colours("viridis", p)
    for a, k, title in ((ax[0], 0, "start"), (ax[1], -1, f"end: {sim.outcomes[0]}, f = {sim.frequency[0]:+d}")):
        th = traj.theta[k, 0]
        a.add_patch(Circle((0, 0), 1, fill=False, color="0.7"))
        a.scatter(np.cos(th), np.sin(th), c=colours, s=30, zorder=3)
        for i in range(p) if p <= 30 else range(0, p, max(1, p // 15)):
            a.annotate(str(i), (1.12 * np.cos(th[i]), 1.12 * np.sin(th[i])), ha="center", va="center", fontsize=7)
        a.set(xlim=(-1.35, 1.35), ylim=(-1.35, 1.35), aspect="equal", title=f"phases of start 1, {title}")
        a.set_axis_off()
    later = traj.times > 0
    a = ax[2]
    for b in range(traj.theta.shape[1]):
        a.semilogx(traj.times[later], sim.rqi[later, b], color="C0", alpha=0.6, lw=1,
                   label="circle RQI" if b == 0 else None)
        a.semilogx(traj.times[later], traj.loss[later, b] / 2.0, color="C1", alpha=0.6, lw=1,
                   label="ℓ_circ / 2" if b == 0 else None)
    a.set(xlabel="gradient-descent step", ylabel="value", ylim=(-0.02, 1.02),
          title=f"{traj.theta.shape[1]} starts: " + ", ".join(f"{k} {v:.2f}" for k, v in sim.fraction.items() if v))
    a.legend(fontsize=8)
    a.grid(alpha=0.3)
    return fig
