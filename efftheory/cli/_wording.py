"""Wording shared by the commands' readable summaries: plurals, step counts, chance levels,
the note that the ideal accuracy is not an upper bound, and how a time-rescaling fit reads.

Pure functions of numbers (and of a split, for the chance level); nothing here prints.
"""

from __future__ import annotations

import numpy as np

from efftheory.theories.linear.dynamics import LOSS_ROUND_OFF


def plural(n: int, word: str, many: str | None = None) -> str:
    """"1 network", "2 networks" (``many`` for irregular plurals)."""
    return f"{n} {word if n == 1 else (many or word + 's')}"


def steps(x: float | None, none: str = "never") -> str:
    """A number of steps with four significant digits ("1663", "0.01663", "4.6e+04"); ``none`` for None."""
    return none if x is None else f"{x:.4g}"


def loss_value(value: float, start: float) -> tuple[str, bool]:
    """(text, rounded): ``value`` with 4 significant digits, or "0" when |value| is below
    :data:`LOSS_ROUND_OFF` times |start| (then ``rounded`` is True; ℓ_eff >= 0 exactly, so a
    tiny negative value is floating-point round-off)."""
    if abs(value) < LOSS_ROUND_OFF * max(abs(start), np.finfo(float).tiny):
        return "0", True
    return f"{value:.4g}", False


def chance_test_accuracy(split) -> float | None:
    """Accuracy of always answering the most common test label (sum): the frequency of that sum
    in the test set, None without a test set. A uniform guess among the 2p - 1 sums scores
    1 / (2p - 1), never more than this."""
    labels = split.test_labels  # any table: the labels (the sums for addition); images: the digits
    if labels.size == 0:
        return None
    return float(np.bincount(labels).max() / labels.size)


def uniform_guess(p: int) -> str:
    """"uniform guess 1/19 = 0.0526": the accuracy of a random answer among the 2p - 1 sums."""
    return f"uniform guess 1/{2 * p - 1} = {1 / (2 * p - 1):.4f}"


def chance_text(chance: float | None, p: int) -> str:
    """"chance 0.0667 = always the most common test sum; uniform guess 1/19 = 0.0526"."""
    if chance is None:
        return "no test set, so no chance level"
    return f"chance {chance:.4f} = always the most common test sum; {uniform_guess(p)}"


def ideal_note(indent: str = "") -> list[str]:
    """Two note lines, for when an accuracy beats the split's ideal accuracy."""
    return [f"{indent}note: the ideal accuracy counts the test samples implied by the training set's "
            "parallelograms; it is not an upper bound:",
            f"{indent}an under-determined representation can form extra near-parallelograms by accident, "
            "and a network can hit test labels by chance."]


def exceeds(value: float | None, ideal: float | None, tol: float = 1e-9) -> bool:
    """Whether ``value`` lies above the ideal accuracy (both known)."""
    return value is not None and ideal is not None and not np.isnan(value) and value > ideal + tol


def fit_text(scale: float, fit_at_bound: str | None, scales) -> str:
    """How a time-rescaling fit (theory time = s x network step) reads: "s = 0.25", or, when the
    best s sits at the edge of the grid ``scales``, which way no rescaling tried is enough: "no
    fit: even slowed down 100 times (s = 0.01, the smallest rescaling tried), the theory moves
    ahead of the network" (:func:`fit_note` says what that means for the embeddings)."""
    if fit_at_bound is None:
        return f"s = {scale:.3g}"
    lo, hi = float(np.min(scales)), float(np.max(scales))
    if fit_at_bound == "lower":
        return (f"no fit: even slowed down {1 / lo:g} times (s = {lo:g}, the smallest rescaling tried), "
                "the theory moves ahead of the network")
    return f"no fit: even sped up {hi:g} times (s = {hi:g}, the largest rescaling tried), the theory lags the network"


def fit_note(fit_at_bound: str, scales) -> str:
    """What a fit stuck at the ``"lower"`` or ``"upper"`` edge of the scale grid means."""
    lo, hi = float(np.min(scales)), float(np.max(scales))
    if fit_at_bound == "lower":
        return (f"(slowest rescaling: the network stays closer to the theory's start E0 than to any later "
                f"point of the theory's path; a fit would need s < {lo:g})")
    return (f"(fastest rescaling: the network is closest to the latest theory state computed; a fit would need "
            f"s > {hi:g})")


def verdict_text(o: dict) -> str:
    """"phase: grokking", or, for a run its budget did not decide (``o["decided"]`` false),
    "phase: not decided within 5000 steps (by the sweep's rule, which stops at the budget:
    memorization)"."""
    if o.get("decided", True):
        return f"phase: {o['phase']}"
    return (f"phase: not decided within {o['steps_budget']:.0f} steps (by the sweep's rule, which stops at the "
            f"budget: {o['phase']})")


def verdict_reason(o: dict, indent: str = "  ") -> list[str]:
    """The line that says why the budget did not decide (none when it did)."""
    if o.get("decided", True):
        return []
    return [f"{indent}not decided because: {o['undecided_reason']}; run longer (--steps) to decide"]


def run_time(o: dict) -> str:
    """"10000 steps in 2.19 s on 1 thread (4564 steps/s)" from a report's ``steps``, ``seconds``,
    ``threads`` and, if there, ``steps_per_second``."""
    rate = o.get("steps_per_second")
    return (f"{plural(o['steps'], 'step')} in {o['seconds']:.2f} s on {plural(o['threads'], 'thread')}"
            + (f" ({rate:.0f} steps/s)" if rate else ""))


def run_footer(o: dict, save_path=None, plot_path=None) -> list[str]:
    """The last lines of a train report: :func:`run_time`, then where the arrays and the plot
    went (if they were asked for)."""
    return [run_time(o)] + ([f"arrays saved to {save_path}"] if save_path else []) \
        + ([f"plot written to {plot_path}"] if plot_path else [])

