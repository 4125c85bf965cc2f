"""Write docs/cli.md, the command-line reference, from the parsers themselves.

    python docs/make_cli_reference.py          # rewrite docs/cli.md
    python docs/make_cli_reference.py --check  # exit 1 if docs/cli.md is not what the parsers say

The page is every command's ``--help`` (sub-commands included) at a fixed width, so it cannot
drift from the code: ``tests/test_docs.py`` fails when the committed page differs.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

PAGE = Path(__file__).resolve().parent / "cli.md"
WIDTH = "100"  # argparse reads $COLUMNS; fixed so the page is the same on every terminal

HEADER = """\
# Command-line reference

Generated from the parsers by `python docs/make_cli_reference.py`; do not edit by hand. For a
guided tour with pictures see [guide.md](guide.md).

Every command takes `--json` (one JSON object on stdout, nothing else) and otherwise prints a
readable summary. Bad input exits with status 2 and one line on stderr naming the value. Numbers
may be written `1e5` or `-1e-3`; integer options take any whole number (`--steps 1e5`).
"""


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:  # argparse keeps sub-parsers only here
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _sections(parser: argparse.ArgumentParser, name: str) -> list[str]:
    out = [f"## `{name}`\n\n```text\n{parser.format_help().rstrip()}\n```\n"]
    for sub_name, sub in _subcommands(parser).items():
        out += _sections(sub, f"{name} {sub_name}")
    return out


def render() -> str:
    """Every command's help; ``train`` once per registered model (its options depend on it)."""
    os.environ["COLUMNS"] = WIDTH
    from efftheory.cli import build_parser
    from efftheory.models import MODELS

    out = []
    for section in _sections(build_parser(), "efftheory"):
        if not section.startswith("## `efftheory train`"):
            out.append(section)
            continue
        for model in MODELS:
            train = _subcommands(build_parser(["train", "--model", model]))["train"]
            out += _sections(train, f"efftheory train {model}")
    return HEADER + "\n" + "\n".join(out)


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if PAGE.read_text() != text:
            print(f"{PAGE} is stale: run python docs/make_cli_reference.py", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(text)
    print(f"wrote {PAGE}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
