"""Phase diagram over two training hyper-parameters (paper Fig 5): comprehension, grokking,
memorization or confusion for a toy network at every cell of a grid, over one or more seeds.

Results go to --out DIR (a manifest plus one JSON line per finished cell and seed); running the
same command again resumes, skipping finished runs. A directory is locked while a sweep runs
into it: a second one is refused (or waits, with --wait). Cells run in a local process pool
(--jobs) or on a Dask cluster (--dask tcp://HOST:PORT, which must answer within --dask-timeout
seconds and must be trusted: tasks and results travel pickled). Presets: fig5a (embedding lr x decoder lr, MSE),
fig5b (decoder lr x decoder weight decay, MSE), fig5c (fig5b with cross-entropy), fig5d (the
permutation toy: 3x3 matrix embeddings of S3, 24 of 36 samples, decoder lr x decoder weight
decay 0..200); explicit options override a preset, and without --seed/--split-seed a preset
trains on the first split seed whose ideal test accuracy is 1 (for S3: whose test samples can
all be implied, efftheory.experiments.sweep.presets.ideal_test_accuracy). Budget: --steps 10000 by default; the
paper used 100000 for Figs 5a-c, 10000 for Fig 5d.
Split: p = 10, n_train = 45 of 55 (the paper's toy) unless --p/--train-num/--frac or the preset
say otherwise. Ranges are LO:HI:N[:log] or an explicit list of values (0,1,2,5,10).
Seeds: --seeds K (or a list) runs every cell with K network seeds on one split (--split-seed),
or on each seed's own split (--vary-split); the map shows each cell's majority phase.
"""

from __future__ import annotations

import argparse
import os
import sys

from efftheory.cli._common import (P_HELP, check_p, check_output_path, fraction, nonnegative_float, nonnegative_int,
                                   positive_float, positive_int)
from efftheory.errors import InputError, require
from efftheory.phases import PHASES
from efftheory.experiments.sweep.grid import AXES
from efftheory.experiments.sweep.presets import PRESETS
from efftheory.runtime.parallel import DASK_TIMEOUT

SEED_TRIES = 1000  # split seeds searched for one that can generalise

# one-letter map symbols (upper case: every seed agrees; lower case: a majority only)
LETTERS = {"comprehension": "C", "grokking": "G", "memorization": "M", "confusion": "X", "diverged": "D"}


def _letter(phase: str | None, unanimous: bool = True) -> str:
    if phase is None:
        return "."
    letter = LETTERS.get(phase, phase[0].upper())
    return letter if unanimous else letter.lower()


def _seeds(text: str) -> tuple[int, ...]:
    """``"K"`` -> seeds 0..K-1; ``"0,3,7"`` -> those seeds (distinct, non-negative). Whole
    numbers may be written as every integer option takes them (``1e2`` is 100)."""
    from efftheory.cli._common import _whole
    from efftheory.experiments.sweep.grid import MAX_RUNS

    parts = [part.strip() for part in text.split(",")]
    values = [_whole(part) for part in parts if part]
    if not all(isinstance(v, int) for v in values):
        raise argparse.ArgumentTypeError(f"{text!r} is not a count K or a list of seeds like 0,3,7")
    if not values or any(v < 0 for v in values):
        raise argparse.ArgumentTypeError(f"{text!r} is not a count K >= 1 or a list of non-negative seeds")
    if "," not in text:
        if values[0] < 1:
            raise argparse.ArgumentTypeError(f"{text!r}: the number of seeds must be >= 1")
        if values[0] > MAX_RUNS:
            raise argparse.ArgumentTypeError(f"{text!r} seeds is above the most a sweep may run ({MAX_RUNS} runs)")
        return tuple(range(values[0]))
    if len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"{text!r} repeats a seed")
    return tuple(values)


#: the largest step budget per cell: 1e11 steps of the toy network (about 1e4 steps/s on one
#: core) would take some 100 days
MAX_STEPS = 10**11


