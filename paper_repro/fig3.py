"""Fig 3: real accuracy, predicted accuracy Âcc, and real against predicted (p = 10 grid).

Networks (the paper's defaults, docs/theory.md §9) on the paper's grid n_train = 5, 10, ..., 50, 54 (N = 55) with
seeds 0-2, 5000 steps; accuracies over the whole table D0 at the last step. Âcc is the
accuracy the effective theory predicts from the network's final embeddings (docs/theory.md §7): a test
sample counts as right when it forms a parallelogram, holding in the normalised embeddings,
with some training sample of the same sum. The grid is shared with Figs 4a and 4b
(``<out>/grid_p10.json``).

    python paper_repro/fig3.py [--quick] --out DIR [--jobs J]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

try:
    import paper_repro.common  # noqa: F401
except ImportError:
    sys.path.append(str(Path(__file__).resolve().parents[1]))
from paper_repro.common import grid, parser, prepare, pyplot, save

NAME = "fig3_accuracy"


def figure_data(g: dict) -> dict:
    import numpy as np

    import efftheory as et

    N = et.Addition(g["settings"]["p"]).n_samples
    runs = g["runs"]
    acc = et.summarise([et.GridRun(**r) for r in runs], np.zeros(N)).accuracy
    return {
        "n_samples": N,
        "n_train": [r["n_train"] for r in runs],
        "train_fraction": [r["n_train"] / N for r in runs],
        "seed": [r["seed"] for r in runs],
        "real_full_acc": [r["full_acc"] for r in runs],
        "predicted_full_acc": [r["predicted_full_acc"] for r in runs],
        "mean_abs_diff": acc.mean_abs_diff,
        "mean_abs_diff_ci": acc.ci,
        "correlation": acc.correlation,
        "identical_runs": int(sum(abs(r["full_acc"] - r["predicted_full_acc"]) < 1e-9 for r in runs)),
    }


def plot(d: dict, settings: dict):
    import numpy as np

    plt = pyplot()
    fig, ax = plt.subplots(1, 3, figsize=(16, 5.0), constrained_layout=True)
    x = np.array(d["train_fraction"])
    seeds = np.array(d["seed"])
    real, pred = np.array(d["real_full_acc"]), np.array(d["predicted_full_acc"])
    # seeds side by side (small horizontal offset) so that equal values stay visible
    offsets = {s: (k - (len(set(seeds)) - 1) / 2) * 0.008 for k, s in enumerate(sorted(set(seeds)))}
    for k, s in enumerate(sorted(set(seeds))):
        m = seeds == s
        ax[0].plot(x[m] + offsets[s], real[m], "o", color=f"C{k}", label=f"seed {s}")
        ax[1].plot(x[m] + offsets[s], pred[m], "s", color=f"C{k}", label=f"seed {s}")
        ax[2].plot(pred[m], real[m], "o", color=f"C{k}", alpha=0.8, label=f"seed {s}")
    for a, what in ((ax[0], "real accuracy Acc"), (ax[1], "predicted accuracy Âcc")):
        xs = sorted(set(x))
        vals = real if a is ax[0] else pred
        a.plot(xs, [vals[x == v].mean() for v in xs], "-", color="0.3", lw=1.2, label="mean over seeds")
        a.plot([0, 1], [0, 1], ":", color="0.5", lw=1, label="training set only ($|D|/N$)")
        a.set(xlabel="training fraction $|D|/N$", ylabel=f"{what} (full table)", xlim=(0, 1.02), ylim=(-0.02, 1.05))
        a.grid(alpha=0.3)
        a.legend(loc="upper left")
    ax[0].set_title("(a) networks: real accuracy")
    ax[1].set_title("(b) effective theory: Âcc from the\nnetworks' final embeddings")
    ax[2].plot([0, 1], [0, 1], color="k", lw=1, ls="--", label="Acc = Âcc")
    ax[2].set(xlabel="predicted accuracy Âcc", ylabel="real accuracy Acc", xlim=(0, 1.02), ylim=(0, 1.02),
              title=f"(c) mean |Acc − Âcc| = {d['mean_abs_diff']:.3f}; "
                    f"{d['identical_runs']}/{len(real)} equal")
    ax[2].grid(alpha=0.3)
    ax[2].legend(loc="upper left")
    fig.suptitle(f"Fig 3 — addition, p = {settings['p']}: {len(real)} networks, {settings['steps']} steps "
                 f"(accuracy over all N = {d['n_samples']} samples)")
    return fig


def main(argv=None) -> int:
    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    out = prepare(args)
    start = time.perf_counter()
    g = grid(out, args.quick, args.jobs)
    d = figure_data(g)
    save(out, NAME + ("_quick" if args.quick else ""), plot(d, g["settings"]), d,
         {**g["settings"], "grid_seconds": g["seconds"]}, time.perf_counter() - start)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
