"""The Omnigrok MLP on images, trained at each initial scale alpha and weight decay of a grid: the
steps to train and test accuracy 0.9 and to weight norm w_c, beside the delay the weight-norm
picture predicts, t* = ln(w0 / w_c) / (lr wd) (w_c from `efftheory landscape`; with --w-edge also
the same rule with that norm in its place). A run stops once it has reached test accuracy 0.9 and
norm w_c, or test accuracy 0.9 and t* + 1000 steps, or at --max-steps."""

from __future__ import annotations

from efftheory.cli._common import (check_output_path, int_list, number_list, positive_float,
                                   positive_int, save_figure)
from efftheory.cli.landscape import add_mlp_arguments
from efftheory.errors import require


def add_arguments(parser) -> None:
    from efftheory.tasks import task_names

    parser.add_argument("--task", choices=task_names("images"), default="digits",
                        help="digits (scikit-learn's 8x8 digits) or mnist (--data-dir) (default digits)")
    parser.add_argument("--data-dir", metavar="DIR", default=None, help="directory of the MNIST IDX files")
    parser.add_argument("--train-num", type=positive_int, default=300, help="training images per seed (default 300)")
    parser.add_argument("--w-c", type=positive_float, required=True,
                        help="the test-loss minimum of the landscape (efftheory landscape)")
    parser.add_argument("--w-edge", type=positive_float, default=None,
                        help="optional: the largest norm whose test accuracy on the sphere reaches 0.9")
    parser.add_argument("--alphas", type=number_list(), default=[1.0, 8.0], help="initial scales (default 1,8)")
    parser.add_argument("--wds", type=number_list(nonnegative=True), default=[0.1], help="weight decays (default 0.1)")
    parser.add_argument("--seeds", type=int_list, default=[0], help="split and init seeds (default 0)")
    parser.add_argument("--max-steps", type=positive_int, default=30000, help="step budget per run (default 30000)")
    parser.add_argument("--eval-every", type=positive_int, default=100, help="record every k steps (default 100)")
    add_mlp_arguments(parser)
    parser.add_argument("--plot", metavar="PNG", help="measured against predicted delays, and the phases")


def run(args, ui):
    import time

    from efftheory.experiments.delay import delay_runs, delay_table
    from efftheory.models.omnigrok.training import OmnigrokConfig
    from efftheory.tasks import make_task

    check_output_path(args.plot, "--plot", figure=True)
    require(all(s >= 0 for s in args.seeds), f"--seeds must be non-negative, got {args.seeds}")
    start = time.perf_counter()
    task = make_task(args.task, data_dir=args.data_dir)
    require(args.train_num <= task.n_pool, f"--train-num {args.train_num} is larger than the {task.n_pool} "
                                           f"training images of {task.name}")
    config = OmnigrokConfig(width=args.width, depth=args.depth, loss=args.loss, lr=args.lr,
                            batch_size=args.batch_size)
    n_runs = len(args.alphas) * len(args.wds) * len(args.seeds)
    with ui.progress(n_runs, "runs") as tick:
        runs = delay_runs(task, args.train_num, args.w_c, args.alphas, args.wds, args.seeds, config=config,
                          w_edge=args.w_edge, max_steps=args.max_steps, eval_every=args.eval_every, jobs=args.jobs,
                          progress=tick)
    table = delay_table(runs)
    if args.plot:
        from efftheory.plotting.omnigrok import plot_delays

        save_figure(plot_delays(table, [r.to_json() for r in runs]), args.plot)
    out = {"task": task.name, "train_num": args.train_num, "w_c": args.w_c, "w_edge": args.w_edge, "lr": args.lr,
           "table": table, "runs": [r.to_json() for r in runs], "seconds": round(time.perf_counter() - start, 3)}
    return out, _text(out, args.plot)


def _steps(s: dict, runs: int) -> str:
    if s["median"] is None:
        return f"never (0/{runs})"
    spread = "" if s["low"] == s["high"] else f" ({s['low']:.0f}-{s['high']:.0f})"
    return f"{s['median']:.0f}{spread}" + ("" if s["reached"] == runs else f" ({s['reached']}/{runs})")


def _text(o: dict, plot) -> str:
    lines = [f"{o['task']}: {o['train_num']} training images, lr {o['lr']:g}, w_c {o['w_c']:g}"
             + ("" if o["w_edge"] is None else f", w_edge {o['w_edge']:g}")
             + "; steps are medians (range) over seeds",
             "alpha      wd   predicted t*   steps to train 0.9   steps to test 0.9   steps to w <= w_c"]
    for row in o["table"]:
        n = row["runs"]
        pred = f"{row['predicted']['median']:.0f}"
        if row["predicted_edge"]["median"] is not None:
            pred += f" ({row['predicted_edge']['median']:.0f} with w_edge)"
        lines.append(f"{row['alpha']:5g} {row['wd']:7g}   {pred:>12}   {_steps(row['t_train'], n):>18}   "
                     f"{_steps(row['t_test'], n):>17}   {_steps(row['t_norm'], n):>17}")
    if plot:
        lines.append(f"plot: {plot}")
    return "\n".join(lines)
