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


@pytest.mark.parametrize("model, said", [
    ("toy", "N = p(p+1)/2 unordered pairs for --task add or modadd; N = 36 ordered pairs for --task s3"),
    ("transformer", "N = p^2 ordered pairs for --task modadd"),
])
def test_train_frac_help_gives_each_models_sample_count(model, said):
    from efftheory.cli import main

    text = " ".join(_help(lambda argv: main(["train", model, *argv])).split())
    assert said in text


@pytest.mark.parametrize("model", ["toy", "transformer"])
def test_the_sample_counts_in_the_help_are_the_tasks_own(model):
    """The help's N is read off the task the model builds (its order, or its size): check the
    formula it prints against the task's sample count at several p."""
    from efftheory.cli.train import samples_text
    from efftheory.models import MODELS
    from efftheory.tasks import TASKS

    m = MODELS[model]
    text = samples_text(m)
    formulas = {"N = p(p+1)/2": lambda p: p * (p + 1) // 2, "N = p^2": lambda p: p * p}
    for name in m.tasks:
        fixed = TASKS[name].fixed_p
        for p in ([fixed] if fixed else [3, 7, 10]):
            task = m.make_task(name, p)
            said = next(part for part in text.split("; ") if name in part.split("--task ")[1].split(" or "))
            if fixed:
                assert f"N = {task.n_samples} " in said
            else:
                formula = next(f for f in formulas if said.startswith(f))
                assert formulas[formula](p) == task.n_samples, (name, p, said)


def test_the_transformer_implies_modadd(cli_json):
    o = cli_json("train", "--model", "transformer", "--p", 7, "--frac", 0.8, "--dim", 8, "--width", 8,
                 "--steps", 20, "--eval-every", 10)
    assert o["task"] == "modadd" and o["n_samples"] == 49  # ordered pairs: p^2


def test_each_model_defaults_to_its_first_task():
    assert parse("train", "--p", 5, "--frac", 0.8).task == "add"  # the toy
    assert parse("train", "--model", "transformer", "--p", 5, "--frac", 0.8).task == "modadd"
