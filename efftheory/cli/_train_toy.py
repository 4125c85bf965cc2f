"""``efftheory train toy``: the paper's toy network (embeddings + MLP decoder) beside the theory
of its task: on addition the linear theory (dof, grokking rate, ideal and predicted test accuracy,
effective-theory trajectories started from the network's own initial embeddings); on addition
mod p the ring read off its embeddings beside the circle flow from its own initial phases."""

from __future__ import annotations

import numpy as np

from efftheory.cli._common import positive_float, save_arrays, save_figure
from efftheory.cli._model_options import given_options
from efftheory.cli._wording import (
    chance_test_accuracy,
    exceeds,
    fit_note,
    fit_text,
    ideal_note,
    plural,
    run_footer,
    steps,
    uniform_guess,
    verdict_reason,
    verdict_text,
)
from efftheory.cli.reports import Report
from efftheory.errors import InputError

TASK_HELP = ("add: integer addition (the paper's toy, defaults as listed); modadd: addition mod p, read as a ring "
             "beside the circle theory, with defaults CE head, --dim 2, --embed-lr 1e-2, --decoder-lr 1e-4 "
             "(docs/theory.md §13); s3: the symmetric group on 3 letters, 3x3 matrix embeddings (no --p) "
             "(default add)")
#: the toy's options that are not config fields
EXTRA_OPTIONS = ("--delta",)


def add_arguments(group) -> None:
    """The toy's own options beside its config fields."""
    group.add_argument("--delta", type=positive_float, default=0.01, help="RQI tolerance δ (default 0.01)")


def config(args, model, task_name: str):
    """The NetworkConfig of the options: the task's defaults (the paper's toy for addition,
    :data:`efftheory.models.toy.model.MODADD_CONFIG` for addition mod p) with every option given."""
    return model.config(task_name, seed=args.seed, **given_options(args, model))


def train_options(args) -> dict:
    return {"delta": args.delta}


# ---------------------------------------------------------------- addition: the linear theory


def _linear_run(args, split, config, result, plot_path, save_path):
    """``train --task add``: the run beside the split's linear theory, and the effective-theory
    trajectories (gradient flow, Adam on ℓ_eff) from the network's own initial embeddings."""
    from efftheory.experiments.comparison.trajectories import effective_counterpart
    from efftheory.phases import verdict
    from efftheory.theories.linear.dynamics import time_scale
    from efftheory.theories.linear.theory import linear_theory

    task = split.task
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
        "steps": result.steps_run, "seconds": result.seconds, "threads": result.threads,
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
    from efftheory.experiments.comparison.trajectories import SCALES

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
    from efftheory.experiments.comparison.trajectories import SCALES

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
        *run_footer(o, save_path, plot_path),
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------- modular addition: the ring


def _ring_check(args, task) -> None:
    if task.p < 3:
        raise InputError(f"--task modadd needs p >= 3 (a ring of p points), got {task.p}")


def _ring_check_config(args, config) -> None:
    if config.dim < 2:
        raise InputError(f"--task modadd needs --dim >= 2 (a ring needs a plane), got {config.dim}")


def _ring_run(args, split, config, result, plot_path, save_path):
    """``train --task modadd``: the network's ring over the evaluated steps, and the circle flow
    from the network's own initial phases on the same training set (efftheory.experiments.network_ring)."""
    from efftheory.experiments.network_ring import network_ring
    from efftheory.phases import verdict
    from efftheory.theories.circle.theory import circle_linear_theory
    from efftheory.theories.circle.ring import modular_quads

    task = split.task
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
        "steps": result.steps_run, "seconds": result.seconds, "threads": result.threads,
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
        *run_footer(o, save_path, plot_path),
    ]
    return "\n".join(lines)


REPORTS = {
    "linear": Report(run=_linear_run),
    "circle": Report(run=_ring_run, check=_ring_check, check_config=_ring_check_config),
}
