"""Finite groups given by their multiplication tables (:class:`FiniteGroup`), the symmetric
groups S_n and their permutation matrices; ``s3`` (S3: 6 elements, ordered pairs) is registered."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import ClassVar

import numpy as np

from efftheory.errors import InputError, require
from efftheory.tasks.base import Task, as_int
from efftheory.tasks.registry import register_task


@dataclass(frozen=True)
class FiniteGroup(Task):
    """A finite group given by its multiplication (Cayley) table; samples are all ordered pairs.

    ``table[a][b]`` is the index of ``a ∘ b``; the symbols ``0..p-1`` are the group's elements
    (p = the group's order) and the label of sample (a, b) is ``a ∘ b``, so there are p labels.
    The table must be a group: closed, associative, with an identity and inverses (checked).

    Only the constant vector satisfies every additive parallelogram of the full table: if
    ``x_a + x_b`` depends only on ``a ∘ b`` then ``y = x - x_e`` is a homomorphism into (R, +),
    which is zero on a finite group. So ``structural_nullity = 1``, as for modular addition.

    Attributes:
        table: (p, p) nested tuple of ints, the multiplication table.
        title: a short name for messages (``S3``, ...).
    """

    name: ClassVar[str] = "group"
    structural_nullity: ClassVar[int] = 1
    theory: ClassVar[str] = "group"

    table: tuple
    title: str = "finite group"
    p: int = field(init=False)
    ordered: bool = field(init=False, default=True)

    def __post_init__(self) -> None:
        try:
            t = np.array(self.table)
        except ValueError:
            raise InputError("the group table must be square") from None
        require(t.ndim == 2 and t.shape[0] == t.shape[1] and t.shape[0] >= 1, "the group table must be square")
        require(t.dtype.kind in "iu", f"group table entries must be integers, got dtype {t.dtype}")
        p = int(t.shape[0])
        require(bool(np.all((t >= 0) & (t < p))), f"group table entries must lie in [0, {p})")
        object.__setattr__(self, "table", tuple(tuple(int(x) for x in row) for row in t))
        object.__setattr__(self, "p", p)
        _check_group(t)

    def _result(self, a, b):
        return self.cayley[a, b]

    @cached_property
    def cayley(self) -> np.ndarray:
        """(p, p) int64 read-only multiplication table."""
        out = np.array(self.table, dtype=np.int64)
        out.setflags(write=False)
        return out

    @property
    def n_classes(self) -> int:
        return self.p

    @property
    def identity(self) -> int:
        """The identity element e (e ∘ a = a for every a)."""
        return int(np.flatnonzero(np.all(self.cayley == np.arange(self.p), axis=1))[0])

    @cached_property
    def inverse(self) -> np.ndarray:
        """(p,) int64: ``inverse[a] ∘ a = e``."""
        return np.argmax(self.cayley == self.identity, axis=0).astype(np.int64)

    def structural_null_vectors(self) -> np.ndarray:
        return np.ones((self.p, 1))

    def describe(self) -> str:
        return f"the group {self.title} (order {self.p}, ordered pairs)"


def _check_group(t: np.ndarray) -> None:
    """Refuse a table that is not a group (Latin square, associative, with an identity)."""
    p = t.shape[0]
    rows = np.all(np.sort(t, axis=1) == np.arange(p), axis=1)
    cols = np.all(np.sort(t, axis=0) == np.arange(p)[:, None], axis=0)
    require(bool(rows.all() and cols.all()), "the group table is not a Latin square (no inverses)")
    # (a ∘ b) ∘ c == a ∘ (b ∘ c) for every triple, as (p, p, p) arrays
    left = t[t[:, :, None], np.arange(p)[None, None, :]]
    right = t[np.arange(p)[:, None, None], t[None, :, :]]
    require(bool(np.array_equal(left, right)), "the group table is not associative")
    has_identity = np.all(t == np.arange(p), axis=1) & np.all(t == np.arange(p)[:, None], axis=0)
    require(bool(has_identity.any()), "the group table has no identity")


def permutations_of(n: int) -> np.ndarray:
    """(n!, n) int64: every permutation of ``0..n-1`` in lexicographic order (row 0 = identity)."""
    return np.array(list(itertools.permutations(range(n))), dtype=np.int64)


def symmetric_group(n: int) -> FiniteGroup:
    """S_n: permutations of ``0..n-1`` in lexicographic order (element 0 is the identity), with
    ``(a ∘ b)(i) = a(b(i))`` (apply b, then a). Its permutation matrices
    :func:`permutation_matrices` multiply like the group: ``P_a P_b = P_{a∘b}``."""
    n = as_int(n, "n", 1)
    require(n <= 5, f"S_n is built for n <= 5 (order {math.factorial(5)}), got n={n}")
    perms = permutations_of(n)
    index = {tuple(row): i for i, row in enumerate(perms.tolist())}
    table = [[index[tuple(a[b])] for b in perms] for a in perms]
    return FiniteGroup(tuple(map(tuple, table)), title=f"S{n}")


def permutation_matrices(n: int) -> np.ndarray:
    """(n!, n, n) float64: ``P_a[i, j] = 1`` iff ``a(j) = i``, so ``P_a P_b = P_{a∘b}`` for the
    elements of :func:`symmetric_group` (same order)."""
    perms = permutations_of(n)
    out = np.zeros((len(perms), n, n))
    for k, a in enumerate(perms):
        out[k, a, np.arange(n)] = 1.0
    return out


register_task("s3", lambda p, ordered: symmetric_group(3),
              "the symmetric group on 3 letters (6 symbols, ordered pairs, --p not needed)", fixed_p=6)
