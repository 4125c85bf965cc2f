"""Effective-theory dynamics of one training split: its linear theory, the critical fraction
for this p, and the embeddings evolved under the effective loss from random initial conditions,
scored by RQI and predicted accuracy over time.

Time is counted in optimisation steps at learning rate --lr. The default horizon is 20 times
the slowest relaxation time Z0 / (2 lr λ) (λ = λ3 for a unique split), capped at 20000 RK4 steps
(stiff spectra); for --method adam it is clipped to [2000, 20000] steps. A training set that holds no
parallelogram (the effective loss is identically zero, e.g. p = 2) is refused with exit 2.

With --task s3 (no --p: the group has 6 elements) the matrix theory runs instead: one rotation
in SO(k) per element (--k, default 3), Riemannian descent of the mean squared mismatch over the
training set's equal-product pairs from --trials Haar-random starts, for at most --steps accepted
steps (default 20000; --times sets how many step counts the loss is recorded at); each end state
is classified faithful / unfaithful / stalled / fits-without-representation. The options of the
additive theory (--dim, --lr, --method, --dt, --init-scale, --delta, --critical-trials) do not
apply to s3 and are ignored; --save writes train, M0, M (final), record, loss, time.
"""

from __future__ import annotations

import math
import time

import numpy as np

from efftheory.cli._common import (
    P_HELP,
    check_p,
    add_task_arguments,
    check_distinct_outputs,
    check_output_path,
    fraction,
    integer,
    nonnegative_int,
    positive_float,
    positive_int,
    save_arrays,
    save_figure,
    task_of,
)
from efftheory.cli._wording import (
    LOSS_ROUND_OFF,
    chance_test_accuracy,
    chance_text,
    exceeds,
    ideal_note,
    loss_value,
    plural,
    steps,
)

#: the largest --k of the matrix theory (SO(k) for S3's 6 elements; a faithful one needs k >= 2)
MAX_K = 64
METHOD_NAMES = ("exact", "rk4", "euler", "adam", "rk4-projected", "euler-projected")
N_SMALLEST = 6  # eigenvalues of Ĥ reported


def add_arguments(parser) -> None:
    parser.add_argument("--p", type=integer, default=None, help=P_HELP + "; required except for --task s3")
    size = parser.add_mutually_exclusive_group(required=True)
    size.add_argument("--frac", type=fraction, help="training fraction in (0, 1]: n_train = round(frac * N)")
    size.add_argument("--train-num", type=integer, help="training-set size n_train in [1, N]")
    parser.add_argument("--dim", type=positive_int, default=1, help="embedding dimension d (default 1)")
    parser.add_argument("--seed", type=nonnegative_int, default=0, help="seed of the split and the embeddings (default 0)")
    parser.add_argument("--lr", type=positive_float, default=1e-3, help="learning rate η (default 1e-3)")
    parser.add_argument("--steps", type=positive_int, default=None,
                        help="final time in optimisation steps (default: 20 slowest relaxation times, capped); "
                             "the run may take at most 1e8 integrator steps")
    parser.add_argument("--method", default="rk4",
                        help="exact | rk4 | euler | adam | rk4-projected | euler-projected (default rk4)")
    parser.add_argument("--dt", type=positive_float, default=None,
                        help="largest integration step in steps (default: from the spectrum of Ĥ)")
    parser.add_argument("--init-scale", type=positive_float, default=1.0, help="initial embeddings uniform in [-0.5, 0.5) times this (default 1)")
    parser.add_argument("--delta", type=positive_float, default=0.01, help="RQI tolerance δ (default 0.01)")
    parser.add_argument("--trials", type=positive_int, default=8, help="number of random initial conditions (default 8)")
    parser.add_argument("--critical-trials", type=positive_int, default=2000,
                        help="random orders for the critical-fraction estimate (default 2000)")
    parser.add_argument("--times", type=positive_int, default=200, help="number of saved times, log-spaced (default 200)")
    parser.add_argument("--plot", metavar="PNG", help="draw embeddings, ℓ_eff, RQI and accuracy, and the spectrum")
    parser.add_argument("--save", metavar="NPZ", help="write train, times, E (first trial), rqi, loss, E0")
    parser.add_argument("--k", type=positive_int, default=None,
                        help="--task s3 only: matrices in SO(k) (default 3, at most 64)")
    add_task_arguments(parser)


