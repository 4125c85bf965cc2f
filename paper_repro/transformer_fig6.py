"""Fig 6 of the paper, in small: the transformer's phase diagram over the decoder learning rate
and the decoder weight decay on addition mod p.

The transformer of efftheory.models.transformer.kernels (docs/theory.md §15) at its default size (d = 32,
width 64, one block, embedding lr 1e-3, no dropout), p = 23, 80 % of the ordered pairs (split
seed 0), network seed 0: the column at decoder lr 1e-3 repeats the seed-0 runs of
``transformer_wd.py``. Grid: decoder lr 1e-4..1e-2 (5, log) x decoder weight decay 0, 0.3, 1, 3, 10. Each cell
is ``efftheory phase --model transformer``'s cell (efftheory.models.transformer.cell.transformer_cell): budget 1e4
steps (the paper's is 1e5), accuracies every 50 steps, the run ends once train and test accuracy
are both >= 0.99; phase rule of docs/theory.md §10 with G = 1000 steps. The cells are stored
resumably in ``<out>/sweeps/transformer_fig6[_quick]/``.

    python paper_repro/transformer_fig6.py [--quick] --out DIR [--jobs J]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

try:
    import paper_repro.common  # noqa: F401
except ImportError:
    sys.path.append(str(Path(__file__).resolve().parents[1]))
from paper_repro.common import parser, prepare, pyplot, save, stored_result  # noqa: E402

FULL = {"p": 23, "frac": 0.8, "seed": 0, "steps": 10_000, "eval_every": 50,
        "x": ("decoder_lr", "1e-4:1e-2:5:log"), "y": ("decoder_wd", "0,0.3,1,3,10")}
QUICK = {"p": 7, "frac": 0.8, "seed": 0, "steps": 100, "eval_every": 50,
         "x": ("decoder_lr", "1e-3,1e-2"), "y": ("decoder_wd", "0,1")}


def run(spec: dict, out: Path, jobs: int, quick: bool):
    """The finished :class:`SweepResult` of the grid."""
    from efftheory.experiments.sweep.grid import Axis, Grid
    from efftheory.experiments.sweep.settings import SweepSettings
    from efftheory.experiments.sweep.engine import run_sweep
    from efftheory.models.transformer.cell import transformer_cell

    grid = Grid(Axis.parse(*spec["x"]), Axis.parse(*spec["y"]))
    settings = SweepSettings(task="modadd", p=spec["p"], n_train=None, frac=spec["frac"], steps=spec["steps"],
                             seed=spec["seed"], eval_every=spec["eval_every"])
    store = out / "sweeps" / f"transformer_fig6{'_quick' if quick else ''}"
    store.parent.mkdir(parents=True, exist_ok=True)
    stored = stored_result(out, store, lambda d: run_sweep(grid, settings, d, cell_fn=transformer_cell, compute=False))
    return stored or run_sweep(grid, settings, store, cell_fn=transformer_cell, jobs=jobs)


def plot(result):
    from efftheory.plotting import plot_phase_diagram

    pyplot()
    fixed = result.settings
    title = (f"Transformer on addition mod {fixed.p} (d = 32, one block), frac {fixed.frac:g}, budget "
             f"{fixed.steps} steps, seed {fixed.seed}\nphases at accuracy 0.9, grokking gap G = {fixed.gap:g} steps")
    fig = plot_phase_diagram(result, annotate_gap=True, title=title)
    fig.axes[0].title.set_fontsize(12)
    fig.set_size_inches(10, 6.5)
    fig.tight_layout()
    return fig


def main(argv=None) -> int:
    ap = parser(__doc__.splitlines()[0])
    args = ap.parse_args(argv)
    out = prepare(args)
    spec = QUICK if args.quick else FULL
    start = time.perf_counter()
    result = run(spec, out, args.jobs, args.quick)
    from paper_repro.fig5 import figure_data

    save(out, "transformer_fig6" + ("_quick" if args.quick else ""), plot(result), figure_data(result),
         {**spec, "jobs": args.jobs, "quick": args.quick}, time.perf_counter() - start)
    print(f"transformer Fig 6: cells per phase {result.counts}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