def _steps(text: str) -> int:
    """A positive whole number of steps up to :data:`MAX_STEPS`; accepts ``10000`` or ``1e4``."""
    from efftheory.cli._common import _whole

    value = _whole(text)
    if not (isinstance(value, int) and value >= 1):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    if value > MAX_STEPS:
        raise argparse.ArgumentTypeError(f"{text!r} is above the largest budget, {MAX_STEPS:.0e} steps per cell")
    return value


def _default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", choices=sorted(PRESETS), help="a paper panel's grid and model (fig5a|fig5b|fig5c|fig5d)")
    parser.add_argument("--x", choices=tuple(AXES), help="hyper-parameter on the horizontal axis")
    parser.add_argument("--x-range", metavar="LO:HI:N[:log]",
                        help="x values, e.g. 1e-5:1e-2:10:log or 0:10:11, or a list such as 0,1,2,5,10")
    parser.add_argument("--y", choices=tuple(AXES), help="hyper-parameter on the vertical axis")
    parser.add_argument("--y-range", metavar="LO:HI:N[:log]", help="y values (a range or a list, as --x-range)")
    parser.add_argument("--loss", choices=("mse", "ce"), help="network loss (default mse, or the preset's)")
    parser.add_argument("--steps", type=_steps, default=10_000, help="step budget per cell (default 1e4; paper 1e5)")
    parser.add_argument("--gap", type=nonnegative_float, default=1e3, help="phase gap G in steps (default 1000)")
    seeds = parser.add_mutually_exclusive_group()
    seeds.add_argument("--seed", type=nonnegative_int,
                       help="seed of the split and the network (default 0; a preset: the first split seed that can "
                            "generalise)")
    seeds.add_argument("--seeds", type=_seeds, metavar="K|S1,S2,...",
                       help="network seeds per cell: K means 0..K-1 (default: one seed)")
    split = parser.add_mutually_exclusive_group()
    split.add_argument("--split-seed", type=nonnegative_int, help="seed of the one split every run trains on")
    split.add_argument("--vary-split", action="store_true", help="each network seed trains on its own seed's split")
    parser.add_argument("--p", type=positive_int, default=None, help=P_HELP + " (default 10, or the preset's)")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--train-num", type=positive_int,
                      help="training-set size (default 45 of 55 at p=10, or the preset's: 24 of 36 for fig5d)")
    size.add_argument("--frac", type=fraction, help="training fraction instead of --train-num")
    parser.add_argument("--width", type=positive_int, help="decoder width for every cell (network default 200)")
    from efftheory.tasks import task_names

    parser.add_argument("--task", choices=("add", "modadd", *task_names("images"), *task_names("bits")), default=None,
                        help="add: integer addition (the paper's toy); modadd: addition mod p, with 2-d embeddings "
                             "and (unless --loss or a preset says otherwise) the CE head; digits (--model omnigrok): "
                             "scikit-learn's 8x8 digits, no --p, --train-num or a train_num axis needed; parity "
                             "(--model embed-mlp): the parity of 3 of --p bits (default: the model's first task; add "
                             "for the toy)")
    parser.add_argument("--out", required=True, metavar="DIR", help="result directory (resumed if it exists)")
    parser.add_argument("--wait", action="store_true", help="if another sweep is running into --out, wait for it")
    parser.add_argument("--share-from", action="append", default=[], metavar="DIR",
                        help="result directory of another sweep: runs it holds (the same resolved run) are copied, "
                             "not computed again (repeatable)")
    parser.add_argument("--jobs", type=positive_int, default=_default_jobs(), help="local worker processes (default: all cores)")
    parser.add_argument("--dask", metavar="ADDRESS",
                        help="run cells on this Dask scheduler instead, tcp://HOST:PORT (needs efftheory[cluster]); "
                             "the scheduler must be trusted: tasks and results travel pickled")
    parser.add_argument("--dask-timeout", type=positive_float, default=DASK_TIMEOUT, metavar="SECONDS",
                        help=f"give up on a --dask scheduler that has not answered within this (default {DASK_TIMEOUT:g} s)")
    parser.add_argument("--plot", metavar="PNG", help="write the phase diagram here")
    parser.add_argument("--annotate-gap", action="store_true", help="write t_test - t_train in each plotted cell")
    parser.add_argument("--eval-every", type=positive_int, default=1,
                        help="record stride of a cell function (default 1); the network cell's step counts are exact "
                             "at every step whatever K, so K > 1 only names a different sweep")
    parser.add_argument("--no-early-stop", action="store_true", help="run every cell to the full budget")
    from efftheory.models import MODELS

    parser.add_argument("--model", choices=tuple(MODELS), default="toy",
                        help="; ".join(f"{m.name}: {m.summary} (tasks {', '.join(m.tasks)})" for m in MODELS.values())
                             + " (default toy; --model alone implies its first task)")
    parser.add_argument("--cell", choices=("network", "synthetic"), default="network",
                        help="what a cell runs: the toy network, or a cheap deterministic stand-in for testing the machinery")


