"""``efftheory <command> [options]``.

Each command lives in its own module with ``add_arguments`` and ``run``; this module builds
the parser, dispatches, prints, and turns bad input into one line on stderr and exit 2.
"""

from __future__ import annotations

import importlib
import sys

from efftheory import __version__
from efftheory.cli._common import Parser, UI, add_json_flag, dumps
from efftheory.errors import InputError

# command name -> (module, one-line help)
COMMANDS = {
    "critical": ("efftheory.cli.critical", "probability of a unique linear structure against training-set size"),
    "simulate": ("efftheory.cli.simulate", "effective-theory dynamics of a split: RQI, predicted accuracy, time scale"),
    "train": ("efftheory.cli.train", "train the toy network on one split, beside the theory of that split"),
    "compare": ("efftheory.cli.compare", "networks over a grid of splits against the theory's predictions"),
    "phase": ("efftheory.cli.phase", "phase diagram (comprehension/grokking/memorization/confusion) over two hyper-parameters"),
}


def build_parser() -> Parser:
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
        module.add_arguments(cmd)
        add_json_flag(cmd)
        cmd.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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
    try:
        sys.stdout.write((dumps(result) if args.json else text.rstrip("\n")) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        pass
    return 0
