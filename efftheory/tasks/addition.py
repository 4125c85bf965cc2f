"""Addition of two symbols out of ``p``: the integer sum (the paper's toy, ``add``) and the sum
mod ``p`` (``modadd``), registered under those names."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from efftheory.tasks.base import Task, check_p
from efftheory.tasks.registry import register_task


@dataclass(frozen=True)
class Addition(Task):
    """Integer addition ``a + b`` of two symbols out of ``p`` (labels ``0..2p-2``, not modular).

    The vectors ``1`` and ``(0, 1, ..., p-1)`` satisfy every parallelogram (translation and
    scaling of the linear representation), so ``structural_nullity = 2``.
    """

    name: ClassVar[str] = "add"
    structural_nullity: ClassVar[int] = 2

    p: int
    ordered: bool = False

    def __post_init__(self) -> None:
        check_p(self)

    def _result(self, a, b):
        return a + b

    @property
    def n_classes(self) -> int:
        """2p - 1 possible sums."""
        return 2 * self.p - 1

    @property
    def sums(self) -> np.ndarray:
        """The labels (integer sums ``a + b``)."""
        return self.labels

    def structural_null_vectors(self) -> np.ndarray:
        return np.stack([np.ones(self.p), np.arange(self.p, dtype=np.float64)], axis=1)

    def describe(self) -> str:
        return f"addition on p = {self.p} symbols"


@dataclass(frozen=True)
class ModularAddition(Task):
    """Modular addition ``(a + b) mod p`` (labels ``0..p-1``).

    Only the constant vector satisfies every modular parallelogram linearly (the full-table
    Hessian is ``c (I - 11ᵀ/p)``), so ``structural_nullity = 1``: linear embeddings cannot solve
    the task; its structure is a ring (docs/theory.md, the circle theory), whose linearisation
    has the same Hessian with the global rotation as the one free direction.
    """

    name: ClassVar[str] = "modadd"
    structural_nullity: ClassVar[int] = 1
    theory: ClassVar[str] = "circle"

    p: int
    ordered: bool = False

    def __post_init__(self) -> None:
        check_p(self)

    def _result(self, a, b):
        return (a + b) % self.p

    @property
    def n_classes(self) -> int:
        return self.p

    def structural_null_vectors(self) -> np.ndarray:
        return np.ones((self.p, 1))

    def describe(self) -> str:
        order = "ordered" if self.ordered else "unordered"
        return f"addition mod p = {self.p} ({order} pairs)"


register_task("add", lambda p, ordered: Addition(p, ordered=ordered),
              "integer addition (the paper's toy)")
register_task("modadd", lambda p, ordered: ModularAddition(p, ordered=ordered), "addition mod p")
