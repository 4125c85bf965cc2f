"""Train a model on one split of a task and put its run beside the theory of that split.

``efftheory train [MODEL] [options]``: MODEL is one of the registered models (``--model`` below
lists them; ``toy``, the paper's toy network, by default); ``--model MODEL`` says the same. Each model
brings its own options (``efftheory train MODEL --help`` lists only those) and its tasks
(``--task``, default the model's first). The theory is the task's (efftheory.theories.theory_for).

Step t means the parameters after t updates; every metric at step t is measured on those
parameters, before the next update."""

from __future__ import annotations

import importlib

from efftheory.cli._common import (
    P_HELP,
    check_distinct_outputs,
    check_output_path,
    check_p,
    fraction,
    integer,
    nonnegative_float,
    nonnegative_int,
    positive_int,
    thread_count,
)
from efftheory.cli._model_options import add_model_options, model_from_argv
from efftheory.errors import InputError

#: the options offered depend on the model argv names (:func:`efftheory.cli.build_parser`)
OPTIONS_DEPEND_ON_ARGV = True

#: model name -> the module of its command-line pieces (extra options, config, reports by theory);
#: a model without one is trained and reported by the generic pieces of :mod:`efftheory.cli._train_generic`
MODEL_CLI = {"toy": "efftheory.cli._train_toy", "transformer": "efftheory.cli._train_transformer",
             "embed-mlp": "efftheory.cli._train_embed_mlp"}
GENERIC = "efftheory.cli._train_generic"


def model_cli(name: str):
    """The command-line module of model ``name`` (the generic one if it has none)."""
    return importlib.import_module(MODEL_CLI.get(name, GENERIC))


def add_arguments(parser, argv=None) -> None:
    """The options every model shares, then the options of the model ``argv`` names (toy by default)."""
    from efftheory.models import MODELS
    from efftheory.tasks import TASKS

    model = MODELS[model_from_argv(argv)]
    cli = model_cli(model.name)
    parser.add_argument("--model", choices=tuple(MODELS), default=model.name,
                        help="the model: " + "; ".join(f"{m.name}: {m.summary}" for m in MODELS.values())
                             + " (default toy; also `efftheory train MODEL`)")
    tasks = tuple(t for t in TASKS if t in model.tasks)
    parser.add_argument("--task", type=_task_name(model), metavar="{" + ",".join(tasks) + "}", default=model.default_task,
                        help=cli.TASK_HELP if hasattr(cli, "TASK_HELP") else
                        f"the task (default {model.default_task})")
    parser.add_argument("--p", type=integer, default=None,
                        help=P_HELP + " (required unless the task fixes it or has no symbols)")
    if any("data_dir" in TASKS[t].options for t in model.tasks):
        parser.add_argument("--data-dir", metavar="DIR", default=None,
                            help="directory of the task's data files (mnist: its four IDX files, gzipped or not)")
    size = parser.add_mutually_exclusive_group(required=True)
    size.add_argument("--frac", type=fraction, help=f"training fraction of the task's N samples ({samples_text(model)})")
    size.add_argument("--train-num", type=positive_int, help="number of training samples")
    parser.add_argument("--seed", type=nonnegative_int, default=0, help="seed of the split and the network (default 0)")
    parser.add_argument("--split-seed", type=nonnegative_int, default=None,
                        help="seed of the split only (default: --seed)")
    parser.add_argument("--steps", type=positive_int, default=model.default_steps,
                        help=f"training steps (default {model.default_steps})")
    parser.add_argument("--eval-every", type=positive_int, default=model.default_eval_every,
                        help=f"evaluate every k steps (default {model.default_eval_every})")
    parser.add_argument("--gap", type=nonnegative_float, default=1e3,
                        help="grokking gap G in steps for the phase (default 1000)")
    parser.add_argument("--threads", type=thread_count, default=None,
                        help="threads for the run's matrix products (default: by problem size: one below 1 GFLOP "
                             "per step, such as the toy and the default transformer, so that the run's numbers do "
                             "not depend on the machine's cores; every core the process may use from there on, such "
                             "as the transformer's --paper-size; docs/performance.md)")
    parser.add_argument("--plot", metavar="PNG", help="a figure of the run: its curves and, for a model with embeddings, "
                                                     "the structure metric and embedding trajectories")
    parser.add_argument("--save", metavar="NPZ", help="save the recorded arrays")
    group = parser.add_argument_group(f"options of the {model.name} model",
                                      f"(the other models: {', '.join(f'efftheory train {m} --help' for m in MODELS if m != model.name)})")
    add_model_options(group, model, model.default_config(model.default_task))
    cli.add_arguments(group)