def _resolve(args):
    """x, x-range, y, y-range, loss from the preset and the explicit options."""
    preset = PRESETS.get(args.preset)
    x, xr, y, yr, loss = (preset.x, preset.x_range, preset.y, preset.y_range, preset.loss) if preset else (
        None, None, None, None, "mse")
    x, xr, y, yr = args.x or x, args.x_range or xr, args.y or y, args.y_range or yr
    for name, value in (("--x", x), ("--x-range", xr), ("--y", y), ("--y-range", yr)):
        if value is None:
            raise InputError(f"{name} is missing (give it or a --preset)")
    return x, xr, y, yr, args.loss or loss


def _executor(args):
    """(executor or None, closer) for --dask (:func:`efftheory.runtime.parallel.dask_executor`); None
    means the local pool / sequential path."""
    if args.dask is None:
        return None, lambda: None
    import logging

    from efftheory.runtime.parallel import dask_executor

    try:  # distributed sets its loggers' levels when imported: silence them after that
        import distributed  # noqa: F401
    except ImportError:
        pass  # dask_executor says what to install
    # it logs a lost connection as tracebacks on stderr; the command says it in one line
    for name in ["distributed", *(n for n in logging.root.manager.loggerDict if n.startswith("distributed."))]:
        logging.getLogger(name).setLevel(logging.CRITICAL)
    return dask_executor(args.dask, args.dask_timeout)


