"""Figs 5a-c: phase diagrams (comprehension, grokking, memorization, confusion) of the toy
network over two training hyper-parameters (p = 10, n_train = 45, seed 0).

Panels are the presets of ``efftheory phase`` (efftheory.experiments.sweep.presets.PRESETS): (a) embedding lr x
decoder lr, MSE; (b) decoder lr x decoder weight decay, MSE; (c) the same with cross-entropy.
Seed (of split and network): by default the first seed whose n_train = 45 split has ideal test
accuracy 1 (seed 3). A split whose test set holds a sample with no training sample of the same
sum caps test accuracy below 0.9 (seed 0: ideal 0.8), so no cell could ever be comprehension
or grokking; ``--seed 0`` draws that panel anyway.
Each cell is one network run to a step budget (1e4 by default, ``--budget 1e5`` for the
paper's) by the sweep engine :func:`efftheory.experiments.sweep.engine.run_sweep`, resumably stored in
``<out>/fig5_runs/<panel>_budget<B>/`` (re-running continues an interrupted sweep).
Phase rule (docs/theory.md §10): train/test accuracy 0.9 reached or not, gap G = 1000 steps.

``--seeds K`` runs every cell for network seeds 0..K-1 on the one split (docs/theory.md §10:
the most frequent phase of each cell is drawn with its share) and keeps the runs in
``<out>/sweeps/fig5<panel>_<budget>_<K>seeds/``, the store ``efftheory phase --preset fig5<panel>
--steps <budget> --seeds K --out <that directory>`` writes too, so either can compute it in
pieces. ``--stored-only`` draws the runs stored so far without running any (the title says how
many of how many) and writes ``fig5<panel>_phase_<budget>_<K>seeds.*``. ``--read-at B`` draws
the panel a budget B below ``--budget`` would give, read off the same runs (exact: a run does
not depend on its budget until it ends; :meth:`efftheory.experiments.sweep.result.SweepResult.at_budget`), as
``fig5<panel>_phase_<B>_<K>seeds_from_<budget>.*``.

    python paper_repro/fig5.py [--panel a|b|c|all] [--budget 1e4] [--seeds K] [--stored-only]
                               [--read-at B] [--quick] --out DIR [--jobs J]
"""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path

try:
    import paper_repro.common  # noqa: F401
except ImportError:
    sys.path.append(str(Path(__file__).resolve().parents[1]))
from paper_repro.common import committed_stores, parser, prepare, pyplot, save

PANELS = ("a", "b", "c")
QUICK_BUDGET = 200


def default_seed(p: int = 10, n_train: int = 45) -> int:
    """The first seed whose split can reach test accuracy 1 (ideal test accuracy 1)."""
    from efftheory import Addition
    from efftheory import linear_theory

    seed = 0
    while linear_theory(Addition(p).split(n_train=n_train, seed=seed)).ideal_test_accuracy < 1.0:
        seed += 1
    return seed


def _ideal(p: int, n_train: int, seed: int) -> float:
    from efftheory import Addition
    from efftheory import linear_theory

    return linear_theory(Addition(p).split(n_train=n_train, seed=seed)).ideal_test_accuracy


def _budget_text(budget: int) -> str:
    """1e4, 1e5, ... for powers of ten (the stores' names), else the number."""
    exponent = len(str(budget)) - 1
    return f"1e{exponent}" if budget == 10**exponent else str(budget)


def figure_name(letter: str, shown: int, budget: int, seeds: int, quick: bool, suffix: str = "") -> str:
    """fig5<panel>_phase[_budget<B> | _<B>_<K>seeds][_from_<runs' budget>][_quick]<suffix>: the
    1e4 one-seed panels keep their plain names."""
    name = f"fig5{letter}_phase"
    if seeds > 1:
        name += f"_{_budget_text(shown)}_{seeds}seeds"
    elif shown != budget or not (quick or budget == 10_000):
        name += f"_budget{shown}"
    if shown != budget:
        name += f"_from_{_budget_text(budget)}"
    return name + ("_quick" if quick else "") + suffix


