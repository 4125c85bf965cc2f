"""Train the paper's toy network (embeddings + MLP decoder) on one split, and put its behaviour
beside the effective theory of the same split: dof, grokking rate, ideal and predicted test
accuracy, and effective-theory trajectories started from the network's own initial embeddings.

Step t means the parameters after t updates; every metric at step t is measured on those
parameters, before the next update."""

from __future__ import annotations

import numpy as np

from efftheory.cli._common import (
    P_HELP,
    check_p,
    check_distinct_outputs,
    check_output_path,
    fraction,
    integer,
    nonnegative_float,
    nonnegative_int,
    positive_float,
    positive_int,
    save_arrays,
    save_figure,
)
from efftheory.cli import _train_transformer
from efftheory.cli._wording import (
    chance_test_accuracy,
    exceeds,
    fit_note,
    fit_text,
    ideal_note,
    plural,
    steps,
    uniform_guess,
    verdict_reason,
    verdict_text,
)


def add_network_arguments(parser) -> None:
    """Options shared by ``train`` and ``compare``: the network's hyper-parameters."""
    parser.add_argument("--loss", choices=("mse", "ce"), default="mse", help="decoder head (default mse)")
    parser.add_argument("--dim", type=positive_int, default=1, help="embedding dimension d (default 1)")
    parser.add_argument("--width", type=positive_int, default=200, help="hidden width (default 200)")
    parser.add_argument("--depth", type=positive_int, default=2, help="hidden layers (default 2)")
    parser.add_argument("--embed-lr", type=positive_float, default=1e-3, help="embedding AdamW lr (default 1e-3)")
    parser.add_argument("--decoder-lr", type=positive_float, default=1e-4, help="decoder AdamW lr (default 1e-4)")
    parser.add_argument("--embed-wd", type=nonnegative_float, default=0.0, help="embedding weight decay (default 0)")
    parser.add_argument("--decoder-wd", type=nonnegative_float, default=0.0, help="decoder weight decay (default 0)")
    parser.add_argument("--init-scale", type=positive_float, default=1.0,
                        help="embeddings start uniform in [-0.5, 0.5) times this (default 1)")
    parser.add_argument("--decoder-init-scale", type=positive_float, default=1.0,
                        help="decoder weights start uniform in ±this/sqrt(fan_in) (default 1)")
    parser.add_argument("--out-dim", type=positive_int, default=30, help="MSE template dimension (default 30)")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32", help="default float32")
    parser.add_argument("--steps", type=positive_int, default=5000, help="training steps (default 5000)")
    parser.add_argument("--delta", type=positive_float, default=0.01, help="RQI tolerance δ (default 0.01)")
    parser.add_argument("--gap", type=nonnegative_float, default=1e3,
                        help="grokking gap G in steps for the phase (default 1000)")


#: the NetworkConfig fields that the network options set (option --x-y is field x_y)
NETWORK_FIELDS = ("loss", "dim", "width", "depth", "embed_lr", "decoder_lr", "embed_wd", "decoder_wd",
                  "init_scale", "decoder_init_scale", "out_dim", "dtype")


def network_config(args, seed: int, base=None):
    """The NetworkConfig of the options: ``base`` (default: the paper's settings) with every
    option the user gave (not None) put over it."""
    import dataclasses

    from efftheory.models.toy.kernels import NetworkConfig

    given = {k: getattr(args, k) for k in NETWORK_FIELDS if getattr(args, k, None) is not None}
    return dataclasses.replace(base or NetworkConfig(), **given, seed=seed)


