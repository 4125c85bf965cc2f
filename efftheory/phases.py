"""Learning phases of a training run (design §7).

From ``t_train``, the first step at which train accuracy reaches 0.9, ``t_test`` the same for
test accuracy (``None`` = never within the budget) and a gap ``G`` in steps:

- comprehension: both reached and ``t_test - t_train <= G`` (negative gaps included);
- grokking: both reached and ``t_test - t_train > G``;
- memorization: train reached, test never;
- confusion: train never reached (whatever test did).
"""

from __future__ import annotations

PHASES = ("comprehension", "grokking", "memorization", "confusion", "diverged")


def phase_of(t_train: int | None, t_test: int | None, gap: float = 1e3) -> str:
    """The phase of a run; every input falls in exactly one of :data:`PHASES`."""
    if t_train is None:
        return "confusion"
    if t_test is None:
        return "memorization"
    return "comprehension" if t_test - t_train <= gap else "grokking"