def store_path(out: Path, letter: str, budget: int, seed: int, seeds: int, quick: bool) -> Path:
    """Where panel ``letter``'s runs are kept (one seed: fig5_runs/, not committed; several: sweeps/)."""
    if seeds == 1:
        return out / "fig5_runs" / f"fig5{letter}_budget{budget}_seed{seed}{'_quick' if quick else ''}"
    return out / "sweeps" / f"fig5{letter}_{_budget_text(budget)}_{seeds}seeds{'_quick' if quick else ''}"


def run_panel(letter: str, budget: int, out: Path, jobs: int, quick: bool, seed: int, seeds: int = 1,
              compute: bool = True, ui=None):
    """The :class:`SweepResult` of panel ``letter`` over network seeds 0..seeds-1 (one seed: the
    split's seed, as before) (quick: the 2 x 2 corners); finished unless ``compute`` is False.
    Runs that another panel's store already holds are copied from it; ``ui`` (an
    :class:`efftheory.cli._common.UI`) shows the progress."""
    import efftheory as et
    from efftheory import Axis, Grid, SweepSettings, run_sweep

    preset = et.PHASE_PRESETS[f"fig5{letter}"]
    x, x_range, y, y_range, loss = preset.x, preset.x_range, preset.y, preset.y_range, preset.loss
    gx, gy = Axis.parse(x, x_range), Axis.parse(y, y_range)
    if quick:
        gx, gy = (Axis(a.name, a.lo, a.hi, 2, a.log) for a in (gx, gy))
    settings = SweepSettings(steps=budget, seed=seed, network={"loss": loss}, eval_every=10 if quick else 1,
                             seeds=None if seeds == 1 else tuple(range(seeds)))
    store = store_path(out, letter, budget, seed, seeds, quick)
    if not compute and not (store / "manifest.json").is_file():
        store = (committed_stores(out, store) or [store])[0]  # draw the committed runs; nothing is written
    store.parent.mkdir(parents=True, exist_ok=True)
    # the panels share runs (5a's embedding lr 1e-3 column is 5b's weight decay 0 row): take them
    others = [store_path(out, o, budget, seed, seeds, quick) for o in "abc" if o != letter]
    others = [d for d in others if (d / "manifest.json").is_file()]
    # the committed store of this panel (and of the others), when --out is not figures/
    others = committed_stores(out, store) + others + [c for d in others for c in committed_stores(out, d)]
    grid = Grid(gx, gy)
    with contextlib.nullcontext(None) if ui is None else ui.progress(grid.size * seeds, f"Fig 5{letter} runs") as update:
        return run_sweep(grid, settings, store, jobs=jobs, compute=compute, share_from=others, progress=update)


def figure_data(result) -> dict:
    from efftheory.plotting.phase import cell_delays

    grid, fixed = result.grid, result.settings
    return {
        "x": grid.x.name, "x_label": grid.x.label, "x_values": list(grid.x.values), "x_log": grid.x.log,
        "y": grid.y.name, "y_label": grid.y.label, "y_values": list(grid.y.values), "y_log": grid.y.log,
        "phases": result.phases.tolist(), "counts": result.counts, "seeds": list(result.seeds),
        "majority_share": result.majority_share.tolist(), "cell_counts": result.cell_counts,
        "phase_counts_by_cell": result.phase_counts.tolist(),
        "runs_done": sum(r is not None for r in result.records), "runs_total": len(result.records),
        "t_train": result.steps("t_train"), "t_test": result.steps("t_test"), "t_rqi": result.steps("t_rqi"),
        "gap_t_test_minus_t_train": result.gaps, "fixed": fixed.to_dict(),
        # the numbers drawn in the cells: median delay over the runs in the cell's phase
        # (grokking and comprehension cells only; efftheory.plotting.phase.cell_delays)
        "delay_drawn": cell_delays(result),
        "cells_computed_now": result.computed, "cells_reused": result.reused, "cells_shared": result.shared,
        # summed over cells (CPU time of the workers; divide by the jobs for a wall-time estimate),
        # kept in the store, so it survives re-plotting from stored cells
        "cell_seconds_total": sum(r.get("seconds", 0.0) for r in result.records if r is not None),
    }