def add_arguments(parser) -> None:
    parser.add_argument("--p", type=integer, required=True, help=P_HELP)
    size = parser.add_mutually_exclusive_group(required=True)
    size.add_argument("--frac", type=fraction,
                      help="training fraction of the N samples: N = p(p+1)/2 unordered pairs for the toy network "
                           "(--task add or modadd), N = p^2 ordered pairs for --model transformer")
    size.add_argument("--train-num", type=positive_int, help="number of training samples")
    parser.add_argument("--seed", type=nonnegative_int, default=0, help="seed of the split and the network (default 0)")
    parser.add_argument("--split-seed", type=nonnegative_int, default=None,
                        help="seed of the split only (default: --seed)")
    add_network_arguments(parser)
    parser.add_argument("--eval-every", type=positive_int, default=1, help="evaluate every k steps (default 1)")
    parser.add_argument("--plot", metavar="PNG", help="curves, RQI and embedding trajectories")
    parser.add_argument("--save", metavar="NPZ", help="save the recorded arrays")
    add_modadd_task_argument(parser)
    _train_transformer.add_arguments(parser)  # --model and the transformer's options (last)


def add_modadd_task_argument(parser) -> None:
    """--task add|modadd; network options left unset take the task's defaults (:func:`task_defaults`)."""
    parser.add_argument("--task", choices=("add", "modadd"), default=None,
                        help="add: integer addition (the paper's toy, defaults as listed); modadd: addition mod p, "
                             "read as a ring beside the circle theory, with defaults CE head, --dim 2, --embed-lr 1e-2, "
                             "--decoder-lr 1e-4 (docs/theory.md §13) (default add; modadd with --model transformer, "
                             "the only task it trains)")
    # unset network options fall back to the task's defaults (for add: the values in their help)
    parser.set_defaults(**{k: None for k in NETWORK_FIELDS})


def task_defaults(task_name: str):
    """The NetworkConfig an unset network option falls back to: the paper's toy for add, the
    measured modular-addition setting for modadd."""
    from efftheory.models.toy.model import MODADD_CONFIG
    from efftheory.models.toy.kernels import NetworkConfig

    return MODADD_CONFIG if task_name == "modadd" else NetworkConfig()


def run(args, ui):
    if args.task is None:  # each model's own default task (the transformer trains modadd only)
        from efftheory.models import model_named

        args.task = model_named(args.model).default_task
    if args.model == "transformer":
        return _train_transformer.run(args, ui)
    args = _train_transformer.toy_args(args)
    from efftheory.experiments.comparison.linear import effective_counterpart
    from efftheory.theories.linear.dynamics import time_scale
    from efftheory.models.toy.kernels import train_network
    from efftheory.models.phases import verdict
    from efftheory.tasks import Addition
    from efftheory.theories.linear.theory import linear_theory

    plot_path = check_output_path(args.plot, "--plot")
    save_path = check_output_path(args.save, "--save")
    check_distinct_outputs({"--plot": args.plot, "--save": args.save})
    check_p(args.p)
    if getattr(args, "task", "add") == "modadd":
        return _run_modadd(args, ui, plot_path, save_path)
    task = Addition(args.p)
    split = task.split(frac=args.frac, n_train=args.train_num,
                       seed=args.seed if args.split_seed is None else args.split_seed)
    config = network_config(args, args.seed)

    with ui.progress(args.steps, "training") as update:
        result = train_network(split, config, args.steps, eval_every=args.eval_every, delta=args.delta,
                               gap=args.gap, progress=update)
    theory = linear_theory(split)
    # a diverged run has no trajectory to compare: the theory is not run over its NaNs
    counterparts = None if result.diverged else {
        m: effective_counterpart(result, theory.H_hat, m, args.delta) for m in ("rk4", "adam")}
    tau = time_scale(theory.grokking_rate if theory.unique else None, float(np.sum(result.E0**2)), config.embed_lr)
    judged = verdict(result.phase, result.steps, result.train_acc, result.test_acc, args.steps,
                     theory_steps=None if counterparts is None else {
                         f"{THEORY_LABELS[m]} from the network's initial embeddings": counterparts[m].steps_to_rqi
                         for m in ("rk4", "adam")})

    def final(x):
        return float(x[-1])

    out = {
        "p": task.p, "n_samples": task.n_samples, "n_train": split.n_train, "frac": split.frac,
        "seed": args.seed, "split_seed": split.seed, "loss": config.loss,
        "steps_to_train": result.steps_to_train, "steps_to_test": result.steps_to_test,
        "steps_to_rqi": result.steps_to_rqi,
        "final_train_acc": final(result.train_acc), "final_test_acc": final(result.test_acc),
        "final_full_acc": result.final_full_acc, "final_rqi": final(result.rqi),
        "predicted_test_accuracy": final(result.predicted_test_acc),
        "ideal_test_accuracy": theory.ideal_test_accuracy, "dof": theory.dof,
        "grokking_rate": theory.grokking_rate, "theory_time_scale": tau, "phase": result.phase,
        **judged.to_dict(), "steps_budget": args.steps, "diverged": result.diverged,
        "chance_test_accuracy": chance_test_accuracy(split),
        **_counterpart_fields(counterparts),
        "steps": result.steps_run, "seconds": result.seconds,
        "steps_per_second": result.steps_run / result.seconds if result.seconds > 0 else None,
    }
    if save_path is not None:
        arrays = dict(
            train=split.train, steps=result.steps, train_loss=result.train_loss, test_loss=result.test_loss,
            train_acc=result.train_acc, test_acc=result.test_acc, rqi=result.rqi,
            predicted_test_acc=result.predicted_test_acc, embeddings=result.embeddings, E0=result.E0,
            E_final=result.E_final,
        )
        for m, c in counterparts.items():
            arrays[f"theory_{m}_times"] = c.times
            arrays[f"theory_{m}_embeddings"] = c.embeddings
            arrays[f"theory_{m}_rqi"] = c.rqi
        save_arrays(save_path, arrays, compressed=True)
    if plot_path is not None:
        from efftheory.plotting.network import plot_training

        save_figure(plot_training(result, counterparts), plot_path)
    return out, _text(out, config, save_path, plot_path)


