"""A model's options on the command line, built from what the model declares
(:attr:`efftheory.models.Model.options`): every option of a config field defaults to None, and the
config is the model's default for the task with the options given put over it."""

from __future__ import annotations

import argparse
import math

from efftheory.cli._common import _real, nonnegative_float, nonnegative_int, positive_float, positive_int


def rate(text: str) -> float:
    """A number in [0, 1) (a dropout rate)."""
    value = _real(text)
    if value is None or not math.isfinite(value) or not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be a rate in [0, 1), got {text!r}")
    return value


#: how an :class:`efftheory.models.Option` of each kind is read
KINDS = {"int": positive_int, "float": positive_float, "int0": nonnegative_int, "float0": nonnegative_float,
         "rate": rate}


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _default_text(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def add_model_options(group, model, defaults) -> None:
    """One ``--NAME`` per option of ``model`` (default None: not given); the help shows the value
    of ``defaults`` (the config used when the option is left out)."""
    for option in model.options:
        default = f" (default {_default_text(getattr(defaults, option.name))})"
        if option.kind == "choice":
            group.add_argument(flag(option.name), dest=option.name, choices=option.choices, default=None,
                               help=option.help + default)
        elif option.kind == "bool":  # --NAME / --no-NAME
            group.add_argument(flag(option.name), dest=option.name, action=argparse.BooleanOptionalAction,
                               default=None, help=option.help + default)
        else:
            group.add_argument(flag(option.name), dest=option.name, type=KINDS[option.kind], default=None,
                               help=option.help + default)


def given_options(args, model) -> dict:
    """``{field: value}`` of the model's options given on the command line."""
    return {o.name: getattr(args, o.name) for o in model.options if getattr(args, o.name, None) is not None}


def model_from_argv(argv) -> str:
    """The model ``--model NAME`` (or ``--model=NAME``) names in ``argv``; ``toy`` without one (or
    with a name that is not a model: the parser then refuses it)."""
    from efftheory.models import MODELS

    argv = list(argv or [])
    for k, arg in enumerate(argv):
        value = arg.split("=", 1)[1] if arg.startswith("--model=") else (
            argv[k + 1] if arg == "--model" and k + 1 < len(argv) else None)
        if value in MODELS:
            return value
    return "toy"


def foreign_option(option: str) -> str | None:
    """"--layers is an option of --model transformer" when ``option`` belongs to another model's
    ``train`` options; None when no model has it."""
    from efftheory.cli.train import model_cli
    from efftheory.models import MODELS

    owners = [m.name for m in MODELS.values()
              if option in {flag(o.name) for o in m.options} | set(getattr(model_cli(m.name), "EXTRA_OPTIONS", ()))]
    if not owners:
        return None
    return (f"{option} is an option of " + " and ".join(f"--model {m}" for m in owners)
            + f" (see efftheory train {owners[0]} --help)")