def _validate(args):
    from efftheory.errors import InputError

    check_p(args.p)
    from efftheory.theories import theory_for

    task = task_of(args)  # p >= 2
    n_train = task.n_train_for(frac=args.frac, n_train=args.train_num)
    if args.k is not None and "k" not in THEORY_OPTIONS.get(theory_for(task).name, ()):
        raise InputError(f"--k applies to --task s3 only (the matrix theory), not to --task {args.task}")
    if args.k is not None and args.k < 2:
        raise InputError(f"--k must be at least 2 (SO(1) is a single point), got {args.k}")
    if args.k is not None and args.k > MAX_K:
        raise InputError(f"--k {args.k} is too large (max {MAX_K}: one start of one step takes about 4 s at k = 64 "
                         "and 30 s at k = 128 here, growing as k^3)")
    if args.method not in METHOD_NAMES:
        raise InputError(f"--method {args.method!r} is unknown; choose one of {', '.join(METHOD_NAMES)}")
    if args.dt is not None and args.method in ("exact", "adam"):
        raise InputError(f"--dt has no meaning for --method {args.method}")
    if args.times < 2:
        raise InputError(f"--times must be at least 2, got {args.times}")
    return task, n_train


def _critical_interval(curve) -> list:
    """[low, high] fractions where the Wilson band of P_unique crosses 1/2."""
    from efftheory.stats import crossing

    lo = crossing(curve.n, curve.ci_high, 0.5)
    hi = crossing(curve.n, curve.ci_low, 0.5)
    return [None if x is None else x / curve.n_samples for x in (lo, hi)]


def run(args, ui):
    from efftheory.theories import theory_for

    task, n_train = _validate(args)
    plot_path = check_output_path(args.plot, "--plot")
    save_path = check_output_path(args.save, "--save")
    check_distinct_outputs({"--plot": args.plot, "--save": args.save})
    start = time.perf_counter()
    return RUNNERS[theory_for(task).name](args, ui, task, n_train, plot_path, save_path, start)


def _run_linear(args, ui, task, n_train, plot_path, save_path, start):
    """``simulate --task add``: the split's linear theory, the critical fraction and the
    effective dynamics from random embeddings."""
    from efftheory.theories.linear.critical import critical_curve
    from efftheory.theories.linear.simulation import median_or_none, simulate
    from efftheory.theories.linear.theory import linear_theory

    split = task.split(n_train=n_train, seed=args.seed)
    theory = linear_theory(split)
    if theory.n_parallelograms == 0:  # refuse before the long work (simulate checks it too)
        from efftheory.errors import InputError

        raise InputError(f"the training set ({split.n_train} samples at p={split.p}) holds no parallelogram, "
                         "so the effective loss is zero; use a larger --frac or --train-num")
    # the dynamics first: evolve refuses a run above its step cap before any work is done
    with ui.progress(args.times, f"{args.method}") as update:
        sim = simulate(theory, dim=args.dim, trials=args.trials, init_scale=args.init_scale, seed=args.seed,
                       lr=args.lr, method=args.method, steps=args.steps, dt=args.dt, delta=args.delta,
                       n_times=args.times, progress=update)
    with ui.progress(args.critical_trials, "critical size") as update:
        curve = critical_curve(task.p, args.critical_trials, 0, progress=update)
    if plot_path is not None:
        from efftheory.plotting.dynamics import plot_simulation

        save_figure(plot_simulation(sim), plot_path)
    if save_path is not None:
        _save_npz(save_path, sim)
    result = _result(args, sim, curve, time.perf_counter() - start, median_or_none)
    return result, _text(result, sim, plot_path, save_path)


def _save_npz(path, sim) -> None:
    traj = sim.trajectory
    arrays = dict(
        train=sim.theory.split.train, times=traj.times, E=traj.E[:, 0], rqi=sim.rqi[:, 0],
        loss=traj.loss[:, 0], E0=traj.E0[0], Z=traj.Z[:, 0],
        predicted_test_accuracy=sim.predicted_test_accuracy[:, 0],
    )
    save_arrays(path, arrays)


