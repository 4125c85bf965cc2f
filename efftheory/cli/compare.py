"""Train networks over a grid of training-set sizes and seeds (in parallel) and score how well
the effective theory predicts them: (a) real against predicted accuracy Âcc (Fig 3),
(b) generalisation against P_unique(n) (Fig 4a), (c) steps to RQI >= 0.95 against the theory's
time scale (Fig 4b), (d) network against effective-theory trajectories from the same initial
embeddings (Fig 4c/d). Defaults reproduce the paper's grid for p = 10."""

from __future__ import annotations

import os
import time

from efftheory.cli._common import check_output_path, int_list, integer, positive_int, save_figure
from efftheory.cli.train import add_network_arguments, network_config


def add_arguments(parser) -> None:
    parser.add_argument("--p", type=integer, default=10, help="number of symbols (default 10)")
    parser.add_argument("--train-nums", type=int_list, default=None,
                        help="training-set sizes (default round(N k / 11), k = 1..10, and N - 1: "
                             "5, 10, ..., 50, 54 for p = 10)")
    parser.add_argument("--seeds", type=int_list, default=[0, 1, 2], help="seeds of split and network (default 0,1,2)")
    add_network_arguments(parser)
    parser.add_argument("--jobs", type=positive_int, default=os.cpu_count() or 1,
                        help="worker processes (default: number of cores)")
    parser.add_argument("--trials", type=positive_int, default=2000, help="random orders for P_unique (default 2000)")
    parser.add_argument("--no-trajectories", action="store_true", help="skip comparison (d)")
    parser.add_argument("--plot", metavar="PNG", help="the four comparison panels")


def default_train_nums(N: int) -> list[int]:
    return sorted({n for n in [round(N * k / 11) for k in range(1, 11)] + [N - 1] if 1 <= n <= N})


def _run_grid(tasks, jobs, update):
    """Run comparison.run_one over ``tasks`` (argument tuples); results in task order."""
    from efftheory.comparison import run_one
    from efftheory.parallel import pmap

    return pmap(run_one, tasks, jobs, update)


def run(args, ui):
    from efftheory.comparison import summarise
    from efftheory.critical import critical_curve
    from efftheory.errors import InputError, require
    from efftheory.tasks import Addition

    plot_path = check_output_path(args.plot, "--plot")
    if args.p > 400:
        raise InputError(f"--p {args.p} is too large for compare (max 400)")
    task = Addition(args.p)
    N = task.n_samples
    nums = default_train_nums(N) if args.train_nums is None else sorted(set(args.train_nums))
    for n in nums:
        require(1 <= n <= N, f"--train-nums: {n} is outside [1, {N}] for p={task.p}")
    seeds = sorted(set(args.seeds))
    for s in seeds:
        require(s >= 0, f"--seeds: {s} is negative")
    config = network_config(args, 0)

    start = time.perf_counter()
    curve = critical_curve(task.p, args.trials, 0)
    tasks = [(task.p, n, s, args.steps, config, args.delta, not args.no_trajectories) for n in nums for s in seeds]
    with ui.progress(len(tasks), "runs") as update:
        runs = _run_grid(tasks, args.jobs, update)
    summary = summarise(runs, curve.p_unique)
    seconds = time.perf_counter() - start
    if plot_path is not None:
        from efftheory.plotting.network import plot_compare

        save_figure(plot_compare(summary, runs, curve.p_unique), plot_path)

    traj = summary.get("trajectory")
    result = {
        "p": task.p, "n_samples": N, "train_nums": nums, "seeds": seeds, "steps": args.steps, "jobs": args.jobs,
        "loss": config.loss, "critical_fraction": curve.r_c,
        "accuracy_mean_abs_diff": summary["accuracy"]["mean_abs_diff"],
        "accuracy_correlation": summary["accuracy"]["correlation"],
        "generalisation_mean_abs_diff": summary["generalisation"]["mean_abs_diff"],
        "generalisation_correlation": summary["generalisation"]["correlation"],
        "time_to_structure_spearman": summary["time_to_structure"]["spearman"],
        "trajectory_rms_flow": traj["rk4"]["rms_median"] if traj else None,
        "trajectory_rms_adam": traj["adam"]["rms_median"] if traj else None,
        **{k: summary[k] for k in ("accuracy", "generalisation", "time_to_structure")},
        "trajectory": traj,
        "runs": runs,
        "seconds": seconds,
    }
    return result, _text(result, plot_path)


def _f(x, spec=".3f"):
    return "n/a" if x is None else format(x, spec)


def _text(r, plot_path) -> str:
    g, c = r["generalisation"], r["time_to_structure"]
    lines = [
        f"Addition p = {r['p']} (N = {r['n_samples']}): {len(r['runs'])} networks "
        f"({len(r['train_nums'])} sizes x {len(r['seeds'])} seeds), {r['steps']} steps, {r['loss'].upper()} head",
        "",
        f"(a) real vs predicted full-table accuracy: mean |diff| {_f(r['accuracy_mean_abs_diff'])}, "
        f"correlation {_f(r['accuracy_correlation'])}",
        f"(b) generalisation vs P_unique(n): mean |diff| {_f(g['mean_abs_diff'])}, correlation {_f(g['correlation'])}",
        f"    {'n':>5} {'generalised':>12} {'P_unique':>9} {'reached ideal':>14}",
    ]
    for n, fr, pu, ide in zip(g["n"], g["fraction"], g["p_unique"], g["fraction_reaching_ideal"]):
        lines.append(f"    {n:>5d} {fr:>12.2f} {pu:>9.3f} {ide:>14.2f}")
    lines += [
        f"(c) steps to RQI >= 0.95 vs theory time scale: Spearman {_f(c['spearman'])} over {c['runs_used']} runs; "
        f"never reached: {c['never_dof0']}/{c['runs_dof0']} with dof = 0, {c['never_dof_pos']}/{c['runs_dof_pos']} with dof > 0",
    ]
    if r["trajectory"]:
        t = r["trajectory"]
        lines.append(
            f"(d) trajectory rms (median, best time rescaling): gradient flow {t['rk4']['rms_median']:.3f} "
            f"(s ~ {t['rk4']['scale_median']:.2f}), Adam {t['adam']['rms_median']:.3f} (s ~ {t['adam']['scale_median']:.2f})"
        )
    else:
        lines.append("(d) not computed (--no-trajectories)")
    lines.append(f"({r['seconds']:.1f} s with {r['jobs']} job(s))" + (f"; plot written to {plot_path}" if plot_path else ""))
    return "\n".join(lines)
