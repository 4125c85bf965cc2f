"""``efftheory train transformer`` (``--model transformer``): the paper's transformer (docs/theory.md §15).

Trains the transformer on the ordered pairs of addition mod p, reports the training curves, the
ring read off the token embeddings along the run, and what the circle theory (§13) predicts from
the network's own initial embeddings: the frequency of the ring a circle flow started from the
initial phases forms, beside the frequency the network ends on.

Its config options come from the model (:class:`efftheory.models.transformer.model.Transformer`);
this module adds --no-final-ln and --paper-size, and the report of its runs.
"""

from __future__ import annotations

import numpy as np

from efftheory.cli._common import save_arrays, save_figure
from efftheory.cli._model_options import given_options
from efftheory.cli._wording import plural, run_footer, steps as steps_text, verdict_reason, verdict_text
from efftheory.cli.reports import Report
from efftheory.errors import InputError

#: transformer config fields reported under "config" (with final_ln)
CONFIG_FIELDS = ("dim", "width", "layers", "embed_lr", "decoder_lr", "embed_wd", "decoder_wd", "dropout", "dtype")
#: steps of the circle flow started from the network's initial phases (gradient descent at
#: lr 1/λ_max, which never increases ℓ_circ)
CIRCLE_STEPS = 20000
TASK_HELP = "modadd: addition mod p on ordered pairs (the transformer's one task; the default)"
#: the transformer's options that are not config fields
EXTRA_OPTIONS = ("--no-final-ln", "--paper-size")


def add_arguments(group) -> None:
    """The transformer's own options beside its config fields."""
    group.add_argument("--no-final-ln", action="store_true", help="no LayerNorm after the last block")
    group.add_argument("--paper-size", action="store_true",
                       help="the paper's Fig 1 sizes (d = 256, width 128, 2 layers, decoder lr 2e-4, wd 1, "
                            "dropout 0.05); other options override them")


def transformer_config(args):
    """The TransformerConfig of the options (paper sizes with --paper-size, else the defaults)."""
    import dataclasses

    from efftheory.models import MODELS

    model = MODELS["transformer"]
    base = model.config_type.paper() if args.paper_size else model.config_type()
    return dataclasses.replace(base, **given_options(args, model), final_ln=not args.no_final_ln, seed=args.seed)


def config(args, model, task_name: str):
    return transformer_config(args)


def train_options(args) -> dict:
    return {}


def _unordered(pairs: np.ndarray) -> np.ndarray:
    """The distinct unordered samples {a, b} of ordered pairs (the circle theory's samples)."""
    return np.unique(np.sort(pairs, axis=1), axis=0)


def circle_prediction(result, split) -> dict:
    """The circle theory from the network's initial embeddings: phases = the ring fit of the
    standardised E0; gradient descent on ℓ_circ over the training set's parallelograms; the
    frequency and outcome it ends on, beside the network's final ring."""
    from efftheory.theories.circle.flow import circle_flow
    from efftheory.theories.circle.ring import classify_outcome, ring_fit, ring_frequency
    from efftheory.theories.track import standardise_tokens

    theta0 = ring_fit(standardise_tokens(result.E0)).phases
    flow = circle_flow(theta0, samples=_unordered(split.train_pairs), steps=CIRCLE_STEPS, n_times=2)
    theta, loss = flow.theta[-1, 0], float(flow.loss[-1, 0])
    k, coherence = ring_frequency(theta)
    outcome = classify_outcome(theta, loss)
    net = int(result.ring_frequency[-1])
    return {"circle_initial_frequency": int(ring_frequency(theta0)[0]), "circle_frequency": int(k),
            "circle_coherence": float(coherence), "circle_outcome": str(outcome), "circle_loss": loss,
            "circle_steps": CIRCLE_STEPS,
            "network_lands_on_circle_frequency": bool(outcome == "ring" and abs(net) == abs(int(k)))}


def _check(args, task) -> None:
    if task.p < 3:
        raise InputError(f"--model transformer needs p >= 3 for a ring, got --p {task.p}")


