"""``efftheory <command> [options]``.

Each command lives in its own module with ``add_arguments`` and ``run``; this module builds
the parser, dispatches, prints, and turns bad input into one line on stderr and exit 2.
"""

from __future__ import annotations

import errno
import importlib
import os
import sys

from efftheory import __version__
from efftheory.cli._common import Parser, UI, add_json_flag, dumps
from efftheory.errors import InputError

# command name -> (module, one-line help)
COMMANDS = {
    "critical": ("efftheory.cli.critical", "probability of a unique linear structure against training-set size"),
    "simulate": ("efftheory.cli.simulate", "effective-theory dynamics of a split: RQI, predicted accuracy, time scale"),
    "train": ("efftheory.cli.train", "train a model (toy, transformer) on one split, beside the theory of that split"),
    "compare": ("efftheory.cli.compare", "networks over a grid of splits against the theory's predictions"),
    "phase": ("efftheory.cli.phase", "phase diagram (comprehension/grokking/memorization/confusion) over two hyper-parameters"),
    "analyse": ("efftheory.cli.analyse", "the theory applied to a network's embeddings from any framework (.npy/.npz/.pt)"),
}


def normalise_argv(argv: list[str]) -> list[str]:
    """``train MODEL ...`` is ``train --model MODEL ...`` (a model's name as the first word after
    the command; every other spelling is left as it is)."""
    from efftheory.models import MODELS

    if len(argv) >= 2 and argv[0] == "train" and argv[1] in MODELS:
        return ["train", "--model", argv[1], *argv[2:]]
    return list(argv)


def build_parser(argv: list[str] | None = None) -> Parser:
    """The parser of ``efftheory``; ``argv`` (normalised) tells a command whose options depend on
    a choice (``train --model``) which options to offer."""
    parser = Parser(
        prog="efftheory",
        description="The effective theory of representation learning behind grokking (Liu et al. 2022).",
    )
    parser.add_argument("--version", action="version", version=f"efftheory {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="<command>", parser_class=Parser)
    sub.required = True
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        cmd = sub.add_parser(name, help=help_text, description=(module.__doc__ or help_text).strip())
        if getattr(module, "OPTIONS_DEPEND_ON_ARGV", False):
            module.add_arguments(cmd, argv)
        else:
            module.add_arguments(cmd)
        add_json_flag(cmd)
        cmd.set_defaults(_module=module)
    return parser


def parse_args(argv: list[str] | None = None):
    """The namespace of ``efftheory ARGV`` (``sys.argv[1:]`` by default); parsing only."""
    argv = normalise_argv(sys.argv[1:] if argv is None else [str(a) for a in argv])
    return build_parser(argv).parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    ui = UI(json_mode=args.json)
    try:
        result, text = args._module.run(args, ui)
    except InputError as err:
        sys.stderr.write(f"efftheory {args.command}: error: {err}\n")
        return 2
    except MemoryError as err:  # e.g. a step budget whose records cannot be allocated
        sys.stderr.write(f"efftheory {args.command}: error: not enough memory ({err or 'MemoryError'})\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write(f"efftheory {args.command}: interrupted\n")
        return 130
    return _print(args.command, (dumps(result) if args.json else text.rstrip("\n")) + "\n")


def _print(command: str, text: str) -> int:
    """Write the result on stdout: 0, or 2 with one line on stderr if stdout is closed or
    cannot take it (a full device); a reader that went away (a closed pipe) is not an error."""
    try:
        if sys.stdout is None:  # started with stdout closed (>&-)
            raise OSError(errno.EBADF, "standard output is closed")
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        _discard_stdout()
    except OSError as err:
        sys.stderr.write(f"efftheory {command}: error: could not write the result to standard output "
                         f"({err.strerror or err})\n")
        _discard_stdout()
        return 2
    return 0


def _discard_stdout() -> None:
    """Point stdout at /dev/null, so that the flush at exit does not fail a second time."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
    except OSError:
        pass
