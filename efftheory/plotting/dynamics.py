"""Figure of one effective-theory run (``efftheory simulate --plot``): four panels.

(a) the embeddings of the first trial: E_k(t) for d = 1, the final normalised embedding of
the first two dimensions with symbol labels for d >= 2; (b) ℓ_eff(t); (c) RQI(t) and predicted
test accuracy(t) with the ideal accuracy and the theory's time scale; (d) the spectrum of Ĥ.
"""

from __future__ import annotations

import numpy as np

from efftheory import plotting
from efftheory.metrics import normalize


def plot_simulation(sim):
    """Return a matplotlib figure of a :class:`efftheory.simulation.Simulation`."""
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
    E = traj.E[:, 0]  # (T, p, d), first trial
    p = E.shape[1]
    colours = plotting.colours("viridis", p)
    if E.shape[-1] == 1:
        for k in range(p):
            ax.plot(traj.times[later], E[later, k, 0], color=colours[k], lw=1)
        ax.set_ylabel("embedding $E_k(t)$ (trial 1)")
        ax.set_title("(a) embeddings over time (colour = symbol k)")
        return
    En = normalize(E[-1])[:, :2]
    ax.scatter(En[:, 0], En[:, 1], c=colours, s=25)
    for k in range(p):
        ax.annotate(str(k), En[k], fontsize=7, xytext=(2, 2), textcoords="offset points")
    ax.set_xlabel("normalised dimension 1")
    ax.set_ylabel("normalised dimension 2")
    ax.set_title(f"(a) final embeddings (trial 1, t = {traj.times[-1]:.3g})")
    ax.grid(alpha=0.3)


def _loss(ax, traj, later):
    loss = np.maximum(traj.loss[later], 1e-300)
    ax.plot(traj.times[later], loss, color="C0", lw=0.6, alpha=0.5)
    ax.plot(traj.times[later], np.median(loss, axis=1), color="C0", lw=2, label="median over trials")
    ax.set_yscale("log")
    ax.set_ylim(max(1e-20, float(loss.min()) / 2), 3 * float(loss.max()))
    ax.set_ylabel(r"$\ell_{\rm eff}$")
    ax.set_title(r"(b) effective loss $\ell_{\rm eff}(t)$")
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
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel("fraction")
    ax.set_title("(c) representation quality and predicted accuracy")
    ax.legend(fontsize=8, loc="best")


def _spectrum(ax, theory):
    lam = theory.eigenvalues
    k = np.arange(1, lam.size + 1)
    zero = lam <= 0
    ax.semilogy(k[~zero], lam[~zero], "o", color="C0", ms=4, label="eigenvalues of $\\hat H$")
    if zero.any():
        floor = lam[~zero].min() / 10 if (~zero).any() else 1e-3
        ax.plot(k[zero], np.full(zero.sum(), floor), "x", color="C3", label=f"zero ({zero.sum()})")
    if theory.grokking_rate:
        ax.axhline(theory.grokking_rate, color="k", ls="--", lw=1, label=f"$\\lambda_3$ = {theory.grokking_rate:.3g}")
    ax.set_xlabel("index k")
    ax.set_ylabel(r"$\lambda_k$")
    ax.set_title(f"(d) spectrum of $\\hat H$ (|P0(D)| = {theory.n_parallelograms})")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