#: how the text names the two effective-theory counterparts
THEORY_LABELS = {"rk4": "gradient flow on the effective loss", "adam": "Adam on the effective loss"}


def _counterpart_fields(counterparts) -> dict:
    """JSON fields of the two effective-theory counterparts ("flow" = rk4, "adam"): steps to
    RQI, trajectory rms, fitted time scale s (null when the fit sits at the edge of the scale
    grid: ``trajectory_fit_at_bound_*`` is then true), and whether the fit ends mirrored."""
    out = {}
    for m, name in (("rk4", "flow"), ("adam", "adam")):
        if counterparts is None:  # diverged: nothing compared
            out |= {f"{k}_{name}": None for k in ("theory_steps_to_rqi", "trajectory_rms", "trajectory_scale",
                                                   "trajectory_fit_at_bound", "trajectory_scale_edge",
                                                   "trajectory_best_grid_scale", "trajectory_mirrored",
                                                   "theory_horizon")}
            continue
        c = counterparts[m]
        out |= {f"theory_steps_to_rqi_{name}": c.steps_to_rqi, f"trajectory_rms_{name}": c.rms,
                f"trajectory_scale_{name}": c.fitted_scale, f"trajectory_fit_at_bound_{name}": c.fit_at_bound is not None,
                f"trajectory_scale_edge_{name}": c.fit_at_bound, f"trajectory_best_grid_scale_{name}": c.scale,
                f"trajectory_mirrored_{name}": c.mirrored, f"theory_horizon_{name}": float(c.times[-1])}
    return out


def _acc(x) -> str:
    return "n/a" if x is None or np.isnan(x) else f"{x:.3f}"


def _theory_steps(o, name: str) -> str:
    """Theory steps to RQI >= 0.95, or "> horizon" when not reached within the computed run."""
    return steps(o[f"theory_steps_to_rqi_{name}"], none=f"> {steps(o[f'theory_horizon_{name}'])}")