def _run(args, split, config, result, plot_path, save_path):
    """The run's curves, the ring read off its token embeddings, and the circle theory's
    prediction from its initial embeddings."""
    from efftheory.models.transformer.training import RANDOM_RING_DRAWS, random_ring_coherence
    from efftheory.phases import verdict

    task, eval_every = split.task, args.eval_every
    circle = None if result.diverged else circle_prediction(result, split)
    judged = verdict(result.phase, result.steps, result.train_acc, result.test_acc, args.steps)
    random_coherence, random_sd = random_ring_coherence(task.p, config.dim)
    last = -1
    out = {
        "model": "transformer", "task": "modadd", "ordered": True, "p": task.p, "n_samples": task.n_samples,
        "n_train": split.n_train, "frac": split.frac, "seed": args.seed, "split_seed": split.seed,
        "config": {k: getattr(config, k) for k in (*CONFIG_FIELDS, "final_ln")},
        "steps_to_train": result.steps_to_train, "steps_to_test": result.steps_to_test,
        "steps_to_test_99": result.steps_to_test_99, "steps_to_ring_rqi": result.steps_to_rqi,
        "phase": result.phase, **judged.to_dict(), "steps_budget": args.steps, "diverged": result.diverged,
        "final_train_acc": float(result.train_acc[last]), "final_test_acc": float(result.test_acc[last]),
        "final_full_acc": result.final_full_acc, "final_train_loss": float(result.train_loss[last]),
        "final_test_loss": float(result.test_loss[last]),
        "ring_frequency": int(result.ring_frequency[last]), "ring_coherence": float(result.ring_coherence[last]),
        "ring_variance_explained": float(result.ring_variance[last]), "ring_rqi": float(result.rqi[last]),
        "random_ring_coherence": random_coherence, "random_ring_coherence_sd": random_sd,
        "random_ring_draws": RANDOM_RING_DRAWS,
        **(circle or {}),
        "curve": {"steps": result.steps, "train_acc": result.train_acc, "test_acc": result.test_acc,
                  "train_loss": result.train_loss, "test_loss": result.test_loss,
                  "ring_frequency": result.ring_frequency, "ring_variance_explained": result.ring_variance,
                  "ring_coherence": result.ring_coherence, "ring_rqi": result.rqi},
        "steps": result.steps_run, "eval_every": eval_every, "seconds": result.seconds, "threads": result.threads,
        "steps_per_second": result.steps_run / result.seconds if result.seconds > 0 else None,
    }
    if save_path is not None:
        save_arrays(save_path, dict(
            train=split.train, steps=result.steps, train_loss=result.train_loss, test_loss=result.test_loss,
            train_acc=result.train_acc, test_acc=result.test_acc, ring_rqi=result.rqi,
            ring_frequency=result.ring_frequency, ring_coherence=result.ring_coherence,
            ring_variance=result.ring_variance, embeddings=result.raw_embeddings, theta_final=result.theta_final,
        ), compressed=True)
    if plot_path is not None:
        from efftheory.plotting.transformer import plot_transformer_training

        save_figure(plot_transformer_training(result), plot_path)
    return out, _text(out, save_path, plot_path)


def _curve_rows(o) -> list[str]:
    """About ten evaluated steps, log-spaced, with accuracy and the ring fit."""
    c = o["curve"]
    s = np.asarray(c["steps"])
    picks = np.unique(np.searchsorted(s, np.unique(np.geomspace(1, max(s[-1], 1), 9).astype(int))).clip(0, s.size - 1))
    picks = np.unique(np.concatenate([[0], picks, [s.size - 1]]))
    rows = [f"  {'step':>7} {'train acc':>10} {'test acc':>9} {'ring f':>7} {'var 2 PCs':>10} {'coherence':>10} "
            f"{'circle RQI':>11}"]
    for i in picks:
        rows.append(f"  {s[i]:>7} {c['train_acc'][i]:>10.3f} {c['test_acc'][i]:>9.3f} {c['ring_frequency'][i]:>7} "
                    f"{c['ring_variance_explained'][i]:>10.3f} {c['ring_coherence'][i]:>10.3f} {c['ring_rqi'][i]:>11.3f}")
    return rows


def _text(o, save_path, plot_path) -> str:
    c = o["config"]
    lines = [
        f"Transformer on addition mod p = {o['p']} (ordered pairs): {o['n_train']} of "
        f"{plural(o['n_samples'], 'sample')} in training (frac {o['frac']:.3f}, split seed {o['split_seed']}); seed {o['seed']}",
        f"  d = {c['dim']}, {plural(c['layers'], 'block')}, FF width {c['width']}, "
        f"{'final LayerNorm' if c['final_ln'] else 'no final LayerNorm'}, lr {c['embed_lr']:g} / {c['decoder_lr']:g}, "
        f"wd {c['embed_wd']:g} / {c['decoder_wd']:g} (embeddings / decoder), "
        f"{'dropout ' + format(c['dropout'], 'g') + ', ' if c['dropout'] else ''}{c['dtype']}",
        "",
        *_curve_rows(o),
        "  (ring f, var 2 PCs, coherence: PCA ring fit of the token-standardised embeddings; circle RQI of its phases)",
        f"  (random embeddings of this shape, which hold no ring, fit coherence {o['random_ring_coherence']:.3f} "
        f"± {o['random_ring_coherence_sd']:.3f}, mean ± sd of {o['random_ring_draws']} draws: near it means no ring)",
        "",
    ]
    if o["diverged"]:
        lines.append(f"DIVERGED at step {o['steps']}: the loss or a parameter left the floating-point range")
    lines += [
        f"steps to train acc >= 0.9: {steps_text(o['steps_to_train'])}; to test acc >= 0.9: "
        f"{steps_text(o['steps_to_test'])}; to test acc >= 0.99: {steps_text(o['steps_to_test_99'])}  -> {verdict_text(o)}",
        *verdict_reason(o),
        f"steps to circle RQI >= 0.95 of the fitted ring: {steps_text(o['steps_to_ring_rqi'])}",
        f"final: train acc {o['final_train_acc']:.3f}, test acc {o['final_test_acc']:.3f}, ring frequency "
        f"{o['ring_frequency']} (coherence {o['ring_coherence']:.3f}, {o['ring_variance_explained']:.0%} of the variance "
        f"in the plane)",
    ]
    if "circle_frequency" in o:
        lands = "yes" if o["network_lands_on_circle_frequency"] else "no"
        lines += [
            f"circle theory from the initial embeddings' phases (best frequency {o['circle_initial_frequency']} at "
            f"step 0), run for {o['circle_steps']} steps of its own gradient descent on ℓ_circ: {o['circle_outcome']} "
            f"at frequency {o['circle_frequency']} (coherence {o['circle_coherence']:.3f})",
            f"network after its {o['steps']} training steps: |f| = {abs(o['ring_frequency'])}; the same frequency as "
            f"the circle theory's: {lands}",
        ]
    lines += run_footer(o, save_path, plot_path)
    return "\n".join(lines)


REPORTS = {"circle": Report(run=_run, check=_check)}