def _result(args, sim, curve, seconds, median_or_none) -> dict:
    th, traj = sim.theory, sim.trajectory
    split = th.split
    r_c = curve.r_c
    side = None if r_c is None else ("above" if split.frac > r_c else "below" if split.frac < r_c else "at")
    final_test = sim.predicted_test_accuracy[-1]
    return {
        "p": split.p,
        "n_samples": split.task.n_samples,
        "n_train": split.n_train,
        "frac": split.frac,
        "seed": args.seed,
        "n_parallelograms": th.n_parallelograms,
        "dof": th.dof,
        "unique": th.unique,
        "grokking_rate": th.grokking_rate,
        "spectrum": th.eigenvalues[:N_SMALLEST],
        "ideal_test_accuracy": th.ideal_test_accuracy,
        "ideal_full_accuracy": th.ideal_full_accuracy,
        "chance_test_accuracy": chance_test_accuracy(split),
        "critical_fraction": r_c,
        "critical_ci": _critical_interval(curve),
        "critical_trials": curve.trials,
        "critical_side": side,
        "p_unique_at_n_train": curve.at(split.n_train)[0],
        "method": traj.method,
        "lr": traj.lr,
        "dt": traj.dt,
        "steps": float(traj.times[-1]),
        "dim": int(traj.E.shape[-1]),
        "trials": traj.batch,
        "init_scale": args.init_scale,
        "delta": sim.delta,
        "steps_to_rqi": median_or_none(sim.steps_to_rqi),
        "steps_to_rqi_trials": [None if not math.isfinite(x) else float(x) for x in sim.steps_to_rqi],
        "exact_steps_to_rqi": median_or_none(sim.exact_steps_to_rqi),
        "time_scale": sim.time_scale,
        "predicted_steps_to_rqi": median_or_none(sim.predicted_steps_to_rqi),
        "predicted_by": "adam" if traj.method == "adam" else "exact flow",
        "final_rqi": float(sim.rqi[-1].mean()),
        "final_predicted_test_accuracy": None if np.all(np.isnan(final_test)) else float(np.mean(final_test)),
        "final_loss": float(traj.loss[-1].mean()),
        "initial_loss": float(traj.loss[0].mean()),
        "z_drift": traj.z_drift,
        "max_deviation_from_exact": sim.max_deviation_from_exact,
        "seconds": seconds,
    }


def _fmt(x, spec=".4g", none="n/a"):
    return none if x is None else format(x, spec)


def _theory_lines(r) -> list[str]:
    """The split's linear theory: parallelograms, dof, λ3, spectrum, ideal accuracy and chance,
    and the critical fraction."""
    lines = [
        "Linear theory of the split",
        f"  parallelograms in D    |P0(D)| = {r['n_parallelograms']}",
        f"  free directions        dof = {r['dof']} ({'unique linear structure' if r['unique'] else 'not unique'})",
        f"  grokking rate          λ3 = {_fmt(r['grokking_rate'])}",
        "  smallest eigenvalues   " + " ".join(f"{x:.4g}" for x in r["spectrum"]),
        f"  ideal test accuracy    {_fmt(r['ideal_test_accuracy'], '.4f')}   ({chance_text(r['chance_test_accuracy'], r['p'])})",
    ]
    ci = r["critical_ci"]
    if r["critical_fraction"] is None:
        lines.append(f"  critical fraction      not reached ({plural(r['critical_trials'], 'trial')})")
    else:
        lines.append(
            f"  critical fraction      r_c = {r['critical_fraction']:.4f} [{_fmt(ci[0], '.4f')}, {_fmt(ci[1], '.4f')}] "
            f"({plural(r['critical_trials'], 'trial')}): this split lies {r['critical_side']} it "
            f"(P_unique at n_train = {r['p_unique_at_n_train']:.3f})"
        )
    return lines


def _time_scale_line(r) -> str:
    """The theory's time scale Z0/(2ηλ3), or why there is none."""
    if r["time_scale"] is not None:
        return f"  theory's time scale    Z0 / (2 η λ3) = {steps(r['time_scale'])} steps"
    if r["grokking_rate"] is None:
        return "  theory's time scale    none (p = 2 has no λ3)"
    return (f"  theory's time scale    none: dof = {r['dof']} > 0 leaves free directions, which have no rate "
            "(λ3 = 0)")


def _rqi_line(r) -> str:
    reached = sum(x is not None for x in r["steps_to_rqi_trials"])
    of = f"{reached} of {plural(r['trials'], 'trial')}"
    if r["steps_to_rqi"] is None:
        return f"  RQI >= 0.95            not reached by most trials ({of})"
    ratio = ""
    if r["time_scale"]:
        ratio = f", {r['steps_to_rqi'] / r['time_scale']:.3g} time scales"
    return f"  RQI >= 0.95            after {steps(r['steps_to_rqi'])} steps (median, {of}{ratio})"


