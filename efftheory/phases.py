"""Learning phases of a training run (docs/theory.md §10).

From ``t_train``, the first step at which train accuracy reaches :data:`ACC_THRESHOLD` (0.9),
``t_test`` the same for test accuracy (``None`` = never within the budget) and a gap ``G`` in
steps (:data:`DEFAULT_GAP`, 1000):

- comprehension: both reached and ``t_test - t_train <= G`` (negative gaps included);
- grokking: both reached and ``t_test - t_train > G``;
- memorization: train reached, test never;
- confusion: train never reached (whatever test did);
- diverged: the parameters or the loss became non-finite (the run stopped there), whatever
  was reached before.

A single run's budget may end it before it has settled: :func:`verdict` says when memorization or
confusion was not decided within the budget (the accuracy still rising or swinging at the end, or
the theory predicting the structure later), keeping the rule's phase, which is what a sweep records.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PHASES = ("comprehension", "grokking", "memorization", "confusion", "diverged")
#: accuracy at which train (test) accuracy counts as reached
ACC_THRESHOLD = 0.9
#: default grokking gap G in steps
DEFAULT_GAP = 1e3


def phase_of(t_train: int | None, t_test: int | None, gap: float = DEFAULT_GAP, diverged: bool = False) -> str:
    """The phase of a run; every input falls in exactly one of :data:`PHASES`."""
    if diverged:
        return "diverged"
    if t_train is None:
        return "confusion"
    if t_test is None:
        return "memorization"
    return "comprehension" if t_test - t_train <= gap else "grokking"


# ------------------------------------------------------------ a single run's verdict at its budget

#: the last part of a run (as a fraction of its evaluated steps) over which an accuracy "still rises"
RISE_WINDOW = 0.25
#: gain in accuracy over that last part above which it "still rises"
RISE_MIN = 0.05
#: range of an accuracy within that last part above which it has "not settled"
SWING_MAX = 0.1


def late_gain(steps: np.ndarray, acc: np.ndarray, window: float = RISE_WINDOW) -> float:
    """How much an accuracy curve gained over the last ``window`` of the run.

    With the evaluated steps spanning [s0, sT] and w = window (sT - s0): the mean of ``acc`` over
    the steps in (sT - w/2, sT] minus its mean over (sT - 3w/2, sT - w]. The two windows are w/2
    wide (averaging out a noisy evaluation) and their centres are w apart, so a curve rising
    linearly at slope a per step gains a·w exactly. A window with no evaluated step takes the
    step nearest its centre. NaN when ``acc`` is NaN (no test set) or the run has fewer than two
    evaluated steps.

    steps: (T,) increasing evaluated steps; acc: (T,) accuracies at those steps.
    """
    steps, acc = np.asarray(steps, dtype=float), np.asarray(acc, dtype=float)
    if steps.size < 2 or not np.all(np.isfinite(acc)):
        return float("nan")
    w = window * (steps[-1] - steps[0])
    end, start = steps[-1], steps[-1] - w

    def mean_over(lo: float, hi: float) -> float:
        inside = (steps > lo) & (steps <= hi)
        if not inside.any():
            return float(acc[np.argmin(np.abs(steps - (lo + hi) / 2))])
        return float(acc[inside].mean())

    return mean_over(end - w / 2, end) - mean_over(start - w / 2, start)


def late_swing(steps: np.ndarray, acc: np.ndarray, window: float = RISE_WINDOW) -> float:
    """Range (max - min) of an accuracy curve over the evaluated steps in the last ``window`` of
    the run, [sT - window (sT - s0), sT]. NaN as for :func:`late_gain`."""
    steps, acc = np.asarray(steps, dtype=float), np.asarray(acc, dtype=float)
    if steps.size < 2 or not np.all(np.isfinite(acc)):
        return float("nan")
    last = acc[steps >= steps[-1] - window * (steps[-1] - steps[0])]
    return float(last.max() - last.min())


@dataclass(frozen=True)
class Verdict:
    """What one run's budget decided.

    Attributes:
        phase: the rule's phase (:func:`phase_of`), what a sweep records for this run.
        decided: False when the run ended in memorization or confusion while it may still be on
            its way: the accuracy that did not reach :data:`ACC_THRESHOLD` (test accuracy for
            memorization, train accuracy for confusion) gained more than :data:`RISE_MIN` over the
            last :data:`RISE_WINDOW` of the run (:func:`late_gain`: still rising), or moved by more
            than :data:`SWING_MAX` within it (:func:`late_swing`: not settled, e.g. after a loss
            spike), or the theory predicts the structure later than the budget. Comprehension,
            grokking and divergence are decided.
        reason: why the budget did not decide (None when decided).
        gain, swing: :func:`late_gain` and :func:`late_swing` of that accuracy (NaN when the phase
            was decided by a threshold or a divergence, or there is no test set).
        curve: "test accuracy" or "train accuracy": the curve ``gain`` belongs to (None when decided
            by a threshold or by divergence).
        budget: the steps the run was given.
    """

    phase: str
    decided: bool
    reason: str | None
    gain: float
    swing: float
    curve: str | None
    budget: int

    def to_dict(self) -> dict:
        """JSON fields (``phase`` is written by the caller): decided, undecided_reason, and the
        last quarter's late_gain and late_swing of the accuracy named by late_curve."""
        def number(x: float) -> float | None:
            return None if np.isnan(x) else x

        return {"decided": self.decided, "undecided_reason": self.reason, "late_gain": number(self.gain),
                "late_swing": number(self.swing), "late_curve": self.curve}


def verdict(phase: str, steps: np.ndarray, train_acc: np.ndarray, test_acc: np.ndarray, budget: int,
            theory_steps: dict[str, float | None] | None = None) -> Verdict:
    """The :class:`Verdict` of a run whose rule gave ``phase`` after ``budget`` steps.

    ``theory_steps`` maps a description of a theory's prediction (e.g. "gradient flow on the
    effective loss from the network's E0") to the step at which it predicts the structure (RQI
    >= 0.95; None when it predicts none within its horizon). A run without a test set (test
    accuracy NaN) is decided: nothing could be seen to generalise however long it ran.
    """
    nan = float("nan")
    if phase not in ("memorization", "confusion") or not np.all(np.isfinite(test_acc)):
        return Verdict(phase, True, None, nan, nan, None, int(budget))
    curve, acc = ("test accuracy", test_acc) if phase == "memorization" else ("train accuracy", train_acc)
    gain, swing = late_gain(steps, acc), late_swing(steps, acc)
    reasons = []
    if gain > RISE_MIN:
        reasons.append(f"{curve} still rising (+{gain:.2f} over the last quarter of the run)")
    elif swing > SWING_MAX:
        last = np.asarray(acc)[np.asarray(steps) >= steps[-1] - RISE_WINDOW * (steps[-1] - steps[0])]
        reasons.append(f"{curve} not settled (between {last.min():.3f} and {last.max():.3f} in the last quarter "
                       "of the run)")
    for label, t in (theory_steps or {}).items():
        if t is not None and t > budget:
            reasons.append(f"the theory ({label}) predicts the structure at step {t:.4g}, after the budget")
    return Verdict(phase, not reasons, "; ".join(reasons) or None, gain, swing, curve, int(budget))