def run(args, ui):
    import concurrent.futures as cf

    from efftheory.runtime.store import read_sweep
    from efftheory.experiments.sweep.cells import synthetic_cell
    from efftheory.experiments.sweep.engine import check_size, run_sweep
    from efftheory.experiments.sweep.grid import Axis, Grid
    from efftheory.experiments.sweep.settings import SweepSettings
    from efftheory.models import MODELS
    from efftheory.models.toy.cell import network_cell

    for other in args.share_from:  # a directory that holds no sweep is refused before any work
        read_sweep(other, "--share-from")
    model = MODELS[args.model]
    preset = PRESETS.get(args.preset)
    require(preset is None or preset.model == model.name,
            f"--preset is a {preset.model if preset else 'toy'}-network panel; give --x/--y ranges with --model {model.name}")
    # a preset of another task (fig5d: S3) brings its own task; otherwise --task, else the model's first
    task = preset.task if preset and preset.task != "add" else (args.task or model.default_task)
    require(task in model.tasks, f"--model {model.name} trains on " + " or ".join(f"--task {t}" for t in model.tasks)
            + f" (got --task {task})")
    require(args.loss is None or "loss" in {o.name for o in model.options},
            f"--loss is not an option of --model {model.name} (it has its own head)")
    x, xr, y, yr, loss = _resolve(args)
    grid = Grid(Axis.parse(x, xr), Axis.parse(y, yr))
    network = SWEEP_NETWORK.get(model.name, _no_overrides)(args, preset, task, loss)
    if args.width is not None:
        network["width"] = args.width
    from efftheory.tasks import TASKS

    # a task read from files (mnist) would need them at the same path on every worker, and the
    # sweep's settings have no place for that path: train, landscape and delay take --data-dir
    require(not TASKS[task].needs_files,
            f"--task {task} is read from files, which a phase sweep cannot take yet; sweep --task digits, or "
            f"train one run with: efftheory train --model {model.name} --task {task} --data-dir DIR")
    if not TASKS[task].takes_p:  # an image set: no symbols, no default training size
        require(args.p is None, f"--task {task} is a set of images, not a table of symbols; --p does not apply")
        require(args.train_num is not None or args.frac is not None or {"train_num", "frac"} & {x, y},
                f"--task {task} needs --train-num N or --frac F (or a train_num or frac axis)")
    p = args.p if args.p is not None else (preset.p if preset and preset.p else 10)
    check_p(p)
    n_train = args.train_num
    if n_train is None and args.frac is None and TASKS[task].takes_p:
        if preset and preset.n_train and p == (preset.p or 10):
            n_train = preset.n_train
        elif p == 10:
            n_train = 45
    settings = SweepSettings(
        task=task,
        p=p,
        n_train=n_train,
        frac=args.frac,
        steps=args.steps,
        gap=args.gap,
        eval_every=args.eval_every,
        early_stop=not args.no_early_stop,
        network=network,
        vary_split=args.vary_split,
    )
    if settings.n_train is None and settings.frac is None and not {"frac", "train_num"} & {x, y}:
        raise InputError(f"--train-num or --frac is needed at p={p} (the default n_train=45 is for p=10)")
    plot = check_output_path(args.plot, "--plot")
    cell_fn = synthetic_cell if args.cell == "synthetic" else model.cell
    fixed_split = not {"frac", "train_num"} & {x, y}
    settings = _with_seeds(args, settings, fixed_split)
    ideal = _ideal_note(args, settings) if (cell_fn is network_cell and fixed_split) else {}
    _check_out(args, plot)
    check_size(grid, settings)  # before anything is allocated or any scheduler is asked
    executor, close = _executor(args)
    try:
        with ui.progress(grid.size * len(settings.network_seeds), "runs") as update:
            result = run_sweep(grid, settings, args.out, cell_fn=cell_fn, executor=executor, jobs=args.jobs,
                               progress=update, wait=args.wait, share_from=args.share_from)
    except (OSError, TimeoutError, cf.CancelledError) as err:
        if executor is None:
            raise
        reason = " ".join(str(err).split())[:120] or f"no answer for {args.dask_timeout:g} s"
        raise InputError(f"--dask {args.dask!r}: lost the scheduler during the sweep ({reason}); the finished "
                         f"runs are stored in {args.out}: run the same command again to resume") from None
    finally:
        close()
    _mixed_arithmetic_note(args, result)
    if plot is not None:
        from efftheory.cli._common import save_figure
        from efftheory.plotting.phase import plot_phase_diagram

        fig = plot_phase_diagram(result, annotate_gap=args.annotate_gap)
        save_figure(fig, plot)
    by_seed = [ideal.get(settings.split_seed(s)) for s in settings.network_seeds] if ideal else None
    summary = {**_summary(args, result, plot), "ideal_test_accuracy_by_seed": by_seed,
               "ideal_test_accuracy": None if settings.vary_split else ideal.get(settings.seed)}
    return summary, _text(args, result, plot)


def _check_out(args, plot) -> None:
    """Refuse an empty --out (it would be the current directory) and a --plot that is one of
    the store's own files."""
    from efftheory.runtime.files import same_file
    from efftheory.runtime.store import LOCK, MANIFEST, RESULTS

    require(args.out != "", "--out is empty; give the result directory")
    for name in (MANIFEST, RESULTS, LOCK):
        if plot is not None and same_file(plot, os.path.join(args.out, name)):
            raise InputError(f"--plot {str(plot)!r} is the sweep's own {name}; give the plot its own file")


def _config_defaults(model_name: str) -> dict:
    """``{field: default}`` of the model's config."""
    import dataclasses

    from efftheory.models import MODELS

    return {f.name: f.default for f in dataclasses.fields(MODELS[model_name].config_type)}


def _has_field(model_name: str, name: str) -> bool:
    """Whether the model's config has the field ``name`` (the toy's ``embed``: its input stage)."""
    return name in _config_defaults(model_name)


def _setting(model_name: str, network: dict, name: str):
    """The value of config field ``name`` in a sweep's cells: the sweep's own, else the model's
    default (the toy's loss is "mse", the embedding MLP's "ce")."""
    return network.get(name, _config_defaults(model_name)[name])