def _prediction_line(r) -> str:
    """The calibrated prediction of the crossing (median over trials)."""
    return (f"  predicted RQI >= 0.95  after {steps(r['predicted_steps_to_rqi'], 'never (within 100x the horizon)')} "
            f"steps ({r['predicted_by']} from the same E0, median)")


def _dynamics_lines(r) -> list[str]:
    """The evolved embeddings: time scale, RQI, predicted accuracy, ℓ_eff, Z drift, deviation."""
    dt = "" if r["dt"] is None else f", integrator dt {r['dt']:.4g} steps"
    final, rounded = loss_value(r["final_loss"], r["initial_loss"])
    pred = r["final_predicted_test_accuracy"]
    lines = [
        f"Dynamics: {r['method']}, lr {r['lr']:g}{dt}, {plural(r['trials'], 'initial condition')} "
        f"(d = {r['dim']}, init scale {r['init_scale']:g}), {steps(r['steps'])} steps",
        _time_scale_line(r),
        _rqi_line(r),
        _prediction_line(r),
        f"  final RQI              {r['final_rqi']:.4f} (mean over trials)",
        f"  final predicted test   {_fmt(pred, '.4f')} (ideal {_fmt(r['ideal_test_accuracy'], '.4f')}, "
        f"chance {_fmt(r['chance_test_accuracy'], '.4f')})",
    ]
    if exceeds(pred, r["ideal_test_accuracy"]):
        lines += ideal_note("  ")
    lines += [
        f"  ℓ_eff                  {r['initial_loss']:.4g} -> {final}"
        + (f" (|ℓ_eff| < {LOSS_ROUND_OFF:g} of its start: round-off, printed as 0)" if rounded else ""),
        f"  Z drift                {r['z_drift']:.3g}",
        f"  max deviation from the exact solution  {r['max_deviation_from_exact']:.3g}",
    ]
    return lines


