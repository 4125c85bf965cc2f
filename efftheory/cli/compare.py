"""Train networks over a grid of training-set sizes and seeds (in parallel) and score how well
the effective theory predicts them: (a) real against predicted accuracy Âcc (Fig 3),
(b) generalisation against P_unique(n) (Fig 4a), (c) steps to RQI >= 0.95 against the theory's
time scale (Fig 4b), (d) network against effective-theory trajectories from the same initial
embeddings (Fig 4c/d). Defaults reproduce the paper's grid for p = 10."""

from __future__ import annotations

import os
import time

from efftheory.cli._common import (P_HELP, check_p, check_output_path, fraction, int_list, integer, nonnegative_float,
                                   positive_float, positive_int, save_figure)
from efftheory.cli._model_options import add_model_options, given_options
from efftheory.cli._wording import plural


#: the modulus of ``compare --task modadd`` unless --p says otherwise (odd, so every f != 0 is a ring of all p symbols)
MODADD_P = 17
#: training fractions of ``compare --task modadd`` unless --fracs or --train-nums say otherwise
MODADD_FRACS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def fraction_list(text: str) -> list[float]:
    """``"0.2,0.5"`` -> [0.2, 0.5]; every entry a fraction in (0, 1]."""
    import argparse

    try:
        values = [fraction(part) for part in text.split(",") if part.strip()]
    except argparse.ArgumentTypeError:
        values = []
    if not values:
        raise argparse.ArgumentTypeError(f"must be a comma-separated list of fractions in (0, 1], got {text!r}")
    return values


def add_arguments(parser) -> None:
    parser.add_argument("--p", type=integer, default=None,
                        help=P_HELP + f" (default 10; {MODADD_P} with --task modadd)")
    parser.add_argument("--task", choices=("add", "modadd"), default="add",  # the keys of RUNNERS
                        help="add: the paper's grid against the linear theory; modadd: networks on addition mod p "
                             "read as rings, against the circle theory (docs/theory.md §13) (default add)")
    parser.add_argument("--fracs", type=fraction_list, default=None,
                        help="--task modadd: training fractions (default " + ",".join(map(str, MODADD_FRACS)) + ")")
    parser.add_argument("--ring-trials", type=positive_int, default=500,
                        help="--task modadd: random starts per fraction for the circle theory's ring probability "
                             "(default 500)")
    parser.add_argument("--train-nums", type=int_list, default=None,
                        help="training-set sizes (default round(N k / 11), k = 1..10, and N - 1: "
                             "5, 10, ..., 50, 54 for p = 10)")
    parser.add_argument("--seeds", type=int_list, default=[0, 1, 2], help="seeds of split and network (default 0,1,2)")
    from efftheory.experiments.comparison.linear import PRESETS
    from efftheory.models import MODELS

    network = parser.add_argument_group("options of the toy network (left out: the preset's, or for --task modadd "
                                        "the toy's modadd defaults)")
    add_model_options(network, MODELS["toy"], PRESETS["paper"])
    parser.add_argument("--steps", type=positive_int, default=5000, help="training steps (default 5000)")
    parser.add_argument("--delta", type=positive_float, default=0.01, help="RQI tolerance δ (default 0.01)")
    parser.add_argument("--gap", type=nonnegative_float, default=1e3,
                        help="grokking gap G in steps for the phase (default 1000)")

    parser.add_argument("--preset", choices=tuple(PRESETS), default="paper",
                        help="network settings: paper (the authors' toy: embedding lr 1e-3, decoder lr 1e-4) or "
                             "comprehension (embedding lr 1e-2, decoder lr 1e-4: the structure forms more often; "
                             "docs/theory.md §12); explicit network options override it (default paper)")
    parser.add_argument("--jobs", type=positive_int, default=os.cpu_count() or 1,
                        help="worker processes (default: number of cores)")
    parser.add_argument("--trials", type=positive_int, default=2000, help="random orders for P_unique (default 2000)")
    parser.add_argument("--no-trajectories", action="store_true", help="skip comparison (d)")
    parser.add_argument("--plot", metavar="PNG", help="the four comparison panels")


def default_train_nums(N: int) -> list[int]:
    return sorted({n for n in [round(N * k / 11) for k in range(1, 11)] + [N - 1] if 1 <= n <= N})


def _run_grid(tasks, jobs, update):
    """Run comparison.run_one over ``tasks`` (argument tuples); results in task order."""
    from efftheory.experiments.comparison.linear import run_one
    from efftheory.runtime.parallel import pmap

    return pmap(run_one, tasks, jobs, update)


