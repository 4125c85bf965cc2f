"""Figure of an embedding-MLP run on addition mod p: the weights turn periodic.

Top left: train and test accuracy against steps, the steps to accuracy 0.9 marked. Top right:
the participation number of the embedding's spectrum (the effective number of frequencies,
:mod:`efftheory.theories.circle.fourier`) against steps. Middle: a few neurons' weights E[a, c] against
the input a = 0..p-1 at initialisation and at the end of the run. Bottom: the spectrum over
steps, the share of the embedding's non-constant power at each frequency k = 1..(p-1)/2 (one
column per recorded step), with the final key frequencies marked.
"""

from __future__ import annotations

import numpy as np

from efftheory import plotting
from efftheory.theories.circle.fourier import fourier_spectrum


def _neurons(E_final: np.ndarray, n: int) -> np.ndarray:
    """The ``n`` columns of the final embedding with the largest norm (the neurons that matter)."""
    return np.argsort(-np.linalg.norm(E_final, axis=0), kind="stable")[:n]


def plot_embed_mlp_training(result, neurons: int = 3):
    """The figure of the module docstring for an :class:`efftheory.models.embed_mlp.EmbedMLPResult`."""
    spec = fourier_spectrum(result.raw_embeddings)  # (T, ...)
    final = fourier_spectrum(result.E_final)
    fig = plotting.subplots(figsize=(12, 10))[0]
    fig.clear()
    grid = fig.add_gridspec(3, 2, height_ratios=(1, 1, 1.2))
    t = result.steps
    acc = fig.add_subplot(grid[0, 0])
    acc.plot(t, result.train_acc, color="C0", label="train")
    acc.plot(t, result.test_acc, color="C1", label="test")
    for value, label, style in ((result.steps_to_train, "train", "--"), (result.steps_to_test, "test", ":")):
        if value is not None:
            acc.axvline(value, color="0.4", ls=style, lw=1, label=f"{label} acc 0.9 at step {value}")
    acc.set(xlabel="step", ylabel="accuracy", ylim=(-0.02, 1.02), title=f"addition mod {result.split.p}")
    acc.grid(alpha=0.3)
    acc.legend(loc="center right", fontsize=8)
    pr = fig.add_subplot(grid[0, 1])
    pr.plot(t, spec.participation, color="C2")
    pr.set(xlabel="step", ylabel="participation number", ylim=(0, None),
           title="effective number of frequencies in E")
    pr.grid(alpha=0.3)
    cols = _neurons(result.E_final, neurons)
    a = np.arange(result.E0.shape[0])  # raw weights: what the neurons compute with
    for j, (E, what) in enumerate(((result.E0, "initialisation"), (result.E_final, f"step {int(t[-1])}"))):
        ax = fig.add_subplot(grid[1, j])
        for i, c in enumerate(cols):
            ax.plot(a, E[:, c], marker=".", ms=3, lw=0.8, color=f"C{i}", label=f"neuron {c}")
        ax.set(xlabel="input a", ylabel="weight E[a, neuron]", title=f"{what}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper right")
    heat = fig.add_subplot(grid[2, :])
    K = spec.share.shape[-1]
    edges = np.concatenate([t, [t[-1] + (t[-1] - t[-2] if t.size > 1 else 1)]])
    mesh = heat.pcolormesh(edges, np.arange(0.5, K + 1), spec.share.T, cmap="viridis", shading="flat")
    keys = final.key_frequencies()
    for k in keys:
        heat.annotate(f"{k}", (edges[-1], k), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8,
                      color="C3", annotation_clip=False)
    heat.set(xlabel="step", ylabel="frequency k",
             title=f"share of power per frequency (final key frequencies: {', '.join(map(str, keys))})")
    fig.colorbar(mesh, ax=heat, label="share")
    return fig


__all__ = ["plot_embed_mlp_training"]
