"""``efftheory train`` for a model or task without a report of its own: the run's curves and
phase beside its task's theory (the split's structure, the theory's structure metric of the
final embeddings). A model registered in :data:`efftheory.models.MODELS` is trained and reported
by this module until it brings its own command-line module."""

from __future__ import annotations

import dataclasses

import numpy as np

from efftheory.cli._common import save_arrays, save_figure
from efftheory.cli._model_options import given_options
from efftheory.cli._wording import chance_test_accuracy, plural, run_footer, steps, verdict_reason, verdict_text
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
    from efftheory.models import MODELS

    from efftheory.phases import verdict

    judged = verdict(result.phase, result.steps, result.train_acc, result.test_acc, args.steps)
    out = {
        "model": args.model, "task": split.task.describe(), "p": split.p, "n_samples": split.task.n_samples,
        "n_train": split.n_train, "n_test": split.n_test, "frac": split.frac, "seed": args.seed,
        "split_seed": split.seed, "config": dataclasses.asdict(config), **_theory_part(split, result),
        "steps_to_train": result.steps_to_train, "steps_to_test": result.steps_to_test,
        "steps_to_rqi": result.steps_to_rqi, "phase": result.phase, **judged.to_dict(),
        "steps_budget": args.steps, "diverged": result.diverged,
        "final_train_acc": _final(result.train_acc), "final_test_acc": _final(result.test_acc),
        "final_full_acc": result.final_full_acc, "final_rqi": _final(result.rqi),
        "chance_test_accuracy": chance_test_accuracy(split),
        # the model's own series (e.g. the weight norm): first and last recorded value
        "records": {name: {"first": _first(x), "final": _final(x),
                           "final_step": int(result.steps[-1])} for name, x in result.extra_records().items()},
        "steps": result.steps_run, "eval_every": args.eval_every, "seconds": result.seconds, "threads": result.threads,
    }
    if save_path is not None:
        save_arrays(save_path, dict(
            train=split.train, steps=result.steps, train_loss=result.train_loss, test_loss=result.test_loss,
            train_acc=result.train_acc, test_acc=result.test_acc, rqi=result.rqi, embeddings=result.embeddings,
            E0=result.E0, E_final=result.E_final, **result.extra_records()), compressed=True)
    if plot_path is not None:
        save_figure(MODELS[args.model].plot_run(result), plot_path)
    return out, _text(out, save_path, plot_path)


def _theory_part(split, result) -> dict:
    """The task's theory beside the run: the split's structure and the theory's metric of the
    final embeddings; all None for a task no theory describes (theory_for gives None)."""
    from efftheory.theories import theory_for

    theory = theory_for(split.task)
    if theory is None:
        return {"theory": None, "metric": None, "final_metric": None, "final_predicted_test_accuracy": None}
    score = theory.score(result.embeddings[-1], split)
    return {"theory": theory.structure(split).to_json(), "metric": theory.metric,
            "final_metric": _final(score.value), "final_predicted_test_accuracy": _final(score.predicted_test_accuracy)}


def _first(x) -> float | None:
    value = float(np.asarray(x).reshape(-1)[0])
    return None if np.isnan(value) else value


def _acc(x) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def _text(o, save_path, plot_path) -> str:
    s = o["theory"]
    final = (f"final: train acc {_acc(o['final_train_acc'])}, test acc {_acc(o['final_test_acc'])} "
             f"(chance {_acc(o['chance_test_accuracy'])})")
    lines = [
        f"The {o['model']} model on {o['task']}: {o['n_train']} of {plural(o['n_samples'], 'sample')} in training "
        f"(frac {o['frac']:.3f}, split seed {o['split_seed']}), {o['n_test']} in the test set; seed {o['seed']}",
    ]
    if s is None:
        lines.append("no theory of the task's structure (its samples are not an operation table)")
    else:
        structure = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in s.items()
                              if k != "theory" and v is not None)
        lines.append(f"{s['theory']} theory of the split: {structure}")
        final += (f", {o['metric']} of the final embeddings {_acc(o['final_metric'])}, "
                  f"predicted test acc {_acc(o['final_predicted_test_accuracy'])}")
    lines += [
        final,
        f"steps to train acc >= 0.9: {steps(o['steps_to_train'])}; to test acc >= 0.9: {steps(o['steps_to_test'])}"
        f"  -> {verdict_text(o)}" + (" (diverged)" if o["diverged"] else ""),
        *verdict_reason(o),
    ]
    for name, r in o["records"].items():
        lines.append(f"{name.replace('_', ' ')}: {steps(r['first'], 'n/a')} at step 0, "
                     f"{steps(r['final'], 'n/a')} at step {r['final_step']}")
    lines += run_footer(o, save_path, plot_path)
    return "\n".join(lines)


#: the report of any theory (``any``): the structure and the structure metric of the final embeddings
REPORTS = {"any": Report(run=_run)}