def network_config(args, base):
    """``base`` with every toy-network option the user gave put over it (seed 0: each run sets its own)."""
    import dataclasses

    from efftheory.models import MODELS

    return dataclasses.replace(base, **given_options(args, MODELS["toy"]), seed=0)


def run(args, ui):
    plot_path = check_output_path(args.plot, "--plot")
    return RUNNERS[args.task](args, ui, plot_path)


def _run_add(args, ui, plot_path):
    """``compare --task add``: the paper's grid against the linear theory."""
    import dataclasses

    from efftheory.experiments.comparison.linear import summarise
    from efftheory.theories.linear.critical import critical_curve
    from efftheory.errors import InputError, require
    from efftheory.tasks import Addition

    if args.fracs is not None:
        raise InputError("--fracs is for --task modadd; use --train-nums")
    args.p = 10 if args.p is None else args.p
    check_p(args.p)
    task = Addition(args.p)
    N = task.n_samples
    nums = default_train_nums(N) if args.train_nums is None else sorted(set(args.train_nums))
    for n in nums:
        require(1 <= n <= N, f"--train-nums: {n} is outside [1, {N}] for p={task.p}")
    seeds = sorted(set(args.seeds))
    for s in seeds:
        require(s >= 0, f"--seeds: {s} is negative")
    from efftheory.experiments.comparison.linear import PRESETS

    config = network_config(args, PRESETS[args.preset])

    start = time.perf_counter()
    curve = critical_curve(task.p, args.trials, 0)
    tasks = [(task.p, n, s, args.steps, config, args.delta, not args.no_trajectories) for n in nums for s in seeds]
    with ui.progress(len(tasks), "runs") as update:
        runs = _run_grid(tasks, args.jobs, update)
    summary = summarise(runs, curve.p_unique, N, curve.r_c)
    seconds = time.perf_counter() - start
    if plot_path is not None:
        from efftheory.plotting.network import plot_compare

        save_figure(plot_compare(summary, runs, curve.p_unique), plot_path)

    b, c = summary.structure, summary.timing
    result = {
        "p": task.p, "n_samples": N, "train_nums": nums, "seeds": seeds, "steps": args.steps, "jobs": args.jobs,
        "preset": args.preset, "settings": dataclasses.asdict(config),
        "loss": config.loss, "runs": len(runs), "diverged": summary.diverged,
        "accuracy_mae": summary.accuracy.mean_abs_diff, "accuracy_mae_ci": summary.accuracy.ci,
        "accuracy_equal_fraction": summary.accuracy.equal_fraction,
        "accuracy_correlation": summary.accuracy.correlation,
        "structure_rate": b.structure_rate, "structure_ci": b.ci, "p_unique": b.p_unique,
        "network_critical_fraction": b.network_critical_fraction, "critical_fraction": curve.r_c,
        "structure_largest_gap": b.largest_gap,
        "time_spearman": c.spearman, "time_spearman_ci": c.spearman_ci, "time_loglog_slope": c.loglog_slope,
        "calibration": {k: dataclasses.asdict(v) for k, v in summary.calibration.items()},
        "summary": summary.to_dict(),
        "run_records": [r.to_dict() for r in runs],
        "seconds": seconds,
    }
    return result, _text(summary, result, plot_path)


def _f(x, spec=".3f"):
    return "n/a" if x is None else format(x, spec)


def _ci(ci, spec=".3f") -> str:
    return "" if ci is None else f" [{format(ci[0], spec)}, {format(ci[1], spec)}]"


def _structure_lines(b) -> list[str]:
    """(b): per training-set size, how often the structure formed beside P_unique(n)."""
    lines = [f"(b) structure formed (RQI >= 0.95) vs P_unique(n): largest gap {_f(b.largest_gap)}; "
             f"crosses 1/2 at r = {_f(b.network_critical_fraction)} (networks) vs r_c = {_f(b.critical_fraction)}",
             f"    {'n':>5} {'structure [95% CI]':>22} {'P_unique':>9} {'unique':>7} {'generalised':>12} "
             f"{'reached ideal':>14} {'ideal acc':>10}"]
    for k, n in enumerate(b.n):
        lo, hi = b.ci[k]
        lines.append(f"    {n:>5d} {b.structure_rate[k]:>6.2f} [{lo:.2f}, {hi:.2f}]{'':>4} {b.p_unique[k]:>9.3f} "
                     f"{b.unique[k]:>7.2f} {b.generalised[k]:>12.2f} {b.reached_ideal[k]:>14.2f} "
                     f"{_f(b.ideal_test_acc[k]):>10}")
    lines.append("    unique: fraction of these splits with dof = 0; generalised: test acc reached 0.9; reached "
                 "ideal: final test acc >= the split's ideal test accuracy (mean shown), which says little "
                 "where that ideal is far below 0.9")
    return lines