def _has_loss(model_name: str) -> bool:
    from efftheory.models import MODELS

    return "loss" in {o.name for o in MODELS[model_name].options}


def _toy_network(args, preset, task: str, loss: str) -> dict:
    """The toy's config fields a sweep sets besides its axes: the preset's, the loss, and for
    addition mod p 2-d embeddings and (unless --loss or a preset says otherwise) the CE head."""
    network = {**(preset.network if preset else {}), "loss": loss}
    if task == "modadd":  # a ring needs a plane; the CE head has one logit per residue
        network["dim"] = 2
        if args.loss is None and args.preset is None:
            network["loss"] = "ce"
    return network


def _no_overrides(args, preset, task: str, loss: str) -> dict:
    """A model's own defaults (the transformer's: efftheory.models.transformer.config.TransformerConfig)."""
    return {}


#: model -> the config fields its sweeps set besides the axes (a model not listed: none)
SWEEP_NETWORK = {"toy": _toy_network}


def _note(args, text: str) -> None:
    """One line on stderr, unless --json."""
    if not args.json:
        sys.stderr.write(f"efftheory phase: note: {text}\n")


def _mixed_arithmetic_note(args, result) -> None:
    """Say so when the stored runs were computed with more than one arithmetic."""
    known = {name: n for name, n in result.arithmetics.items() if name is not None}
    if len(known) > 1:
        listed = ", ".join(f"{n} on {name}" for name, n in known.items())
        _note(args, f"the runs in {args.out} were computed with {len(known)} arithmetics ({listed}); they "
                    f"agree to the bit only within one, and a few may differ in step counts or phase "
                    f"(docs/theory.md §10)")


def _split_size(settings) -> dict:
    return {"n_train": settings.n_train, "frac": settings.frac}


def _with_seeds(args, settings, fixed_split: bool):
    """``settings`` with the split seed and network seeds the options (or the preset) ask for.

    Split seed: --split-seed, else --seed, else for a preset the first split seed whose ideal
    test accuracy is 1 (said on stderr), else 0. Network seeds: --seeds, else --seed, else the
    split seed.
    """
    import dataclasses

    from efftheory.experiments.sweep.presets import first_split_seed

    split_seed = args.split_seed if args.split_seed is not None else args.seed
    if split_seed is None and args.preset and fixed_split and not args.vary_split:
        split_seed = first_split_seed(settings.p, **_split_size(settings), tries=SEED_TRIES, task=settings.task)
        if split_seed is None:
            size = f"frac={settings.frac}" if settings.frac is not None else f"n_train={settings.n_train}"
            _note(args, f"no split seed below {SEED_TRIES} has ideal test accuracy 1 at p={settings.p}, {size}; "
                        f"using split seed 0")
            split_seed = 0
        else:
            _note(args, f"preset {args.preset}: split seed {split_seed}, the first whose ideal test accuracy is 1")
    split_seed = 0 if split_seed is None else split_seed
    seeds = args.seeds or (args.seed if args.seed is not None else split_seed,)
    return dataclasses.replace(settings, seed=split_seed, seeds=tuple(seeds))


def _ideal_note(args, settings) -> dict:
    """``{split seed: ideal test accuracy}`` of the splits the runs train on; a note on stderr
    for those that cannot reach the test threshold 0.9."""
    from efftheory.experiments.sweep.presets import first_split_seed, ideal_test_accuracy

    split_seeds = sorted({settings.split_seed(s) for s in settings.network_seeds})
    ideal = {s: ideal_test_accuracy(settings.p, **_split_size(settings), seed=s, task=settings.task)
             for s in split_seeds}
    low = [s for s in split_seeds if ideal[s] < 0.9]
    if low:
        good = first_split_seed(settings.p, **_split_size(settings), at_least=0.9, tries=SEED_TRIES,
                                task=settings.task)
        which = (f"seed {good} can" if good is not None else f"no seed below {SEED_TRIES} can")
        named = ", ".join(f"seed {s} has ideal test accuracy {ideal[s]:.2f}" for s in low[:3]) + (
            f" (and {len(low) - 3} more)" if len(low) > 3 else "")
        _note(args, f"the split of {named} < 0.9, so no run on it can reach the test threshold (expect only "
                    f"memorization and confusion there); {which}")
    return ideal


