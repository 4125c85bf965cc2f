"""Phase diagram over two training hyper-parameters (paper Fig 5): comprehension, grokking,
memorization or confusion for a toy network at every cell of a grid.

Results go to --out DIR (a manifest plus one JSON line per finished cell); running the same
command again resumes, skipping finished cells. Cells run in a local process pool (--jobs) or
on a Dask cluster (--dask ADDRESS). Presets: fig5a (embedding lr x decoder lr, MSE), fig5b
(decoder lr x decoder weight decay, MSE), fig5c (fig5b with cross-entropy); explicit options
override a preset. Budget: --steps 10000 by default; the paper used 100000. Split: p = 10,
n_train = 45 of 55 (the paper's toy) unless --p/--train-num/--frac say otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys

from efftheory.cli._common import check_output_path, fraction, nonnegative_float, nonnegative_int, positive_int
from efftheory.errors import InputError

AXIS_NAMES = ("embed_lr", "decoder_lr", "embed_wd", "decoder_wd", "frac", "init_scale", "decoder_init_scale",
              "width", "dim")

# preset -> (x, x-range, y, y-range, loss); the paper's Fig 5 panels (wd grid 0..10 in steps of 1)
PRESETS = {
    "fig5a": ("embed_lr", "1e-5:1e-2:10:log", "decoder_lr", "1e-5:1e-2:10:log", "mse"),
    "fig5b": ("decoder_lr", "1e-5:1e-2:10:log", "decoder_wd", "0:10:11", "mse"),
    "fig5c": ("decoder_lr", "1e-5:1e-2:10:log", "decoder_wd", "0:10:11", "ce"),
}

LETTERS = {"comprehension": "C", "grokking": "G", "memorization": "M", "confusion": "X", None: "."}


def _steps(text: str) -> int:
    """A positive whole number of steps; accepts ``10000`` or ``1e4``."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number") from None
    if not (value >= 1 and value == int(value) and value < 1e12):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(value)


def _default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", choices=sorted(PRESETS), help="a paper panel's grid and loss (fig5a|fig5b|fig5c)")
    parser.add_argument("--x", choices=AXIS_NAMES, help="hyper-parameter on the horizontal axis")
    parser.add_argument("--x-range", metavar="LO:HI:N[:log]", help="x values, e.g. 1e-5:1e-2:10:log or 0:10:11")
    parser.add_argument("--y", choices=AXIS_NAMES, help="hyper-parameter on the vertical axis")
    parser.add_argument("--y-range", metavar="LO:HI:N[:log]", help="y values")
    parser.add_argument("--loss", choices=("mse", "ce"), help="network loss (default mse, or the preset's)")
    parser.add_argument("--steps", type=_steps, default=10_000, help="step budget per cell (default 1e4; paper 1e5)")
    parser.add_argument("--gap", type=nonnegative_float, default=1e3, help="phase gap G in steps (default 1000)")
    parser.add_argument("--seed", type=nonnegative_int, default=0, help="seed of the split and the network (default 0)")
    parser.add_argument("--p", type=positive_int, default=10, help="number of symbols (default 10)")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--train-num", type=positive_int, help="training-set size (default 45 of 55 at p=10)")
    size.add_argument("--frac", type=fraction, help="training fraction instead of --train-num")
    parser.add_argument("--width", type=positive_int, help="decoder width for every cell (network default 200)")
    parser.add_argument("--out", required=True, metavar="DIR", help="result directory (resumed if it exists)")
    parser.add_argument("--jobs", type=positive_int, default=_default_jobs(), help="local worker processes (default: all cores)")
    parser.add_argument("--dask", metavar="ADDRESS", help="run cells on this Dask scheduler instead (needs efftheory[cluster])")
    parser.add_argument("--plot", metavar="PNG", help="write the phase diagram here")
    parser.add_argument("--annotate-gap", action="store_true", help="write t_test - t_train in each plotted cell")
    parser.add_argument("--eval-every", type=positive_int, default=1,
                        help="evaluate accuracies every K steps (step counts become multiples of K; default 1, exact)")
    parser.add_argument("--no-early-stop", action="store_true", help="run every cell to the full budget")
    parser.add_argument("--cell", choices=("network", "synthetic"), default="network",
                        help="what a cell runs: the toy network, or a cheap deterministic stand-in for testing the machinery")


def _resolve(args):
    """x, x-range, y, y-range, loss from the preset and the explicit options."""
    x, xr, y, yr, loss = PRESETS[args.preset] if args.preset else (None, None, None, None, "mse")
    x, xr, y, yr = args.x or x, args.x_range or xr, args.y or y, args.y_range or yr
    for name, value in (("--x", x), ("--x-range", xr), ("--y", y), ("--y-range", yr)):
        if value is None:
            raise InputError(f"{name} is missing (give it or a --preset)")
    return x, xr, y, yr, args.loss or loss


def _executor(args):
    """(executor or None, closer) for --dask; None means the local pool / sequential path."""
    if not args.dask:
        return None, lambda: None
    try:
        from distributed import Client
    except ImportError:
        raise InputError("--dask needs dask[distributed] (pip install 'efftheory[cluster]')") from None
    try:
        client = Client(args.dask, timeout=10)
    except (OSError, TimeoutError, ValueError) as err:
        raise InputError(f"--dask {args.dask!r}: cannot connect ({type(err).__name__})") from None
    return client.get_executor(), client.close


