"""Figs 4c/4d: embedding trajectories of the effective theory and of the network, from the same
initial embeddings (p = 10, n_train = 45, 1-d embeddings).

The seed (of split and network alike) is the first of 0, 1, 2, ... whose network reaches
RQI >= 0.95 within the step budget (seeds tried and rejected are recorded in the JSON). From the
network's own E0 the effective theory is run two ways (:func:`efftheory.experiments.comparison.linear.
effective_counterpart`): gradient flow of ℓ_eff (RK4; time in steps at the embedding lr η) and
discrete Adam on ℓ_eff at the same lr (the optimiser the network's embeddings use). All panels
show normalised embeddings (zero mean, unit sample std over the 10 symbols, docs/theory.md §7) against
the step on a log axis. ℓ_eff is symmetric under E -> -E and the theory does not model the
decoder that picks the network's orientation: a theory trajectory may end on the mirror image
of the network's structure (the panel then says so; trajectories are drawn as computed).

    python paper_repro/fig4cd.py [--quick] --out DIR [--seed S] [--steps T]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

try:
    import paper_repro.common  # noqa: F401
except ImportError:
    sys.path.append(str(Path(__file__).resolve().parents[1]))
from paper_repro.common import P, parser, prepare, pyplot, save

NAME = "fig4cd_trajectories"
N_TRAIN = 45


def pick_seed(steps: int, seed: int | None, max_seed: int = 10):
    """(seed, its TrainResult, rejected seeds): the first seed whose network reaches RQI 0.95."""
    from efftheory import NetworkConfig, train_network
    from efftheory import Addition

    rejected = []
    for s in ([seed] if seed is not None else range(max_seed)):
        split = Addition(P).split(n_train=N_TRAIN, seed=s)
        result = train_network(split, NetworkConfig(seed=s), steps)
        if result.steps_to_rqi is not None or seed is not None:
            return s, result, rejected
        rejected.append(s)
    return rejected[-1], result, rejected[:-1]  # none reached: show the last one tried


def figure_data(steps: int, seed: int | None) -> dict:
    import numpy as np

    from efftheory import effective_counterpart
    from efftheory import linear_theory

    seed, r, rejected = pick_seed(steps, seed)
    theory = linear_theory(r.split)
    net_final = r.embeddings[-1]
    panels = {}
    for method in ("rk4", "adam"):
        c = effective_counterpart(r, theory.H_hat, method)
        keep = c.times <= max(20 * steps, c.steps_to_rqi or 0)  # enough to see the theory settle
        # ℓ_eff is symmetric under E -> -E: say whether the theory settles on the mirror image
        # of the network's final structure (compared at the network's last step)
        end = c.embeddings[min(np.searchsorted(c.times, steps), c.times.size - 1)]
        mirrored = bool(np.sum(end * net_final) < 0)
        panels[method] = {"times": c.times[keep], "embeddings": c.embeddings[keep][:, :, 0],
                          "ends_mirrored": mirrored, "rqi": c.rqi[keep],
                          "steps_to_rqi": c.steps_to_rqi, "best_time_scale": c.scale, "rms_best_scale": c.rms,
                          "rms_unscaled_no_mirror": c.rms_unscaled}
    return {
        "p": P, "n_train": N_TRAIN, "seed": seed, "seeds_rejected_no_structure": rejected,
        "dof": theory.dof, "grokking_rate": theory.grokking_rate, "E0": r.E0[:, 0],
        "network": {"steps": r.steps, "embeddings": r.embeddings[:, :, 0], "rqi": r.rqi,
                    "steps_to_rqi": r.steps_to_rqi, "steps_to_train": r.steps_to_train,
                    "steps_to_test": r.steps_to_test, "phase": r.phase,
                    "final_test_acc": float(r.test_acc[-1]), "ideal_test_acc": theory.ideal_test_accuracy},
        "theory_gradient_flow": panels["rk4"], "theory_adam": panels["adam"],
    }


def _panel(ax, t, E, title, hit, cmap):
    import numpy as np

    t = np.asarray(t, float)
    t = np.where(t < 1, 1, t)  # log axis: step 0 (the initial embeddings) is drawn at step 1
    for k in range(E.shape[1]):
        ax.plot(t, E[:, k], color=cmap(k / (E.shape[1] - 1)), lw=1.6)
    if hit is not None:
        ax.axvline(hit, color="k", ls="--", lw=1, label=f"RQI ≥ 0.95 at step {hit:.0f}")
        ax.legend(loc="lower left", fontsize=9)
    ax.set_xscale("log")
    ax.set_title(title)
    ax.set_xlabel("step (log scale)")
    ax.grid(alpha=0.3)


def network_title(nw: dict) -> str:
    """Panel (d)'s title: the network's phase, and why it reads "memorization" when the network
    formed the structure on a split whose ideal test accuracy is below the 0.9 threshold."""
    title = f"(d) network: final test acc {nw['final_test_acc']:.2f} (ideal for this split {nw['ideal_test_acc']:.2f})"
    ideal = nw["ideal_test_acc"]
    if nw["phase"] == "memorization" and nw["steps_to_rqi"] is not None and ideal is not None and ideal < 0.9:
        return (title + f"\nstructure formed, yet phase 'memorization': test acc 0.9\n"
                f"is out of reach on this split (ideal {ideal:.2f})")
    return title + f"\nphase: {nw['phase']}"


def plot(d: dict):
    import matplotlib as mpl

    plt = pyplot()
    fig, ax = plt.subplots(1, 3, figsize=(17, 5.4), sharex=True, sharey=True, constrained_layout=True)
    cmap = mpl.colormaps["viridis"]
    for a, key, name in ((ax[0], "theory_gradient_flow", "(c) effective theory: gradient flow, t in steps at η"),
                         (ax[1], "theory_adam", "(c') effective theory: Adam on ℓ_eff")):
        th = d[key]
        note = "\n(ends on the mirror image of the network's)" if th["ends_mirrored"] else "\n"
        _panel(a, th["times"], th["embeddings"], f"{name}{note}", th["steps_to_rqi"], cmap)
    nw = d["network"]
    _panel(ax[2], nw["steps"], nw["embeddings"], network_title(nw), nw["steps_to_rqi"], cmap)
    ax[2].tick_params(labelbottom=True)
    ax[0].set_ylabel("normalised embedding $\\hat E_i$ (1-d)")
    sm = mpl.cm.ScalarMappable(cmap=cmap, norm=mpl.colors.Normalize(0, d["p"] - 1))
    fig.colorbar(sm, ax=ax, label="symbol i", ticks=range(d["p"]), pad=0.01)
    fig.suptitle(f"Figs 4c/d — p = {d['p']}, n_train = {d['n_train']}, seed {d['seed']}: the same initial "
                 f"embeddings under the effective theory (lr η = 1e-3) and in the network")
    return fig


def main(argv=None) -> int:
    ap = parser(__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=None, help="seed of split and network (default: first reaching RQI 0.95)")
    ap.add_argument("--steps", type=int, default=None, help="network steps (default 5000; quick 300)")
    args = ap.parse_args(argv)
    out = prepare(args)
    steps = args.steps or (300 if args.quick else 5000)
    seed = 0 if args.quick and args.seed is None else args.seed
    start = time.perf_counter()
    d = figure_data(steps, seed)
    save(out, NAME + ("_quick" if args.quick else ""), plot(d), d, {"p": P, "n_train": N_TRAIN, "steps": steps,
         "seed_option": args.seed, "network": "paper defaults (docs/theory.md §9)"}, time.perf_counter() - start)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
