"""``efftheory train --model transformer --task modadd``: the paper's transformer (docs/theory.md §15).

Trains the transformer on the ordered pairs of addition mod p, reports the training curves, the
ring read off the token embeddings along the run, and what the circle theory (§13) predicts from
the network's own initial embeddings: the frequency of the ring a circle flow started from the
initial phases forms, beside the frequency the network ends on.

The ``train`` command shares its options with the toy network. Options whose default differs
between the two models (sizes, learning rates, weight decays, steps, evaluation interval) are
parsed with no default here; :func:`toy_args` puts the toy's defaults back for the toy, and
:class:`efftheory.models.transformer.kernels.TransformerConfig` supplies the transformer's.
"""

from __future__ import annotations

import numpy as np

from efftheory.cli._common import check_distinct_outputs, check_output_path, positive_int, save_arrays, save_figure
from efftheory.cli._wording import plural, steps as steps_text, verdict_reason, verdict_text
from efftheory.errors import InputError

MODELS = ("toy", "transformer")
#: transformer defaults of the shared options that are not config fields
STEPS, EVAL_EVERY = 8000, 20
#: the shared options whose defaults differ between the models (argparse dest names)
SHARED = ("dim", "width", "embed_lr", "decoder_lr", "embed_wd", "decoder_wd", "dtype", "steps", "eval_every")
#: toy-network options the transformer has no use for (refused with --model transformer)
TOY_ONLY = ("loss", "depth", "out_dim", "init_scale", "decoder_init_scale")
#: transformer config fields the options set (option --x-y is field x_y)
CONFIG_FIELDS = ("dim", "width", "layers", "embed_lr", "decoder_lr", "embed_wd", "decoder_wd", "dropout", "dtype")
#: steps of the circle flow started from the network's initial phases (gradient descent at
#: lr 1/λ_max, which never increases ℓ_circ)
CIRCLE_STEPS = 20000


def add_arguments(parser) -> None:
    """--model and the transformer's own options; call after the toy's options are added."""
    from efftheory.cli._common import add_task_arguments

    if "--task" not in parser._option_string_actions:  # the toy's options may already carry it
        add_task_arguments(parser)
    parser.add_argument("--model", choices=MODELS, default="toy",
                        help="toy: embeddings + MLP (default); transformer: the paper's transformer on --task "
                             f"modadd (ordered pairs; defaults d = 32, width 64, 1 layer, lr 1e-3 / 1e-3, wd 0 / 1, "
                             f"{STEPS} steps, evaluated every {EVAL_EVERY})")
    parser.add_argument("--layers", type=positive_int, default=None, help="transformer blocks (default 1)")
    parser.add_argument("--no-final-ln", action="store_true", help="transformer: no LayerNorm after the last block")
    parser.add_argument("--dropout", type=float, default=None, metavar="RATE",
                        help="transformer: rate of the dropout in the training passes, in [0, 1) (default 0; "
                             "--paper-size 0.05); the curves read the network without it")
    parser.add_argument("--paper-size", action="store_true",
                        help="transformer: the paper's Fig 1 sizes (d = 256, width 128, 2 layers, decoder lr 2e-4, "
                             "wd 1, dropout 0.05); other options override them")
    defaults = {k: parser.get_default(k) for k in SHARED + TOY_ONLY}
    parser.set_defaults(**{k: None for k in defaults}, _toy_defaults=defaults)


def toy_args(args):
    """``args`` with the toy's defaults restored for every shared option the user did not give;
    refuses the transformer-only options."""
    if args.layers is not None or args.no_final_ln or args.paper_size or args.dropout is not None:
        raise InputError("--layers, --no-final-ln, --dropout and --paper-size need --model transformer")
    for k, v in args._toy_defaults.items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    return args