def samples_text(model) -> str:
    """How many samples N each task of ``model`` has, as the model reads it: "N = p(p+1)/2
    unordered pairs for --task add or modadd; N = 36 ordered pairs for --task s3" (read off the
    task the model builds: its sample order, or its size when the task fixes p)."""
    from efftheory.tasks import TASKS

    counts: dict[str, list[str]] = {}
    for name in model.tasks:
        if TASKS[name].kind != "table":  # images: N is the task's pool of training images, no p
            counts.setdefault("N = the training images", []).append(name)
            continue
        fixed = TASKS[name].fixed_p
        task = model.make_task(name, fixed or 3)
        order = "ordered" if task.ordered else "unordered"
        if fixed is not None:
            count = f"N = {task.n_samples} {order} pairs"
        else:
            count = f"N = p^2 {order} pairs" if task.ordered else f"N = p(p+1)/2 {order} pairs"
        counts.setdefault(count, []).append(name)
    return "; ".join(f"{count} for --task {' or '.join(names)}" for count, names in counts.items())


def _task_name(model):
    """An argparse ``type``: a task ``model`` trains on; any other refused as "--model M trains
    on --task T (got --task X)" (the parser adds nothing to a type's message but the option)."""
    import argparse

    def task_name(text: str) -> str:
        from efftheory.tasks import TASKS

        if text not in TASKS:
            raise argparse.ArgumentTypeError(f"invalid choice: {text!r} (choose from {', '.join(model.tasks)})")
        if text not in model.tasks:
            raise argparse.ArgumentTypeError(_wrong_task(model, text))
        return text

    return task_name


def _wrong_task(model, name: str) -> str:
    return f"--model {model.name} trains on " + " or ".join(f"--task {t}" for t in model.tasks) + f" (got --task {name})"


def task_of(args, model):
    """The task of ``--task`` and ``--p`` as ``model`` reads it; refuses a task the model does
    not train on and a missing or fixed ``--p``."""
    from efftheory.tasks import TASKS

    if args.task not in model.tasks:
        raise InputError(_wrong_task(model, args.task))
    spec = TASKS[args.task]
    if not spec.takes_p:  # an image set: no symbols, built from its data options
        if args.p is not None:
            raise InputError(f"--task {args.task} is a set of images, not a table of symbols; --p does not apply")
        return model.make_task(args.task, None, **{name: getattr(args, name, None) for name in spec.options})
    fixed = spec.fixed_p
    if fixed is not None:
        if args.p is not None and args.p != fixed:
            raise InputError(f"--task {args.task} has {fixed} symbols; --p {args.p} does not apply (leave --p out)")
    elif args.p is None:
        raise InputError(f"--p is required for --task {args.task} (the number of symbols)")
    check_p(args.p)
    return model.make_task(args.task, args.p)


def run(args, ui):
    from efftheory.models import MODELS
    from efftheory.theories import theory_for

    model = MODELS[args.model]
    cli = model_cli(model.name)
    plot_path = check_output_path(args.plot, "--plot")
    save_path = check_output_path(args.save, "--save")
    check_distinct_outputs({"--plot": args.plot, "--save": args.save})
    task = task_of(args, model)
    theory = theory_for(task)  # None: no theory of the task's structure (the generic report says so)
    report = (cli.REPORTS.get(theory.name) if theory is not None else None) or _generic_report()
    report.check(args, task)
    split = task.split(frac=args.frac, n_train=args.train_num,
                       seed=args.seed if args.split_seed is None else args.split_seed)
    config = cli.config(args, model, args.task)
    report.check_config(args, config)
    with ui.progress(args.steps, "training") as update:
        result = model.train(split, config, args.steps, eval_every=args.eval_every, gap=args.gap, progress=update,
                             threads=args.threads, **cli.train_options(args))
    return report.run(args, split, config, result, plot_path, save_path)


def _generic_report():
    from efftheory.cli._train_generic import REPORTS

    return REPORTS["any"]