def _summary(args, result, plot) -> dict:
    """The --json object. Per-cell maps are lists of rows (y) of columns (x); with several seeds
    ``phases`` is the majority phase, step maps are medians over the seeds that reached them."""
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
        "task": fixed.task,
        **{k: v for k, v in fixed.to_dict().items() if k != "network"},
        "split_seed": None if fixed.vary_split else fixed.seed,
        "network": fixed.network,
        "out": str(args.out),
        "cells": grid.size,
        "runs": len(result.records),
        "computed": result.computed,
        "reused": result.reused,
        "shared": result.shared,
        "dropped": result.dropped,
        "arithmetics": [[name, n] for name, n in result.arithmetics.items()],
        "counts": result.counts,
        "cell_counts": result.cell_counts,
        "phases": result.phases.tolist(),
        "majority_share": result.majority_share,
        "phase_counts": {p: result.phase_counts[..., k] for k, p in enumerate(PHASES)},
        "phases_by_seed": result.phases_by_seed().tolist(),
        "gaps": result.gaps,
        "t_train": result.steps("t_train"),
        "t_test": result.steps("t_test"),
        "t_rqi": result.steps("t_rqi"),
        "steps_run": result.steps("steps_run"),
        "plot": None if plot is None else str(plot),
        "seconds": result.seconds,
    }


def _seed_words(fixed) -> str:
    seeds = fixed.network_seeds
    if len(seeds) == 1 and not fixed.vary_split and seeds[0] == fixed.seed:
        return f"seed {fixed.seed}"
    listed = ",".join(map(str, seeds)) if len(seeds) <= 8 else f"{seeds[0]}..{seeds[-1]} ({len(seeds)})"
    split = "each on its own split" if fixed.vary_split else f"on split seed {fixed.seed}"
    return f"network seeds {listed} {split}"


def _text(args, result, plot) -> str:
    grid, fixed = result.grid, result.settings
    many = len(fixed.network_seeds) > 1
    what = "runs" if many else "cells"
    lines = [
        f"phase sweep: {grid.x.name} {grid.x.spec()} x {grid.y.name} {grid.y.spec()}, "
        + ("" if fixed.task == "add" else f"task {fixed.task}"
           + (f" ({_setting(args.model, fixed.network, 'embed')} model), " if _has_field(args.model, "embed") else ", "))
        + (f"loss {_setting(args.model, fixed.network, 'loss')}, " if _has_loss(args.model) else f"the {args.model} model, ")
        + f"{fixed.steps} steps, G = {fixed.gap:g}, {_seed_words(fixed)}",
        f"{len(result.records)} {what}: {result.computed} computed, {result.reused} reused, "
        + (f"{result.shared} shared from other sweeps, " if result.shared else "")
        + f"{result.dropped} stored "
        f"lines ignored, {result.seconds:.1f} s -> {args.out}",
        ", ".join(f"{p} {n}" for p, n in result.counts.items()) + (" runs" if many else ""),
    ]
    if many:
        lines.append("majority: " + ", ".join(f"{p} {n}" for p, n in result.cell_counts.items()) + " cells")
    legend = ", ".join(f"{_letter(p)} {p}" for p in PHASES)
    lines.append(f"map ({legend}{'; lower case: a majority, not every seed' if many else ''}; "
                 f"rows {grid.y.name} high to low, columns {grid.x.name} low to high):")
    phases, share = result.phases, result.majority_share
    width = max(len(f"{v:.3g}") for v in grid.y.values)
    for iy in reversed(range(grid.y.n)):
        row = " ".join(_letter(p, not share[iy, ix] < 1) for ix, p in enumerate(phases[iy]))
        lines.append(f"  {grid.y.values[iy]:>{width}.3g}  {row}")
    if plot is not None:
        lines.append(f"plot: {plot}")
    return "\n".join(lines)