def transformer_config(args):
    """The TransformerConfig of the options (paper sizes with --paper-size, else the defaults)."""
    import dataclasses

    from efftheory.models.transformer.kernels import TransformerConfig

    base = TransformerConfig.paper() if args.paper_size else TransformerConfig()
    given = {k: getattr(args, k) for k in CONFIG_FIELDS if getattr(args, k, None) is not None}
    return dataclasses.replace(base, **given, final_ln=not args.no_final_ln, seed=args.seed)


def _unordered(pairs: np.ndarray) -> np.ndarray:
    """The distinct unordered samples {a, b} of ordered pairs (the circle theory's samples)."""
    return np.unique(np.sort(pairs, axis=1), axis=0)


def circle_prediction(result, split) -> dict:
    """The circle theory from the network's initial embeddings: phases = the ring fit of the
    standardised E0; gradient descent on ℓ_circ over the training set's parallelograms; the
    frequency and outcome it ends on, beside the network's final ring."""
    from efftheory.theories.circle.flow import circle_flow, classify_outcome, ring_fit, ring_frequency
    from efftheory.models.transformer.kernels import standardise_tokens

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


def run(args, ui):
    from efftheory.cli._common import check_p
    from efftheory.models.phases import verdict
    from efftheory.tasks import ModularAddition
    from efftheory.models.transformer.kernels import RANDOM_RING_DRAWS, random_ring_coherence, train_transformer

    plot_path = check_output_path(args.plot, "--plot")
    save_path = check_output_path(args.save, "--save")
    check_distinct_outputs({"--plot": args.plot, "--save": args.save})
    if args.task != "modadd":
        raise InputError(f"--model transformer learns addition mod p only (--task modadd, implied), not --task {args.task}")
    check_p(args.p)
    if args.p < 3:
        raise InputError(f"--model transformer needs p >= 3 for a ring, got --p {args.p}")
    for name in TOY_ONLY:
        if getattr(args, name, None) is not None:
            raise InputError(f"--{name.replace('_', '-')} is a toy-network option; not used by --model transformer")
    task = ModularAddition(args.p, ordered=True)  # the paper's setting: (a, b) and (b, a) are two samples
    split = task.split(frac=args.frac, n_train=args.train_num,
                       seed=args.seed if args.split_seed is None else args.split_seed)
    config = transformer_config(args)
    n_steps = args.steps if args.steps is not None else STEPS
    eval_every = args.eval_every if args.eval_every is not None else EVAL_EVERY
    with ui.progress(n_steps, "training") as update:
        result = train_transformer(split, config, n_steps, eval_every=eval_every, gap=args.gap, progress=update)
    circle = None if result.diverged else circle_prediction(result, split)
    judged = verdict(result.phase, result.steps, result.train_acc, result.test_acc, n_steps)
    random_coherence, random_sd = random_ring_coherence(task.p, config.dim)
    last = -1
    out = {
        "model": "transformer", "task": "modadd", "ordered": True, "p": task.p, "n_samples": task.n_samples,
        "n_train": split.n_train, "frac": split.frac, "seed": args.seed, "split_seed": split.seed,
        "config": {k: getattr(config, k) for k in (*CONFIG_FIELDS, "final_ln")},
        "steps_to_train": result.steps_to_train, "steps_to_test": result.steps_to_test,
        "steps_to_test_99": result.steps_to_test_99, "steps_to_ring_rqi": result.steps_to_rqi,
        "phase": result.phase, **judged.to_dict(), "steps_budget": n_steps, "diverged": result.diverged,
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
        "steps": result.steps_run, "eval_every": eval_every, "seconds": result.seconds,
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
    lines.append(f"{plural(o['steps'], 'step')} in {o['seconds']:.1f} s"
                 + (f" ({o['steps_per_second']:.0f} steps/s)" if o["steps_per_second"] else ""))
    if save_path:
        lines.append(f"arrays saved to {save_path}")
    if plot_path:
        lines.append(f"plot written to {plot_path}")
    return "\n".join(lines)
