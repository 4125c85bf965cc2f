"""The 1s-and-0s task: n-bit strings labelled by the parity of k fixed bits (``parity``).

A sample is a string x in {0, 1}^n (n = ``n_bits``, 30 by default); its label is the parity of
its first k bits, (x_0 + ... + x_{k-1}) mod 2 (k = 3 by default). The 2^n strings are never
enumerated: the task holds a *pool* of ``pool`` distinct strings drawn uniformly with
``numpy.random.default_rng(pool_seed)`` (integers below 2^n, duplicates dropped, drawn again
until the pool is full), and a :class:`~efftheory.tasks.Split` draws its training set from the
pool as for every task (``split(n_train=..., seed=...)``); the test set is the rest of the pool.

This is not an operation table: there are no pairs and no parallelograms, and no theory of
efftheory describes its embeddings (``theory = "none"``). A model reads a sample as the list of
the positions of its ones (:meth:`ParityTask.token_lists`), the bag of tokens whose embeddings
the embedding MLP sums: ReLU(sum_{i: x_i = 1} E_i) W_out is the one-layer MLP on the bits.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar

import numpy as np

from efftheory.errors import require
from efftheory.tasks.base import Task, as_int
from efftheory.tasks.registry import register_task

#: pool of strings the splits draw from, by default
DEFAULT_POOL = 10_000


@dataclass(frozen=True)
class ParityTask(Task):
    """Parity of the first ``k`` of ``n_bits`` bits over a seeded pool of ``pool`` distinct strings."""

    name: ClassVar[str] = "parity"
    theory: ClassVar[str] = "none"

    n_bits: int = 30
    k: int = 3
    pool: int = DEFAULT_POOL
    pool_seed: int = 0
    ordered: bool = False  # the Task interface's field; bit strings have no pair order

    def __post_init__(self) -> None:
        n = as_int(self.n_bits, "n_bits", 1)
        require(n <= 62, f"n_bits must be at most 62 (strings are int64), got {n}")
        as_int(self.k, "k", 1)
        require(self.k <= n, f"k must be at most n_bits = {n}, got {self.k}")
        as_int(self.pool, "pool", 2)
        require(self.pool <= 2**n, f"the pool cannot exceed the 2^{n} strings, got {self.pool}")
        as_int(self.pool_seed, "pool_seed", 0)

    @property
    def p(self) -> int:
        """The number of tokens (bit positions): what a model embeds."""
        return self.n_bits

    @property
    def n_tokens(self) -> int:
        return self.n_bits

    @property
    def n_classes(self) -> int:
        return 2

    @property
    def n_samples(self) -> int:
        return self.pool

    @cached_property
    def strings(self) -> np.ndarray:
        """(pool,) int64 distinct strings (bit i of the integer is x_i), in the order drawn."""
        rng = np.random.default_rng(self.pool_seed)
        seen: dict[int, None] = {}
        while len(seen) < self.pool:
            for x in rng.integers(0, 2**self.n_bits, size=self.pool - len(seen), dtype=np.int64).tolist():
                seen.setdefault(x)
        out = np.fromiter(seen, dtype=np.int64, count=self.pool)
        out.setflags(write=False)
        return out

    def bits(self, samples=None) -> np.ndarray:
        """(n, n_bits) uint8 bits of the samples (default: the whole pool)."""
        s = self.strings if samples is None else self.strings[np.asarray(samples, dtype=np.int64)]
        return ((s[:, None] >> np.arange(self.n_bits)) & 1).astype(np.uint8)

    @cached_property
    def labels(self) -> np.ndarray:
        mask = (1 << self.k) - 1
        out = np.array([bin(int(x) & mask).count("1") % 2 for x in self.strings], dtype=np.int64)
        out.setflags(write=False)
        return out

    @property
    def pairs(self) -> np.ndarray:
        require(False, "the parity task has bit strings, not pairs of symbols")

    def token_lists(self, samples) -> tuple[np.ndarray, np.ndarray]:
        """The samples as token lists (CSR): (ptr (n+1,), idx (nnz,)) int64, the positions of the
        ones of each string, ascending."""
        bits = self.bits(samples)
        counts = bits.sum(axis=1).astype(np.int64)
        ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        idx = np.nonzero(bits)[1].astype(np.int64)  # row-major: each row's positions in order
        return ptr, idx

    def describe(self) -> str:
        return f"parity of {self.k} of {self.n_bits} bits ({self.pool} strings)"


def _build(p: int | None, ordered: bool) -> ParityTask:
    """The registered task: p bits (30 by default), a pool of 10 000 strings or all 2^p if fewer."""
    n = 30 if p is None else as_int(p, "p", 1)
    require(n <= 62, f"the parity task has at most 62 bits, got p={n}")
    return ParityTask(n_bits=n, pool=min(DEFAULT_POOL, 2**n))


register_task("parity", _build, "the parity of the first 3 of p bits (p = 30: the 1s-and-0s task), over a seeded "
              "pool of 10 000 strings", kind="bits")