def _time_scale_text(o) -> str:
    """The theory's time scale Z0/(2ηλ3) in steps, or why it has none."""
    if o["theory_time_scale"] is not None:
        return f"time scale Z0/(2ηλ3) = {steps(o['theory_time_scale'])} steps"
    if o["grokking_rate"] is None:
        return "no time scale (p = 2 has no λ3)"
    return f"no time scale: dof = {o['dof']} > 0 leaves free directions, which have no rate (λ3 = 0)"


def _fit_line(o, name: str, label: str) -> str:
    from efftheory.experiments.comparison.linear import SCALES

    fit = fit_text(o[f"trajectory_best_grid_scale_{name}"], o[f"trajectory_scale_edge_{name}"], SCALES)
    mirrored = ", ends mirrored" if o[f"trajectory_mirrored_{name}"] else ""
    return f"  {label}: rms {o[f'trajectory_rms_{name}']:.3f}, {fit}{mirrored}"


def _accuracy_rows(o) -> list[str]:
    """Network against theory: test accuracy, chance level, predicted accuracy, and the note when
    either beats the ideal accuracy (which is not an upper bound)."""
    ideal, chance = o["ideal_test_accuracy"], o["chance_test_accuracy"]
    rows = [
        f"{'test accuracy (final)':28}{_acc(o['final_test_acc']):>14}{_acc(ideal):>14}   (theory: ideal accuracy of the split)",
        f"{'predicted test acc (final E)':28}{_acc(o['predicted_test_accuracy']):>14}",
        f"{'chance level':28}{'':>14}{_acc(chance):>14}   (always the most common test sum; {uniform_guess(o['p'])})",
    ]
    if exceeds(o["final_test_acc"], ideal) or exceeds(o["predicted_test_accuracy"], ideal):
        rows += ideal_note()
    return rows


def _comparison_rows(o) -> list[str]:
    return [
        f"{'':28}{'network':>14}{'theory':>14}",
        *_accuracy_rows(o),
        f"{'steps to RQI >= 0.95':28}{steps(o['steps_to_rqi']):>14}"
        f"{_theory_steps(o, 'flow'):>14}   (theory: gradient flow from the same E0)",
        f"{'':28}{'':>14}{_theory_steps(o, 'adam'):>14}   (theory: Adam on the effective loss)",
    ]


def _diverged_rows(o) -> list[str]:
    return [f"DIVERGED at step {o['steps']}: the training loss or a parameter left the floating-point range "
            "(lower the learning rates); nothing is compared with the theory"]


def _trajectory_rows(o, scales) -> list[str]:
    return [
        "trajectory mismatch (normalised, log-spaced steps, best time rescaling s: theory time = s x network step, "
        "up to mirror):",
        _fit_line(o, "flow", "gradient flow"),
        _fit_line(o, "adam", "Adam on ℓ_eff"),
        *[f"  {fit_note(edge, scales)}" for edge in ("lower", "upper")
          if edge in (o["trajectory_scale_edge_flow"], o["trajectory_scale_edge_adam"])],
    ]


def _memorised_rows(o) -> list[str]:
    """Why a decided memorization stays below the split's ideal accuracy."""
    if not (o["decided"] and o["phase"] == "memorization" and o["ideal_test_accuracy"] is not None):
        return []
    if o["final_rqi"] < 0.95:
        return [f"  memorised: test accuracy flat over the last quarter of the run, and the embeddings' RQI "
                f"{o['final_rqi']:.3f} < 0.95: without the structure the network reaches "
                f"{_acc(o['final_test_acc'])}, not the {_acc(o['ideal_test_accuracy'])} the structure would give"]
    if o["ideal_test_accuracy"] < 0.9:
        return [f"  the embeddings formed the structure (RQI {o['final_rqi']:.3f} >= 0.95), but this split's ideal "
                f"accuracy {_acc(o['ideal_test_accuracy'])} is below the 0.9 the phase asks of test accuracy"]
    return []


