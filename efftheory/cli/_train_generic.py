"""``efftheory train`` for a model or task without a report of its own: the run's curves and
phase beside its task's theory (the split's structure, the theory's structure metric of the
final embeddings). A model registered in :data:`efftheory.models.MODELS` is trained and reported
by this module until it brings its own command-line module."""

from __future__ import annotations

import dataclasses

import numpy as np

from efftheory.cli._common import save_arrays, save_figure
from efftheory.cli._model_options import given_options
from efftheory.cli._wording import chance_test_accuracy, plural, steps, verdict_reason, verdict_text
from efftheory.cli.reports import Report


def add_arguments(group) -> None:
    """No options beyond the model's config fields."""


def config(args, model, task_name: str):
    return model.config(task_name, seed=args.seed, **given_options(args, model))


def train_options(args) -> dict:
    return {}


def _final(x) -> float | None:
    value = float(np.asarray(x).reshape(-1)[-1])
    return None if np.isnan(value) else value


def _run(args, split, config, result, plot_path, save_path):
    from efftheory.phases import verdict
    from efftheory.theories import theory_for

    theory = theory_for(split.task)
    structure = theory.structure(split)
    score = theory.score(result.embeddings[-1], split)
    judged = verdict(result.phase, result.steps, result.train_acc, result.test_acc, args.steps)
    out = {
        "model": args.model, "task": split.task.describe(), "p": split.p, "n_samples": split.task.n_samples,
        "n_train": split.n_train, "frac": split.frac, "seed": args.seed, "split_seed": split.seed,
        "config": dataclasses.asdict(config), "theory": structure.to_json(), "metric": theory.metric,
        "steps_to_train": result.steps_to_train, "steps_to_test": result.steps_to_test,
        "steps_to_rqi": result.steps_to_rqi, "phase": result.phase, **judged.to_dict(),
        "steps_budget": args.steps, "diverged": result.diverged,
        "final_train_acc": _final(result.train_acc), "final_test_acc": _final(result.test_acc),
        "final_full_acc": result.final_full_acc, "final_rqi": _final(result.rqi),
        "final_metric": _final(score.value), "final_predicted_test_accuracy": _final(score.predicted_test_accuracy),
        "chance_test_accuracy": chance_test_accuracy(split),
        "steps": result.steps_run, "eval_every": args.eval_every, "seconds": result.seconds,
    }
    if save_path is not None:
        save_arrays(save_path, dict(
            train=split.train, steps=result.steps, train_loss=result.train_loss, test_loss=result.test_loss,
            train_acc=result.train_acc, test_acc=result.test_acc, rqi=result.rqi, embeddings=result.embeddings,
            E0=result.E0, E_final=result.E_final), compressed=True)
    if plot_path is not None:
        from efftheory.plotting.network import plot_training

        save_figure(plot_training(result, None), plot_path)
    return out, _text(out, save_path, plot_path)


def _acc(x) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def _text(o, save_path, plot_path) -> str:
    s = o["theory"]
    structure = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in s.items()
                          if k != "theory" and v is not None)
    lines = [
        f"The {o['model']} model on {o['task']}: {o['n_train']} of {plural(o['n_samples'], 'sample')} in training "
        f"(frac {o['frac']:.3f}, split seed {o['split_seed']}); seed {o['seed']}",
        f"{s['theory']} theory of the split: {structure}",
        f"final: train acc {_acc(o['final_train_acc'])}, test acc {_acc(o['final_test_acc'])} "
        f"(chance {_acc(o['chance_test_accuracy'])}), {o['metric']} of the final embeddings {_acc(o['final_metric'])}, "
        f"predicted test acc {_acc(o['final_predicted_test_accuracy'])}",
        f"steps to train acc >= 0.9: {steps(o['steps_to_train'])}; to test acc >= 0.9: {steps(o['steps_to_test'])}"
        f"  -> {verdict_text(o)}" + (" (diverged)" if o["diverged"] else ""),
        *verdict_reason(o),
        f"{plural(o['steps'], 'step')} in {o['seconds']:.2f} s",
    ]
    if save_path:
        lines.append(f"arrays saved to {save_path}")
    if plot_path:
        lines.append(f"plot written to {plot_path}")
    return "\n".join(lines)


#: the report of any theory (``any``): the structure and the structure metric of the final embeddings
REPORTS = {"any": Report(run=_run)}