def _text(r, sim, plot_path, save_path) -> str:
    """The readable summary of ``simulate`` (``r`` is the JSON object)."""
    lines = [
        f"Addition on p = {r['p']} symbols: N = {plural(r['n_samples'], 'sample')}, n_train = {r['n_train']} "
        f"(frac {r['frac']:.3f}, seed {r['seed']})",
        "",
        *_theory_lines(r),
        "",
        *_dynamics_lines(r),
        "",
        f"({r['seconds']:.2f} s)"
        + (f"; plot written to {plot_path}" if plot_path else "")
        + (f"; arrays written to {save_path}" if save_path else ""),
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------- modular addition: the circle theory

#: default horizon of the circle flow, in gradient-descent steps at lr = 1/λ_max(Ĥ_mod)
RING_STEPS = 20_000


def _run_ring(args, ui, task, n_train, plot_path, save_path, start):
    """``simulate --task modadd``: the split's algebra (is the ring locally unique, its rate, the
    ideal accuracy, the critical fraction) and the circle flow from random phases."""
    from efftheory.theories.circle.simulation import simulate_ring
    from efftheory.theories.linear.critical import critical_curve

    split = task.split(n_train=n_train, seed=args.seed)
    with ui.progress(1, "circle flow") as update:
        sim = simulate_ring(split, trials=args.trials, seed=args.seed, steps=args.steps or RING_STEPS,
                            n_times=args.times)
        update(1)
    with ui.progress(args.critical_trials, "critical size") as update:
        curve = critical_curve(task, args.critical_trials, 0, progress=update)
    if plot_path is not None:
        from efftheory.plotting.dynamics import plot_ring

        save_figure(plot_ring(sim), plot_path)
    if save_path is not None:
        t = sim.trajectory
        save_arrays(save_path, dict(train=split.train, times=t.times, theta=t.theta[:, 0], rqi=sim.rqi[:, 0],
                                    loss=t.loss[:, 0]))
    th, traj = sim.theory, sim.trajectory
    side = None if curve.r_c is None else ("above" if split.frac > curve.r_c else "below")
    reached = np.isfinite(sim.steps_to_rqi)
    r = {
        "task": task.describe(), "p": split.p, "n_samples": task.n_samples, "n_train": split.n_train,
        "frac": split.frac, "seed": args.seed, "n_parallelograms": th.n_parallelograms,
        "dof": th.dof, "ring_locally_unique": th.unique, "ring_rate": th.grokking_rate,
        "ideal_test_accuracy": th.ideal_test_accuracy, "critical_fraction": curve.r_c,
        "critical_trials": curve.trials, "critical_side": side, "trials": int(sim.outcomes.size),
        "method": traj.method, "lr": traj.lr, "steps": float(traj.times[-1]),
        "outcome_fractions": sim.fraction, "outcomes": list(sim.outcomes),
        "frequencies": [int(f) for f in sim.frequency], "coherence": sim.coherence,
        "steps_to_rqi": float(np.median(sim.steps_to_rqi)) if reached.mean() > 0.5 else None,
        "steps_to_rqi_trials": [float(x) if np.isfinite(x) else None for x in sim.steps_to_rqi],
        "final_rqi": float(sim.rqi[-1].mean()), "seconds": time.perf_counter() - start,
    }
    return r, _ring_text(r, plot_path, save_path)


def _ring_text(r, plot_path, save_path) -> str:
    fr = r["outcome_fractions"]
    reached = sum(x is not None for x in r["steps_to_rqi_trials"])
    lines = [
        f"{r['task'][0].upper()}{r['task'][1:]}: N = {r['n_samples']} samples, n_train = {r['n_train']} "
        f"(frac {r['frac']:.3f}, seed {r['seed']})",
        "",
        "Circle theory of the split (phases θ_a; a ring θ_a = θ0 + 2π f a / p solves the table)",
        f"  parallelograms in D    |P0(D)| = {r['n_parallelograms']}",
        f"  free directions        dof = {r['dof']} at a ring ({'locally unique ring' if r['ring_locally_unique'] else 'not unique'})",
        f"  rate at the ring       λ = {_fmt(r['ring_rate'])} (smallest non-zero eigenvalue of Ĥ_mod)",
        f"  ideal test accuracy    {_fmt(r['ideal_test_accuracy'], '.4f')}",
        f"  critical fraction      r_c = {_fmt(r['critical_fraction'], '.4f')} ({plural(r['critical_trials'], 'trial')}): "
        f"this split lies {r['critical_side']} it",
        "  (no non-constant additive structure exists for modular addition: the linear theory's rank is the ring's)",
        "",
        f"Circle flow: gradient descent at lr = 1/λ_max = {r['lr']:.4g}, {plural(r['trials'], 'random start')}, "
        f"{steps(r['steps'])} steps",
        "  outcomes               " + ", ".join(f"{k} {v:.2f}" for k, v in fr.items()),
        "  frequencies found      " + " ".join(f"{f:+d}" for f in r["frequencies"]) + "   (signed, |f| <= p/2; 0 = collapsed)",
        f"  circle RQI >= 0.95     after {steps(r['steps_to_rqi'], 'never for most starts')} steps "
        f"(median, {reached} of {plural(r['trials'], 'start')}; a collapsed state scores 0)",
        f"  final circle RQI       {r['final_rqi']:.4f} (mean over starts)",
    ]
    tail = f"({r['seconds']:.1f} s)"
    if plot_path:
        tail += f"; plot written to {plot_path}"
    if save_path:
        tail += f"; arrays written to {save_path}"
    return "\n".join(lines + ["", tail])


# ---------------------------------------------------------------- groups: the matrix theory


def _run_group(args, ui, task, n_train, plot_path, save_path, start):
    """``simulate --task s3``: the matrix theory of one split, from ``--trials`` Haar-random starts."""
    from efftheory.theories.group.loss import DEFAULT_K, group_quads
    from efftheory.theories.group.flow import DEFAULT_MAX_STEPS
    from efftheory.theories.group.simulation import simulate_group
    from efftheory.tasks.parallelograms import count_parallelograms

    split = task.split(n_train=n_train, seed=args.seed)
    if group_quads(task, split.train).shape[0] == 0:  # as for addition: nothing would move
        from efftheory.errors import InputError

        raise InputError(f"the training set ({split.n_train} samples of {task.title}) holds no pair of samples with "
                         "equal products, so ℓ_grp is zero; use a larger --frac or --train-num")
    k = args.k or DEFAULT_K
    with ui.progress(args.trials, "matrix flow (starts)") as update:
        sim = simulate_group(split, trials=args.trials, seed=args.seed, k=k, max_steps=args.steps or DEFAULT_MAX_STEPS,
                             n_record=args.times, progress=update)
    if plot_path is not None:
        from efftheory.plotting.group import plot_group_simulation

        save_figure(plot_group_simulation(sim), plot_path)
    f, sc = sim.flow, sim.score
    if save_path is not None:
        save_arrays(save_path, dict(train=split.train, M0=f.M0, M=f.M, record=f.record, loss=f.loss_history,
                                    time=f.time_history))
    r = {
        "task": task.describe(), "p": task.p, "n_samples": task.n_samples, "n_train": split.n_train,
        "frac": split.frac, "seed": args.seed, "k": k, "n_quads": sim.n_quads,
        "n_quads_full": int(group_quads(task).shape[0]),
        "additive_parallelograms": int(count_parallelograms(task, split.train)),
        "trials": int(sim.outcomes.size), "max_steps": f.max_steps, "gtol": f.gtol,
        "outcome_fractions": sim.fraction, "ci_low": sim.ci_low, "ci_high": sim.ci_high,
        "outcomes": list(sim.outcomes), "train_loss": f.loss, "full_loss": np.atleast_1d(sc.full_loss),
        "homomorphism_error": np.atleast_1d(sc.homomorphism_error), "min_distance": np.atleast_1d(sc.min_distance),
        "steps": f.steps, "at_rest": f.converged, "record": f.record,
        "median_loss": np.median(f.loss_history, axis=0), "seconds": time.perf_counter() - start,
    }
    return r, _group_text(r, plot_path, save_path)


def _group_text(r, plot_path, save_path) -> str:
    fr, lo, hi = r["outcome_fractions"], r["ci_low"], r["ci_high"]
    rec, med = np.asarray(r["record"]), np.asarray(r["median_loss"])
    last = int(np.max(r["steps"]))  # later records only repeat the final values
    marks = [x for x in (0, 1, 10, 100, 1000, 10_000, 100_000) if x < last] + [last]
    shown = np.unique(np.searchsorted(rec, marks).clip(0, rec.size - 1))
    fitted = [o in ("faithful", "unfaithful") for o in r["outcomes"]]
    stalled = sorted({round(float(x), 4) for x, o in zip(r["train_loss"], r["outcomes"]) if o == "stalled"})
    lines = [
        f"{r['task'][0].upper()}{r['task'][1:]}: N = {r['n_samples']} samples, n_train = {r['n_train']} "
        f"(frac {r['frac']:.3f}, seed {r['seed']})",
        "",
        f"Matrix theory of the split (one rotation M_a in SO({r['k']}) per element; "
        "ℓ = mean over equal-product pairs of ‖M_a M_b − M_c M_d‖²)",
        f"  equal-product pairs    Q = {r['n_quads']} of {r['n_quads_full']} on the full table "
        f"({r['additive_parallelograms']} of them carry an additive constraint)",
        "",
        f"Flow: Riemannian descent (exponential-map steps, Armijo step control), "
        f"{plural(r['trials'], 'Haar-random start')}, at most {r['max_steps']} steps",
        "  outcomes               " + ", ".join(f"{o} {fr[o]:.2f} [{lo[o]:.2f}, {hi[o]:.2f}]" for o in fr),
        f"  at rest                {int(np.sum(r['at_rest']))} of {r['trials']} (the others used the whole budget)",
        "  median ℓ after steps   " + ", ".join(f"{int(rec[i])}: {med[i]:.3g}" for i in shown),
        f"  fitted starts          {sum(fitted)}: max homomorphism error "
        + (f"{max(h for h, ok in zip(r['homomorphism_error'], fitted) if ok):.2g}" if any(fitted) else "n/a")
        + ", distinct images apart by at least "
        + (f"{min(d for d, o in zip(r['min_distance'], r['outcomes']) if o == 'faithful'):.3g}"
           if "faithful" in r["outcomes"] else "n/a (none faithful)"),
        "  stalled at ℓ           " + (", ".join(f"{x:g}" for x in stalled[:8]) if stalled else "none")
        + (f", ... ({len(stalled)} distinct values)" if len(stalled) > 8 else ""),
    ]
    tail = f"({r['seconds']:.1f} s)"
    if plot_path:
        tail += f"; plot written to {plot_path}"
    if save_path:
        tail += f"; arrays written to {save_path}"
    return "\n".join(lines + ["", tail])


#: theory of the task -> how ``simulate`` runs and reports it
RUNNERS = {"linear": _run_linear, "circle": _run_ring, "group": _run_group}
#: the options only some theories read (refused for the others)
THEORY_OPTIONS = {"group": ("k",)}
