"""Help texts a user reads without the code: whole sentences, no markup, the right sample count,
and --model transformer implies the only task it trains."""

from __future__ import annotations

import io
from contextlib import redirect_stdout

import pytest

from tests.conftest import parse


def _help(main) -> str:
    out = io.StringIO()
    with redirect_stdout(out), pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    return out.getvalue()


@pytest.mark.parametrize("module", ["theories.group.survey", "theories.circle.survey"])
def test_survey_help_is_whole_sentences_without_markup(module):
    import importlib

    text = _help(importlib.import_module(f"efftheory.{module}").main)
    description = text.split("\n\n")[1]
    assert ":func:" not in text and "``" not in text
    assert description.rstrip().endswith("."), description  # not cut mid-sentence
    assert "examples:" in text and f"python -m efftheory.{module} --" in text
    # the options say what they are
    flat = " ".join(text.split())
    for said in ("random starts per fraction (default 200)", "seed of the training sets",
                 "descent steps per trial before it counts as not at rest"):
        assert said in flat, said


def test_train_frac_help_gives_both_sample_counts():
    from efftheory.cli import main

    text = " ".join(_help(lambda argv: main(["train", *argv])).split())
    assert "N = p(p+1)/2 unordered pairs" in text and "N = p^2 ordered pairs for --model transformer" in text


def test_the_transformer_implies_modadd(cli_json):
    o = cli_json("train", "--model", "transformer", "--p", 7, "--frac", 0.8, "--dim", 8, "--width", 8,
                 "--steps", 20, "--eval-every", 10)
    assert o["task"] == "modadd" and o["n_samples"] == 49  # ordered pairs: p^2


def test_the_toy_still_defaults_to_addition():
    from efftheory.cli import train

    args = parse("train", "--p", 5, "--frac", 0.8)
    assert args.task is None  # resolved by the command: add for the toy
    assert train.task_defaults("add") is not None