def plot(result, letter: str, runs_budget: int | None = None):
    from matplotlib.text import Annotation

    from efftheory.plotting import plot_phase_diagram

    pyplot()  # font sizes
    fixed = result.settings
    loss = str(fixed.network.get("loss", "mse")).upper()
    from efftheory import NetworkConfig

    base = NetworkConfig(**fixed.network)
    axes = {result.grid.x.name, result.grid.y.name}
    held = ", ".join(f"{name.replace('_', ' ')} {getattr(base, name):g}"
                     for name in ("embed_lr", "decoder_lr", "decoder_wd") if name not in axes)
    seeds = result.seeds
    done = sum(r is not None for r in result.records)
    who = (f"seed {fixed.seed}" if len(seeds) == 1 else
           f"network seeds {seeds[0]}-{seeds[-1]} on split seed {fixed.seed}, most frequent phase")
    title = (f"Fig 5{letter} — p = {fixed.p}, n_train = {fixed.n_train}, {loss} loss, budget {fixed.steps} steps; {held}\n"
             f"grokking gap G = {fixed.gap:g} steps, "
             f"{who} (split's ideal test acc {_ideal(fixed.p, fixed.n_train, fixed.seed):.2f})"
             + ("" if runs_budget is None else f"; read off runs of {runs_budget} steps")
             + ("" if result.complete else f"\n{done} of {len(result.records)} runs computed so far"))
    fig = plot_phase_diagram(result, annotate_gap=True, title=title)
    ax = fig.axes[0]  # the library's sizes suit a small inline plot; a paper figure reads larger
    ax.title.set_fontsize(12)
    for text in ax.texts:
        if not isinstance(text, Annotation):  # the cells' labels, not the key under the legend
            text.set_fontsize(8.5)
    for text in ax.get_legend().get_texts():
        text.set_fontsize(11)
    fig.set_size_inches(11, 7.5)
    fig.tight_layout()
    return fig


def main(argv=None) -> int:
    from efftheory.cli._common import UI

    ap = parser(__doc__.splitlines()[0])
    ap.add_argument("--panel", choices=PANELS + ("all",), default="all", help="which panel (default all)")
    ap.add_argument("--seed", type=int, default=None, help="seed of split and network (default: first with ideal test acc 1)")
    ap.add_argument("--budget", type=float, default=None, help="steps per cell (default 1e4; quick 200)")
    ap.add_argument("--seeds", type=int, default=1, help="network seeds 0..K-1 per cell on the one split (default 1)")
    ap.add_argument("--stored-only", action="store_true", help="draw the runs stored so far; run none")
    ap.add_argument("--read-at", type=float, default=None, metavar="B",
                    help="draw the panel at the smaller budget B, read off the runs of --budget")
    args = ap.parse_args(argv)
    if args.seeds < 1:
        raise SystemExit(f"--seeds {args.seeds}: must be at least 1")
    out = prepare(args)
    budget = int(args.budget) if args.budget else (QUICK_BUDGET if args.quick else 10_000)
    if budget < 1 or budget != (args.budget or budget):
        raise SystemExit(f"--budget {args.budget}: must be a positive whole number")
    if args.read_at is not None and not (1 <= args.read_at <= budget and args.read_at == int(args.read_at)):
        raise SystemExit(f"--read-at {args.read_at:g}: must be a whole number of steps between 1 and the budget {budget}")
    auto = default_seed()
    seed = auto if args.seed is None else args.seed
    for letter in PANELS if args.panel == "all" else (args.panel,):
        start = time.perf_counter()
        result = run_panel(letter, budget, out, args.jobs, args.quick, seed, args.seeds, not args.stored_only,
                           UI(json_mode=False))
        shown = budget if args.read_at is None else int(args.read_at)
        if shown != budget:
            result = result.at_budget(shown)
        name = figure_name(letter, shown, budget, args.seeds, args.quick, "" if seed == auto else f"_seed{seed}")
        save(out, name, plot(result, letter, None if shown == budget else budget), figure_data(result),
             {"panel": letter, "budget": shown, "runs_budget": budget, "seed": seed, "default_seed": auto,
              "seeds": args.seeds,
              "stored_only": args.stored_only, "jobs": args.jobs, "quick": args.quick}, time.perf_counter() - start)
        print(f"Fig 5{letter}: {sum(r is not None for r in result.records)} of {len(result.records)} runs; "
              f"runs per phase {result.counts}; cells per most frequent phase {result.cell_counts}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