def _calibration_line(summary) -> str:
    parts = []
    for key, name in (("flow", "exact flow"), ("adam", "Adam on ℓ_eff")):
        cal = summary.calibration[key]
        if cal.n == 0:
            parts.append(f"{name}: no run")
        else:
            parts.append(f"{name} {cal.median:.3g} (quartiles {cal.q25:.3g}-{cal.q75:.3g}, {plural(cal.n, 'run')})")
    return "    network steps / predicted steps to RQI 0.95, from each network's own E0: " + "; ".join(parts)


def _trajectory_line(summary) -> str:
    """(d): median rms and fitted time scale per method, and how many runs have no fit."""
    t = summary.trajectory
    if not t:
        return "(d) not computed (--no-trajectories)"
    n = summary.runs - summary.diverged
    parts = []
    for m, name in (("rk4", "gradient flow"), ("adam", "Adam")):
        scale = "no run fits" if t[m]["scale_median"] is None else f"s ~ {t[m]['scale_median']:.3g}"
        parts.append(f"{name} {t[m]['rms_median']:.3f} ({scale}; no fit, s at the grid's edge: "
                     f"{t[m].get('fits_at_bound', 0)} of {n})")
    return "(d) trajectory rms (median, best time rescaling): " + ", ".join(parts)


def _text(summary, r, plot_path) -> str:
    """The readable summary of ``compare``."""
    a, c = summary.accuracy, summary.timing
    preset = f", preset {r['preset']}" if r["preset"] else ""
    lines = [
        f"Addition p = {r['p']} (N = {r['n_samples']}): {plural(r['runs'], 'network')} "
        f"({plural(len(r['train_nums']), 'size')} x {plural(len(r['seeds']), 'seed')}), "
        f"{plural(r['steps'], 'step')}, {r['loss'].upper()} head{preset}"
        + (f"; {summary.diverged} diverged (left out)" if summary.diverged else ""),
        "",
        f"(a) real vs predicted full-table accuracy: mean |diff| {_f(a.mean_abs_diff)}{_ci(a.ci)}, "
        f"equal in {_f(a.equal_fraction, '.2f')} of runs, correlation {_f(a.correlation)}",
        *_structure_lines(summary.structure),
        f"(c) steps to RQI >= 0.95 vs theory time scale: Spearman {_f(c.spearman)}{_ci(c.spearman_ci)}, "
        f"log-log slope {_f(c.loglog_slope)} over {plural(c.runs_used, 'run')}; never reached: "
        f"{c.never_dof0}/{c.runs_dof0} with dof = 0, {c.never_dof_pos}/{c.runs_dof_pos} with dof > 0 (no time scale)",
        _calibration_line(summary),
        _trajectory_line(summary),
        f"({r['seconds']:.1f} s with {plural(r['jobs'], 'job')})" + (f"; plot written to {plot_path}" if plot_path else ""),
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------- modular addition: rings


def _run_modadd(args, ui, plot_path):
    """``compare --task modadd``: per run, the network's ring and the circle flow from its own
    initial phases; per fraction, the ring-formation rate beside the circle theory's ring probability."""
    import dataclasses

    from efftheory.theories.circle.probability import ring_probability
    from efftheory.models import MODELS
    from efftheory.experiments.comparison.ring import run_ring_one, summarise_rings
    from efftheory.errors import InputError, require
    from efftheory.runtime.parallel import pmap
    from efftheory.tasks import ModularAddition

    p = MODADD_P if args.p is None else args.p
    check_p(p)
    task = ModularAddition(p)
    require(task.p >= 3, f"--task modadd needs p >= 3, got {task.p}")
    N = task.n_samples
    if args.train_nums is not None and args.fracs is not None:
        raise InputError("give --fracs or --train-nums, not both")
    if args.train_nums is not None:
        nums = sorted(set(args.train_nums))
    else:
        nums = sorted({task.n_train_for(frac=f) for f in (args.fracs or MODADD_FRACS)})
    for n in nums:
        require(2 <= n < N, f"training-set size {n} is outside [2, {N - 1}] for p={task.p} "
                            "(a ring theory needs two samples and a test set)")
    seeds = sorted(set(args.seeds))
    for s in seeds:
        require(s >= 0, f"--seeds: {s} is negative")
    if args.preset != "paper":
        raise InputError("--preset is for --task add; give network options instead")
    config = network_config(args, MODELS["toy"].default_config("modadd"))
    if config.dim < 2:
        raise InputError(f"--task modadd needs --dim >= 2 (a ring needs a plane), got {config.dim}")

    start = time.perf_counter()
    tasks = [(task, n, s, args.steps, config, args.delta) for n in nums for s in seeds]
    with ui.progress(len(tasks), "runs") as update:
        runs = pmap(run_ring_one, tasks, args.jobs, update)
    with ui.progress(len(nums), "ring probability") as update:
        probs = {}
        for n in nums:
            probs[n] = ring_probability(task.p, n / N, args.ring_trials, seed=0)
            update(1)
    summary = summarise_rings(runs, task.p, N, probs)
    seconds = time.perf_counter() - start
    if plot_path is not None:
        from efftheory.plotting.ring import plot_ring_compare

        save_figure(plot_ring_compare(summary), plot_path)
    result = {
        "task": "modadd", "p": task.p, "n_samples": N, "train_nums": nums, "fracs": summary.frac, "seeds": seeds,
        "steps": args.steps, "jobs": args.jobs, "settings": dataclasses.asdict(config), "loss": config.loss,
        "runs": len(runs), "diverged": summary.diverged, "ring_trials": args.ring_trials,
        "ring_rate": summary.ring_rate, "ring_ci": summary.ring_ci,
        "generalised_rate": summary.generalised_rate, "generalised_ci": summary.generalised_ci,
        "mean_test_acc": summary.mean_test_acc,
        "flow_ring_rate": summary.flow_ring_rate, "flow_ring_ci": summary.flow_ring_ci,
        "theory_ring_probability": summary.theory_ring_probability, "theory_ring_ci": summary.theory_ring_ci,
        "theory_outcome_fractions": [probs[n].fraction for n in summary.n],
        "frequency_match_rate": summary.match_total_rate, "frequency_match_ci": summary.match_total_ci,
        "frequency_match_counts": summary.match_total, "chance_frequency_match": summary.chance_match,
        "summary": summary.to_dict(),
        "run_records": [r.to_dict() for r in runs],
        "seconds": seconds,
    }
    return result, _modadd_text(result, summary, plot_path)


def _modadd_text(r, summary, plot_path) -> str:
    """The readable summary of ``compare --task modadd``."""
    lines = [
        f"Addition mod p = {r['p']} (N = {r['n_samples']}): {plural(r['runs'], 'network')} "
        f"({plural(len(r['train_nums']), 'size')} x {plural(len(r['seeds']), 'seed')}), {plural(r['steps'], 'step')}, "
        f"{r['loss'].upper()} head, d = {r['settings']['dim']}"
        + (f"; {summary.diverged} diverged (left out)" if summary.diverged else ""),
        "",
        "ring formation (final circle RQI >= 0.95) against the circle theory, per training fraction [Wilson 95%]:",
        f"    {'frac':>5} {'n':>5} {'networks ring':>19} {'generalised':>19} {'test acc':>8} "
        f"{'flow from E0 rings':>19} {'theory P(ring)':>19} {'f agrees':>9}",
    ]
    for k, n in enumerate(summary.n):
        prob, pci = summary.theory_ring_probability[k], summary.theory_ring_ci[k]
        agree, compared = summary.match_counts[k]
        lines.append(
            f"    {summary.frac[k]:>5.2f} {n:>5d} {_rate_ci(summary.ring_rate[k], summary.ring_ci[k]):>19} "
            f"{_rate_ci(summary.generalised_rate[k], summary.generalised_ci[k]):>19} {summary.mean_test_acc[k]:>8.3f} "
            f"{_rate_ci(summary.flow_ring_rate[k], summary.flow_ring_ci[k]):>19} {_rate_ci(prob, pci):>19} "
            f"{agree:>4d}/{compared:<4d}")
    agree, compared = summary.match_total
    lines += [
        "    flow from E0: the circle flow from each network's own initial phases on its training set; theory P(ring): "
        f"from {plural(r['ring_trials'], 'uniform random start')} on random training sets",
        f"frequency agreement (network |f| = theory |f|, where both formed a ring): {agree} of {compared}"
        + ("" if not compared else f" = {summary.match_total_rate:.2f}{_ci(summary.match_total_ci, '.2f')}")
        + f"; chance 1/{r['p'] // 2} = {summary.chance_match:.3f}",
        f"({r['seconds']:.1f} s with {plural(r['jobs'], 'job')})" + (f"; plot written to {plot_path}" if plot_path else ""),
    ]
    return "\n".join(lines)


def _rate_ci(rate, ci) -> str:
    return "n/a" if rate is None else f"{rate:.2f} [{ci[0]:.2f}, {ci[1]:.2f}]"


#: --task -> the comparison it runs: additive networks against the linear theory, rings against the circle theory
RUNNERS = {"add": _run_add, "modadd": _run_modadd}
