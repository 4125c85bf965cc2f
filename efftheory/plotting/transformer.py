"""Figure of ``efftheory train --model transformer``: the layout of the paper's Fig 1.

Top: train and test accuracy against steps (log axis), with the steps to test accuracy 0.9 and
0.99 marked. Bottom: the token embeddings projected on their two leading principal components at
three stages (initialisation, the first step with test accuracy >= 0.9 or the middle of the run,
the last step), each token's embedding standardised over its components first (what LayerNorm
sees); every token is labelled with its symbol and coloured by it.
"""

from __future__ import annotations

import numpy as np

from efftheory import plotting
from efftheory.plotting._symbols import CMAP, symbol_colourbar


def _stages(result) -> list[tuple[int, str]]:
    """(record index, title) of the three snapshots."""
    T = result.steps.size
    t_mid = result.steps_to_test
    if t_mid is not None and 0 < t_mid < result.steps[-1]:
        mid, what = int(np.searchsorted(result.steps, t_mid)), "test acc 0.9"
    else:
        mid, what = T // 2, "middle of the run"
    return [(0, "initialisation"), (mid, what), (T - 1, "end")]


def pca_2d(E: np.ndarray) -> tuple[np.ndarray, float]:
    """((p, 2) coordinates on the two leading principal components, their variance share) of the
    token-standardised embeddings E (p, d)."""
    from efftheory.theories.track import standardise_tokens

    S = standardise_tokens(E)
    S = S - S.mean(axis=0)
    _, sv, Vt = np.linalg.svd(S, full_matrices=False)
    return S @ Vt[:2].T, float(np.sum(sv[:2] ** 2) / np.sum(sv**2))


def plot_transformer_training(result):
    """Accuracy curves over the whole width; three embedding panels below (module docstring)."""
    fig = plotting.subplots(figsize=(13, 8.5))[0]
    fig.clear()
    grid = fig.add_gridspec(2, 3, height_ratios=(1, 1.15))
    top = fig.add_subplot(grid[0, :])
    later = result.steps >= 1
    t = result.steps[later]
    top.plot(t, result.train_acc[later], color="C0", label="train")
    top.plot(t, result.test_acc[later], color="C1", label="test")
    for value, label, style in ((result.steps_to_test, "test acc 0.9", ":"), (result.steps_to_test_99, "test acc 0.99", "--")):
        if value is not None and value >= 1:
            top.axvline(value, color="0.4", ls=style, lw=1, label=f"{label} at step {value}")
    # the log axis starts at the first recorded step (e.g. 20 with --eval-every 20), not at 1
    top.set(xscale="log", xlabel="step", ylabel="accuracy", ylim=(-0.02, 1.02),
            xlim=(float(t[0]), max(float(result.steps[-1]), float(t[0]) * 2)))
    top.grid(alpha=0.3)
    top.legend(loc="upper left", fontsize=9)
    p = result.raw_embeddings.shape[1]
    colours = plotting.colours(CMAP, p)
    axes = []
    for col, (i, what) in enumerate(_stages(result)):
        ax = fig.add_subplot(grid[1, col])
        axes.append(ax)
        xy, share = pca_2d(result.raw_embeddings[i])
        ax.scatter(xy[:, 0], xy[:, 1], c=colours, s=28, zorder=2)
        for a in range(p):
            ax.annotate(str(a), xy[a], fontsize=7, xytext=(3, 3), textcoords="offset points")
        f = int(result.ring_frequency[i])
        ax.set(title=f"step {result.steps[i]} ({what})\nPCs 1-2: {share:.0%} of variance; ring fit f = {f}",
               xlabel="PC 1", ylabel="PC 2", aspect="equal")
        ax.grid(alpha=0.3)
    symbol_colourbar(fig, axes, p)
    split = result.split
    c = result.config
    fig.suptitle(f"Transformer on addition mod {split.p}: {split.n_train} of {split.task.n_samples} pairs in training; "
                 f"d = {c.dim}, {c.layers} block(s), decoder lr {c.decoder_lr:g}, wd {c.decoder_wd:g}"
                 f"{f', dropout {c.dropout:g}' if c.dropout else ''}; phase: {result.phase}")
    fig.set_layout_engine("constrained")
    return fig
