"""The addition task of the paper's toy model (design §2).

``Addition(p)`` has symbols ``0..p-1``. Its full data set D0 holds the unordered pairs
``(i, j)`` with ``i <= j``, ``N = p (p + 1) / 2`` samples in lexicographic order, labelled by
the integer sum ``i + j`` (``2p - 1`` classes; not modular). A :class:`Split` draws the
training set uniformly without replacement with ``numpy.random.default_rng(seed)``; the test
set is the rest.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from efftheory.errors import InputError, require


def _as_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InputError(f"{name} must be an integer, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class Addition:
    """Addition of two symbols out of ``p``.

    Attributes (computed once):
        pairs: (N, 2) int64, the samples ``(i, j)`` with ``i <= j``, lexicographic.
        sums: (N,) int64, the labels ``i + j`` in ``0..2p-2``.
    """

    p: int

    def __post_init__(self) -> None:
        p = _as_int(self.p, "p")
        require(p >= 2, f"p must be >= 2, got {p}")
        object.__setattr__(self, "p", p)

    @property
    def n_samples(self) -> int:
        """N = p (p + 1) / 2."""
        return self.p * (self.p + 1) // 2

    @property
    def n_classes(self) -> int:
        """2p - 1 possible sums."""
        return 2 * self.p - 1

    @cached_property
    def pairs(self) -> np.ndarray:
        i, j = np.triu_indices(self.p)
        out = np.stack([i, j], axis=1).astype(np.int64)
        out.setflags(write=False)
        return out

    @cached_property
    def sums(self) -> np.ndarray:
        out = self.pairs.sum(axis=1)
        out.setflags(write=False)
        return out

    def n_train_for(self, frac=None, n_train=None) -> int:
        """Training-set size from exactly one of ``frac`` (round(frac * N)) or ``n_train``."""
        require((frac is None) != (n_train is None), "give exactly one of frac or n_train")
        N = self.n_samples
        if frac is not None:
            require(
                isinstance(frac, numbers.Real) and 0.0 < float(frac) <= 1.0,
                f"frac must be in (0, 1], got {frac!r}",
            )
            n_train = round(float(frac) * N)
            require(n_train >= 1, f"frac={frac!r} gives no training sample at p={self.p} (N={N})")
            return n_train
        n_train = _as_int(n_train, "n_train")
        require(1 <= n_train <= N, f"n_train must be in [1, {N}] at p={self.p}, got {n_train}")
        return n_train

    def split(self, *, frac=None, n_train=None, seed: int = 0) -> "Split":
        """Draw a training set of ``round(frac * N)`` or ``n_train`` samples."""
        n = self.n_train_for(frac, n_train)
        seed = _as_int(seed, "seed")
        require(seed >= 0, f"seed must be >= 0, got {seed}")
        rng = np.random.default_rng(seed)
        train = np.sort(rng.choice(self.n_samples, size=n, replace=False)).astype(np.int64)
        return Split.from_indices(self, train, seed=seed)


@dataclass(frozen=True)
class Split:
    """A training set D and its test set D0 \\ D.

    Attributes:
        task: the :class:`Addition` task.
        train: (n_train,) int64, sorted indices into ``task.pairs``.
        test: (N - n_train,) int64, sorted indices of the other samples.
        seed: the seed that drew it (None for a hand-made split).
    """

    task: Addition
    train: np.ndarray = field(repr=False)
    test: np.ndarray = field(repr=False)
    seed: int | None = None

    @classmethod
    def from_indices(cls, task: Addition, train, seed: int | None = None) -> "Split":
        """Split with the given training indices (any order, no repeats)."""
        train = np.asarray(train, dtype=np.int64).ravel()
        N = task.n_samples
        require(train.size >= 1, "the training set is empty")
        require(
            bool(np.all((train >= 0) & (train < N))), f"training indices must lie in [0, {N})"
        )
        train = np.unique(train)
        mask = np.ones(N, dtype=bool)
        mask[train] = False
        test = np.flatnonzero(mask).astype(np.int64)
        train.setflags(write=False)
        test.setflags(write=False)
        return cls(task=task, train=train, test=test, seed=seed)

    @property
    def p(self) -> int:
        return self.task.p

    @property
    def n_train(self) -> int:
        return int(self.train.size)

    @property
    def frac(self) -> float:
        return self.n_train / self.task.n_samples

    @property
    def train_pairs(self) -> np.ndarray:
        """(n_train, 2) int64 samples of the training set."""
        return self.task.pairs[self.train]

    @property
    def test_pairs(self) -> np.ndarray:
        """(n_test, 2) int64 samples of the test set."""
        return self.task.pairs[self.test]
