"""Figures of ``efftheory train`` (curves and trajectories) and ``efftheory compare`` (Figs 3, 4)."""

from __future__ import annotations

import numpy as np

from efftheory import plotting


def plot_training(result, counterparts: dict):
    """2 x 3 panels: accuracy, loss, RQI; embeddings of the network, theory flow, theory Adam.

    Embedding panels show the first normalised dimension of each symbol against steps.
    """
    fig, ax = plotting.subplots(2, 3, figsize=(14, 7.5))
    t = result.steps
    a = ax[0, 0]
    a.plot(t, result.train_acc, label="train")
    a.plot(t, result.test_acc, label="test")
    a.plot(t, result.predicted_test_acc, ls="--", label="predicted test (Âcc)")
    a.axhline(0.9, color="grey", lw=0.5)
    a.set(xlabel="step", ylabel="accuracy", title=f"accuracy — phase: {result.phase}")
    a.legend(fontsize=8)
    a = ax[0, 1]
    a.semilogy(t, result.train_loss, label="train")
    a.semilogy(t, result.test_loss, label="test")
    a.set(xlabel="step", ylabel="loss", title="loss")
    a.legend(fontsize=8)
    a = ax[0, 2]
    a.plot(t, result.rqi, label="network")
    last = t[-1]
    for m, c in counterparts.items():
        keep = c.times <= last
        a.plot(c.times[keep], c.rqi[keep], ls="--", label=f"theory ({'flow' if m == 'rk4' else m}), unscaled")
    a.axhline(0.95, color="grey", lw=0.5)
    a.set(xlabel="step", ylabel="RQI", title="representation quality", ylim=(-0.02, 1.02))
    a.legend(fontsize=8)
    a = ax[1, 0]
    a.plot(t, result.embeddings[:, :, 0])
    a.set(xlabel="step", ylabel="normalised embedding (dim 0)", title="network embeddings")
    for k, (m, c) in enumerate(counterparts.items()):
        a = ax[1, 1 + k]
        x = c.times / c.scale  # theory time mapped onto network steps by the best rescaling
        keep = x <= last
        a.plot(x[keep], c.embeddings[keep, :, 0])
        name = "gradient flow" if m == "rk4" else "Adam"
        a.set(xlabel=f"theory time / s (s = {c.scale:.2f})",
              title=f"effective theory, {name}, same E0\nrms {c.rms:.3f} (up to mirror)")
    return fig


def plot_compare(summary: dict, runs: list[dict], p_unique: np.ndarray):
    """2 x 2 panels (a) accuracy vs Âcc, (b) generalisation vs P_unique, (c) steps to RQI vs
    the theory's time scale, (d) trajectory mismatch per run (when computed)."""
    fig, ax = plotting.subplots(2, 2, figsize=(11, 9))
    a = ax[0, 0]
    real = [r["full_acc"] for r in runs]
    pred = [r["predicted_full_acc"] for r in runs]
    a.scatter(pred, real, c=[r["n_train"] for r in runs], cmap="viridis", s=18)
    a.plot([0, 1], [0, 1], color="grey", lw=0.7)
    acc = summary["accuracy"]
    corr = "n/a" if acc["correlation"] is None else f"{acc['correlation']:.2f}"
    a.set(xlabel="predicted full-table accuracy Âcc", ylabel="real full-table accuracy",
          title=f"(a) mean |diff| {acc['mean_abs_diff']:.3f}, r = {corr}")
    a = ax[0, 1]
    g = summary["generalisation"]
    n_all = np.arange(1, p_unique.size + 1)
    a.plot(n_all, p_unique, color="black", label="P_unique(n) (theory)")
    a.plot(g["n"], g["fraction"], "o", label="networks reaching test acc 0.9")
    a.plot(g["n"], g["fraction_reaching_ideal"], "x", label="networks reaching the ideal test acc")
    a.set(xlabel="training samples n", ylabel="probability", title="(b) generalisation vs uniqueness")
    a.legend(fontsize=8)
    a = ax[1, 0]
    timed = [r for r in runs if r["tau"] is not None and r["steps_to_rqi"] is not None]
    if timed:
        a.loglog([r["tau"] for r in timed], [max(r["steps_to_rqi"], 1) for r in timed], "o")
    c = summary["time_to_structure"]
    rho = "n/a" if c["spearman"] is None else f"{c['spearman']:.2f}"
    a.set(xlabel="theory time scale Z0 / (2 η λ3)", ylabel="network steps to RQI >= 0.95",
          title=f"(c) Spearman {rho}; never: {c['never_dof0']}/{c['runs_dof0']} (dof=0), "
                f"{c['never_dof_pos']}/{c['runs_dof_pos']} (dof>0)")
    a = ax[1, 1]
    if "trajectory" in summary:
        for m, label in (("rk4", "gradient flow"), ("adam", "Adam")):
            a.plot([r["n_train"] for r in runs], [r[f"rms_{m}"] for r in runs], "o", alpha=0.7, label=label)
        a.set(xlabel="training samples n", ylabel="rms of normalised trajectories",
              title="(d) network vs effective theory (best time rescaling)")
        a.legend(fontsize=8)
    else:
        a.text(0.5, 0.5, "trajectories not compared", ha="center", va="center")
        a.set_axis_off()
    return fig
