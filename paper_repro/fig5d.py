"""Fig 5d: phase diagram of the paper's permutation toy (S3 as 3x3 matrix embeddings) over the
decoder learning rate and the decoder weight decay, over several network seeds on one split.

The grid, task and model are the preset ``fig5d`` of ``efftheory phase``
(efftheory.experiments.sweep.presets.PRESETS): decoder lr 1e-5..1e-2 (10, log) x decoder weight decay
0, 1, 2, 3, 5, 10, 20, 30, 50, 100, 200; 24 of the 36 ordered samples of S3 for training; the
matrix toy of docs/theory.md §9 (embeddings 3x3 matrices uniform in [-0.05, 0.05), decoder input
vec(M_a M_b), L1 penalty 1e-3 mean |M|, embedding lr 1e-3); MSE head; budget 1e4 steps; gap
G = 1000. Split: the first split seed whose test samples can all be implied
(efftheory.experiments.sweep.presets.ideal_test_accuracy with task s3; seed 0). Each cell's
phase is the most frequent over the network seeds (a tie goes to the phase listed first in
efftheory.phases.PHASES and is marked in the cell). The cells are stored resumably in
``<out>/fig5_runs/fig5d_budget<B>_split<S>_seeds<K>/`` (re-running continues an interrupted sweep).

    python paper_repro/fig5d.py [--seeds 3] [--budget 1e4] [--quick] --out DIR [--jobs J]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

try:
    import paper_repro.common  # noqa: F401
except ImportError:
    sys.path.append(str(Path(__file__).resolve().parents[1]))
from paper_repro.common import committed_stores, parser, prepare, pyplot, save

QUICK_BUDGET = 200


def default_split_seed() -> int:
    """The first split seed of 24 S3 samples whose every test sample can be implied."""
    from efftheory.experiments.sweep.presets import PRESETS, first_split_seed

    pr = PRESETS["fig5d"]
    return first_split_seed(pr.p, n_train=pr.n_train, task=pr.task)


def run(budget: int, seeds: int, out: Path, jobs: int, quick: bool, split_seed: int):
    """The :class:`SweepResult` of Fig 5d (quick: 2 x 2 corner cells, a narrow decoder)."""
    from efftheory import Axis, Grid, SweepSettings, run_sweep
    from efftheory.experiments.sweep.presets import PRESETS

    pr = PRESETS["fig5d"]
    grid = pr.grid
    network = {**pr.network, "loss": pr.loss}
    if quick:
        grid = Grid(*(Axis.from_values(a.name, (a.values[0], a.values[-1])) for a in (grid.x, grid.y)))
        network["width"] = 32
    settings = SweepSettings(task=pr.task, p=pr.p, n_train=pr.n_train, steps=budget, seed=split_seed,
                             seeds=tuple(range(seeds)), network=network, eval_every=10 if quick else 1)
    store = out / "fig5_runs" / f"fig5d_budget{budget}_split{split_seed}_seeds{seeds}{'_quick' if quick else ''}"
    store.parent.mkdir(parents=True, exist_ok=True)
    return run_sweep(grid, settings, store, jobs=jobs, share_from=committed_stores(out, store))


def figure_data(result) -> dict:
    from paper_repro.fig5 import figure_data as fig5_data

    data = fig5_data(result)
    data.update({
        "seeds": list(result.seeds),
        "cell_counts": result.cell_counts,  # cells per most frequent phase (counts: runs per phase)
        "majority_share": result.majority_share,
        "phases_by_seed": result.phases_by_seed().tolist(),
        "final_rqi_by_seed": result.steps_by_seed("final_rqi").tolist(),
        "final_test_acc_by_seed": result.steps_by_seed("final_test_acc").tolist(),
    })
    return data


def plot(result):
    from matplotlib.text import Annotation

    from efftheory.plotting import plot_phase_diagram

    pyplot()
    fixed = result.settings
    title = (f"Fig 5d — S3 permutation toy (3x3 matrix embeddings, L1 1e-3), n_train = {fixed.n_train} of 36, "
             f"MSE, budget {fixed.steps} steps\nmost frequent phase of network seeds {','.join(map(str, result.seeds))} "
             f"on split seed {fixed.seed}; grokking gap G = {fixed.gap:g} steps")
    fig = plot_phase_diagram(result, annotate_gap=True, title=title)
    ax = fig.axes[0]
    ax.title.set_fontsize(12)
    for text in ax.texts:
        if not isinstance(text, Annotation):  # the cells' labels, not the key under the legend
            text.set_fontsize(8.5)
    fig.set_size_inches(11, 7.5)
    fig.tight_layout()
    return fig


def main(argv=None) -> int:
    ap = parser(__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3, help="network seeds per cell (default 3)")
    ap.add_argument("--split-seed", type=int, default=None, help="split seed (default: first whose test can be implied)")
    ap.add_argument("--budget", type=float, default=None, help="steps per cell (default 1e4, the paper's; quick 200)")
    args = ap.parse_args(argv)
    out = prepare(args)
    budget = int(args.budget) if args.budget else (QUICK_BUDGET if args.quick else 10_000)
    if budget < 1 or budget != (args.budget or budget):
        raise SystemExit(f"--budget {args.budget}: must be a positive whole number")
    if args.seeds < 1:
        raise SystemExit(f"--seeds {args.seeds}: must be >= 1")
    seeds = 1 if args.quick else args.seeds
    auto = default_split_seed()
    split_seed = auto if args.split_seed is None else args.split_seed
    start = time.perf_counter()
    result = run(budget, seeds, out, args.jobs, args.quick, split_seed)
    name = "fig5d_phase" + ("_quick" if args.quick else "" if budget == 10_000 else f"_budget{budget}")
    name += "" if split_seed == auto else f"_split{split_seed}"
    save(out, name, plot(result), figure_data(result),
         {"budget": budget, "seeds": seeds, "split_seed": split_seed, "default_split_seed": auto,
          "jobs": args.jobs, "quick": args.quick}, time.perf_counter() - start)
    print(f"fig5d: runs per phase {result.counts}; cells per most frequent phase {result.cell_counts}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
