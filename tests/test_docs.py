"""The docs cannot drift from the code: the CLI reference is what the parsers say, every command
the README and the guide show parses, and the library page's code runs."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", ROOT / "docs" / "guide.md"]


def shown_commands(page: Path) -> list[str]:
    """Every `efftheory ...` command in the page's code blocks and inline code (continuations joined)."""
    text = page.read_text().replace("\\\n", " ")
    blocks = re.findall(r"```(?:bash|console)?\n(.*?)```", text, re.S)
    lines = [line.strip() for block in blocks for line in block.splitlines()]
    lines += [c for c in re.findall(r"`(efftheory [^`]+)`", text) if " --" in c]  # not bare names in headings
    commands = []
    for line in lines:
        line = line.split("  #")[0].strip()
        for part in re.split(r"&&|;", line):
            part = part.strip()
            if part.startswith("efftheory "):
                commands.append(part)
    return commands


def test_the_cli_reference_is_what_the_parsers_say():
    done = subprocess.run([sys.executable, str(ROOT / "docs" / "make_cli_reference.py"), "--check"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_command_the_page_shows_parses(page, monkeypatch):
    from efftheory.cli import parse_args

    commands = shown_commands(page)
    assert len(commands) >= 4, f"{page.name}: expected the page to show commands"
    for command in commands:
        argv = shlex.split(command)[1:]
        if "--help" in argv or "--version" in argv or any(a.isupper() for a in argv):
            continue  # help, or a template such as `efftheory train MODEL --help`
        try:
            parse_args(argv)
        except SystemExit as err:  # argparse's way of refusing
            pytest.fail(f"{page.name}: {command!r} does not parse (exit {err.code})")


@pytest.mark.slow
def test_the_library_page_runs():
    page = (ROOT / "docs" / "library.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", page, re.S)
    assert len(blocks) >= 2
    for block in blocks:
        exec(compile(block, "docs/library.md", "exec"), {})


def _all_parsers(parser):
    import argparse

    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _all_parsers(sub)


def test_help_texts_carry_no_docstring_markup():
    from efftheory.cli import build_parser

    for parser in _all_parsers(build_parser()):
        text = parser.format_help()
        assert "``" not in text and ":func:" not in text and ":mod:" not in text, parser.prog


@pytest.mark.slow
def test_the_readmes_first_example_groks_as_it_says():
    """The README's first example, run as printed: it groks, and its step counts are the ones the
    README quotes (within 10%: float32 sums differ in the last bits on other CPUs)."""
    import json

    command = next(c for c in shown_commands(ROOT / "README.md") if c.startswith("efftheory train toy"))
    argv = [a for a in shlex.split(command)[1:] if not a.endswith(".png") and a != "--plot"]
    done = subprocess.run([sys.executable, "-m", "efftheory", *argv, "--json"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    run = json.loads(done.stdout)
    assert run["phase"] == "grokking" and run["decided"]
    assert run["dof"] == 0 and run["ideal_test_accuracy"] == 1.0
    for key, quoted in (("steps_to_train", 1347), ("steps_to_test", 8603), ("steps_to_rqi", 678)):
        assert abs(run[key] - quoted) <= 0.1 * quoted, (key, run[key])
    assert run["steps_to_rqi"] < run["steps_to_train"] < run["steps_to_test"]