def _text(o, config, save_path, plot_path) -> str:
    """The readable summary of ``train`` (``o`` is the JSON object)."""
    from efftheory.experiments.comparison.linear import SCALES

    lam = "none (p = 2)" if o["grokking_rate"] is None else f"{o['grokking_rate']:.4g}"
    lines = [
        f"Addition p = {o['p']}: {o['n_train']} of {plural(o['n_samples'], 'sample')} in training "
        f"(frac {o['frac']:.3f}, split seed {o['split_seed']}); network seed {o['seed']}, {config.loss.upper()} head,",
        f"  d = {config.dim}, {config.depth} x {config.width} tanh, lr {config.embed_lr:g} / {config.decoder_lr:g}, "
        f"wd {config.embed_wd:g} / {config.decoder_wd:g}, {config.dtype}",
        "",
        *(_diverged_rows(o) if o["diverged"] else _comparison_rows(o)),
        "",
        f"final train accuracy {o['final_train_acc']:.3f}, RQI {o['final_rqi']:.3f}, "
        f"full-table accuracy {o['final_full_acc']:.3f}",
        f"steps to train acc >= 0.9: {steps(o['steps_to_train'])}; to test acc >= 0.9: {steps(o['steps_to_test'])}"
        f"  -> {verdict_text(o)}",
        *verdict_reason(o),
        *_memorised_rows(o),
        f"linear theory: dof = {o['dof']}, grokking rate λ3 = {lam}, {_time_scale_text(o)}",
        *([] if o["diverged"] else _trajectory_rows(o, SCALES)),
        f"{plural(o['steps'], 'step')} in {o['seconds']:.2f} s"
        + (f" ({o['steps_per_second']:.0f} steps/s)" if o["steps_per_second"] else ""),
    ]
    if save_path:
        lines.append(f"arrays saved to {save_path}")
    if plot_path:
        lines.append(f"plot written to {plot_path}")
    return "\n".join(lines)


# ---------------------------------------------------------------- modular addition: the ring


def _run_modadd(args, ui, plot_path, save_path):
    """``train --task modadd``: the network's ring over the evaluated steps, and the circle flow
    from the network's own initial phases on the same training set (efftheory.experiments.network_ring)."""
    from efftheory.theories.circle.flow import circle_linear_theory, modular_quads
    from efftheory.errors import InputError
    from efftheory.models.toy.kernels import train_network
    from efftheory.experiments.network_ring import network_ring
    from efftheory.models.phases import verdict
    from efftheory.tasks import ModularAddition

    task = ModularAddition(args.p)
    if task.p < 3:
        raise InputError(f"--task modadd needs p >= 3 (a ring of p points), got {task.p}")
    split = task.split(frac=args.frac, n_train=args.train_num,
                       seed=args.seed if args.split_seed is None else args.split_seed)
    config = network_config(args, args.seed, task_defaults("modadd"))
    if config.dim < 2:
        raise InputError(f"--task modadd needs --dim >= 2 (a ring needs a plane), got {config.dim}")
    with ui.progress(args.steps, "training") as update:
        result = train_network(split, config, args.steps, eval_every=args.eval_every, delta=args.delta,
                               gap=args.gap, progress=update)
    if result.diverged:
        raise InputError(f"the network diverged at step {result.steps_run} (lower the learning rates); "
                         "there is no ring to read")
    ring = network_ring(result)
    judged = verdict(result.phase, result.steps, result.train_acc, result.test_acc, args.steps)
    lin = circle_linear_theory(task.p, modular_quads(task.p, split.train_pairs))
    out = {
        "task": "modadd", "p": task.p, "n_samples": task.n_samples, "n_train": split.n_train, "frac": split.frac,
        "seed": args.seed, "split_seed": split.seed, "loss": config.loss, "dim": config.dim,
        "embed_lr": config.embed_lr, "decoder_lr": config.decoder_lr,
        "steps_to_train": result.steps_to_train, "steps_to_test": result.steps_to_test,
        "final_train_acc": float(result.train_acc[-1]), "final_test_acc": float(result.test_acc[-1]),
        "final_full_acc": result.final_full_acc, "phase": result.phase, **judged.to_dict(),
        "steps_budget": args.steps, "diverged": result.diverged,
        "chance_test_accuracy": chance_test_accuracy(split),
        "ring_free_directions": lin.free_directions, "ring_locally_unique": lin.locally_unique,
        "ring_rate": lin.rate,
        **ring.to_dict(),
        "steps": result.steps_run, "seconds": result.seconds,
        "steps_per_second": result.steps_run / result.seconds if result.seconds > 0 else None,
    }
    if save_path is not None:
        save_arrays(save_path, dict(
            train=split.train, steps=result.steps, train_loss=result.train_loss, test_loss=result.test_loss,
            train_acc=result.train_acc, test_acc=result.test_acc, embeddings=result.embeddings, E0=result.E0,
            E_final=result.E_final, ring_phases=ring.phases, ring_frequency=ring.frequency,
            ring_coherence=ring.coherence, ring_circle_rqi=ring.circle_rqi, theta0=ring.theta0,
            theory_theta=ring.theory_theta), compressed=True)
    if plot_path is not None:
        from efftheory.plotting.ring import plot_network_ring

        save_figure(plot_network_ring(result, ring), plot_path)
    return out, _modadd_text(out, config, save_path, plot_path)


