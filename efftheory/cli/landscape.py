"""The reduced (LU) landscape of the Omnigrok MLP on images: final train and test loss and accuracy
with the weight norm held at each w of a grid (parameters put back on the sphere ||theta|| = w
after every update), the test-loss minimum w_c per seed, their median and range. The grid is
--norms, or --count norms evenly spaced in ln w from --low to --high times the initial norm at
alpha = 1."""

from __future__ import annotations

import time

import numpy as np

from efftheory.cli._common import (check_output_path, int_list, nonnegative_int, number_list, positive_float,
                                   positive_int, save_figure)
from efftheory.errors import require


def add_mlp_arguments(parser) -> None:
    """The Omnigrok MLP's options and --jobs, shared by ``landscape`` and ``delay``."""
    parser.add_argument("--width", type=positive_int, default=200, help="hidden width (default 200)")
    parser.add_argument("--depth", type=positive_int, default=3, help="linear layers (default 3)")
    parser.add_argument("--loss", choices=("mse", "ce"), default="mse", help="mse on one-hot targets or ce (mse)")
    parser.add_argument("--lr", type=positive_float, default=1e-3, help="AdamW learning rate (default 1e-3)")
    parser.add_argument("--batch-size", type=nonnegative_int, default=0, help="mini-batch size, 0 = full batch (0)")
    parser.add_argument("--jobs", type=positive_int, default=1, help="worker processes (default 1)")


def add_arguments(parser) -> None:
    from efftheory.tasks import task_names

    parser.add_argument("--task", choices=task_names("images"), default="digits",
                        help="digits: scikit-learn's 8x8 digits (1297 training images, 500 test); mnist: the four "
                             "IDX files in --data-dir (default digits)")
    parser.add_argument("--data-dir", metavar="DIR", default=None, help="directory of the MNIST IDX files (gzipped or not)")
    parser.add_argument("--train-num", type=positive_int, default=300, help="training images per seed (default 300)")
    parser.add_argument("--norms", type=number_list(), default=None, help="weight norms, comma-separated (default: the "
                                                                        "--low/--high/--count grid)")
    parser.add_argument("--low", type=positive_float, default=0.25, help="grid start, times the initial norm (0.25)")
    parser.add_argument("--high", type=positive_float, default=8.0, help="grid end, times the initial norm (8)")
    parser.add_argument("--count", type=positive_int, default=12, help="grid points (default 12)")
    parser.add_argument("--seeds", type=int_list, default=[0, 1, 2], help="split and init seeds (default 0,1,2)")
    parser.add_argument("--steps", type=positive_int, default=2000, help="updates per point (default 2000)")
    add_mlp_arguments(parser)
    parser.add_argument("--plot", metavar="PNG", help="draw loss and accuracy against w")


def run(args, ui):
    from efftheory.experiments.landscape import default_norms, reduced_landscape
    from efftheory.tasks import make_task
    from efftheory.models.omnigrok.training import OmnigrokConfig, init_params

    check_output_path(args.plot, "--plot", figure=True)
    require(all(s >= 0 for s in args.seeds), f"--seeds must be non-negative, got {args.seeds}")
    if args.norms is None:
        require(args.low < args.high, f"--low {args.low} must be below --high {args.high}")
        require(args.count >= 3, f"--count must be at least 3, got {args.count}")
    start = time.perf_counter()
    task = make_task(args.task, data_dir=args.data_dir)
    require(args.train_num <= task.n_pool, f"--train-num {args.train_num} is larger than the {task.n_pool} "
                                           f"training images of {task.name}")
    config = OmnigrokConfig(width=args.width, depth=args.depth, loss=args.loss, lr=args.lr, wd=0.0,
                            batch_size=args.batch_size)
    theta0, _ = init_params(task.n_inputs, task.n_classes, config)
    w_init = float(np.linalg.norm(theta0.astype(np.float64)))
    if args.norms is not None:
        norms = np.array(args.norms)
    else:
        norms = default_norms(w_init, args.low, args.high, args.count)
    n_points = len(set(np.asarray(norms).tolist())) * len(args.seeds)
    with ui.progress(n_points, "landscape points") as tick:
        result = reduced_landscape(task, args.train_num, norms, args.seeds, args.steps, config, jobs=args.jobs,
                                   progress=tick)
    if args.plot:
        from efftheory.plotting.omnigrok import plot_landscape

        save_figure(plot_landscape(result), args.plot)
    out = {**result.to_json(), "w_init": w_init, "seconds": round(time.perf_counter() - start, 3)}
    return out, _text(result, w_init, args.plot)


def _text(result, w_init: float, plot) -> str:
    lines = [f"{result.task}: {result.train_num} training images, {result.steps} steps per point, seeds "
             f"{', '.join(map(str, result.seeds.tolist()))}; initial norm at alpha = 1: {w_init:.3f}",
             "       w   train loss   test loss   train acc   test acc   (median over seeds)"]
    med = {k: np.median(getattr(result, k), axis=0) for k in ("train_loss", "test_loss", "train_acc", "test_acc")}
    for i, w in enumerate(result.norms):
        lines.append(f"{w:8.3f}   {med['train_loss'][i]:10.3e}   {med['test_loss'][i]:9.4f}   "
                     f"{med['train_acc'][i]:9.3f}   {med['test_acc'][i]:8.3f}")
    lines.append(f"w_c = {result.w_c:.3f} (range over seeds {result.w_c_low:.3f} to {result.w_c_high:.3f}; per seed "
                 f"{', '.join(f'{w:.3f}' for w in result.w_c_seeds)})")
    if plot:
        lines.append(f"plot: {plot}")
    return "\n".join(lines)