def run(args, ui):
    from efftheory.sweep import Axis, Grid, SweepSettings, network_cell, run_sweep, synthetic_cell

    x, xr, y, yr, loss = _resolve(args)
    grid = Grid(Axis.parse(x, xr), Axis.parse(y, yr))
    network = {"loss": loss}
    if args.width is not None:
        network["width"] = args.width
    settings = SweepSettings(
        p=args.p,
        n_train=45 if (args.train_num is None and args.frac is None and args.p == 10) else args.train_num,
        frac=args.frac,
        steps=args.steps,
        gap=args.gap,
        seed=args.seed,
        eval_every=args.eval_every,
        early_stop=not args.no_early_stop,
        network=network,
    )
    if settings.n_train is None and settings.frac is None and "frac" not in (x, y):
        raise InputError(f"--train-num or --frac is needed at p={args.p} (the default n_train=45 is for p=10)")
    plot = check_output_path(args.plot, "--plot")
    cell_fn = synthetic_cell if args.cell == "synthetic" else network_cell
    ideal = None
    if cell_fn is network_cell and "frac" not in (x, y):
        ideal = _ideal_test_accuracy(settings, settings.seed)
        if ideal < 0.9 and not args.json:
            sys.stderr.write(
                f"efftheory phase: note: the split of seed {settings.seed} has ideal test accuracy "
                f"{ideal:.2f} < 0.9, so no cell can reach the test threshold (expect only memorization "
                f"and confusion); seed {_first_generalisable_seed(settings)} can\n"
            )
    executor, close = _executor(args)
    try:
        with ui.progress(grid.size, "cells") as update:
            result = run_sweep(grid, settings, args.out, cell_fn=cell_fn, executor=executor, jobs=args.jobs,
                               progress=update)
    finally:
        close()
    if plot is not None:
        from efftheory.cli._common import save_figure
        from efftheory.plotting.phase import plot_phase_diagram

        fig = plot_phase_diagram(result, annotate_gap=args.annotate_gap)
        save_figure(fig, plot)
    return {**_summary(args, result, plot), "ideal_test_accuracy": ideal}, _text(args, result, plot)


def _ideal_test_accuracy(settings, seed: int) -> float:
    """Ideal test accuracy (docs/theory.md §5) of the split every cell trains on."""
    from efftheory.tasks import Addition
    from efftheory.theory import linear_theory

    split = Addition(settings.p).split(frac=settings.frac, n_train=settings.n_train, seed=seed)
    return linear_theory(split).ideal_test_accuracy or 0.0


def _first_generalisable_seed(settings, tries: int = 1000) -> int | None:
    """The first seed whose split has ideal test accuracy >= 0.9 (None within ``tries``)."""
    return next((s for s in range(tries) if _ideal_test_accuracy(settings, s) >= 0.9), None)


def _summary(args, result, plot) -> dict:
    grid, fixed = result.grid, result.settings
    return {
        "x": grid.x.name,
        "y": grid.y.name,
        "x_values": list(grid.x.values),
        "y_values": list(grid.y.values),
        "x_log": grid.x.log,
        "y_log": grid.y.log,
        "preset": args.preset,
        "cell": args.cell,
        **{k: v for k, v in fixed.to_dict().items() if k != "network"},
        "network": fixed.network,
        "out": str(args.out),
        "cells": grid.size,
        "computed": result.computed,
        "reused": result.reused,
        "dropped": result.dropped,
        "counts": result.counts,
        "phases": result.phases.tolist(),
        "gaps": result.gaps,
        "t_train": result.steps("t_train"),
        "t_test": result.steps("t_test"),
        "t_rqi": result.steps("t_rqi"),
        "steps_run": result.steps("steps_run"),
        "plot": None if plot is None else str(plot),
        "seconds": result.seconds,
    }


def _text(args, result, plot) -> str:
    grid, fixed = result.grid, result.settings
    lines = [
        f"phase sweep: {grid.x.name} {grid.x.spec()} x {grid.y.name} {grid.y.spec()}, "
        f"loss {fixed.network.get('loss', 'mse')}, {fixed.steps} steps, G = {fixed.gap:g}, seed {fixed.seed}",
        f"{grid.size} cells: {result.computed} computed, {result.reused} reused, {result.dropped} dropped lines "
        f"redone, {result.seconds:.1f} s -> {args.out}",
        ", ".join(f"{p} {n}" for p, n in result.counts.items()),
        f"map (C comprehension, G grokking, M memorization, X confusion; rows {grid.y.name} high to low, "
        f"columns {grid.x.name} low to high):",
    ]
    phases = result.phases
    width = max(len(f"{v:.3g}") for v in grid.y.values)
    for iy in reversed(range(grid.y.n)):
        row = " ".join(LETTERS[p] for p in phases[iy])
        lines.append(f"  {grid.y.values[iy]:>{width}.3g}  {row}")
    if plot is not None:
        lines.append(f"plot: {plot}")
    return "\n".join(lines)