def _modadd_text(o, config, save_path, plot_path) -> str:
    """The readable summary of ``train --task modadd``."""
    if o["theory_outcome"] == "ring":
        agree = ("yes" if o["frequency_match"] else "no") if o["ringed"] else "nothing to compare (no network ring)"
    else:
        agree = f"nothing to compare (the flow ended {o['theory_outcome']})"
    lines = [
        f"Addition mod p = {o['p']}: {o['n_train']} of {plural(o['n_samples'], 'sample')} in training "
        f"(frac {o['frac']:.3f}, split seed {o['split_seed']}); network seed {o['seed']}, {config.loss.upper()} head,",
        f"  d = {config.dim}, {config.depth} x {config.width} tanh, lr {config.embed_lr:g} / {config.decoder_lr:g}, "
        f"wd {config.embed_wd:g} / {config.decoder_wd:g}, {config.dtype}",
        "",
        f"final train accuracy {o['final_train_acc']:.3f}, test accuracy {_acc(o['final_test_acc'])} "
        f"(chance {_acc(o['chance_test_accuracy'])}); steps to train acc >= 0.9: {steps(o['steps_to_train'])}, "
        f"to test acc >= 0.9: {steps(o['steps_to_test'])} -> {verdict_text(o)}",
        *verdict_reason(o),
        f"network ring (embeddings' leading PCA plane): |f| = {o['ring_frequency']}, coherence "
        f"{_acc(o['ring_coherence'])}, circle RQI {o['ring_circle_rqi']:.3f}, variance in the plane "
        f"{_acc(o['ring_variance_explained'])} -> {'a ring' if o['ringed'] else 'no ring'} "
        f"(circle RQI >= 0.95 first at step {steps(o['steps_to_ring'])})",
        f"circle theory from the network's initial phases on this training set: {o['theory_outcome']}, "
        f"|f| = {o['theory_frequency']} after {plural(o['theory_steps'], 'step')} of gradient descent "
        f"({'at rest' if o['theory_converged'] else 'not at rest'}); free directions at a ring: "
        f"{o['ring_free_directions']}",
        f"network frequency = theory frequency (up to f -> p - f): {agree}",
        f"{plural(o['steps'], 'step')} in {o['seconds']:.2f} s",
    ]
    if save_path:
        lines.append(f"arrays saved to {save_path}")
    if plot_path:
        lines.append(f"plot written to {plot_path}")
    return "\n".join(lines)
