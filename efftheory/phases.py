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
"""

from __future__ import annotations

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
