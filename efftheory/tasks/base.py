"""Tasks as operation tables, and their training splits (docs/theory.md §1–§2).

A task is a binary operation on the symbols ``0..p-1``: every sample ``(a, b)`` has a result
``r(a, b)``, its label. Samples are the unordered pairs ``a <= b`` (commutative tasks, as in the
paper's toy model) or all ordered pairs. Everything downstream (parallelograms, the Hessian,
RQI, ideal and predicted accuracy, the critical size, networks) is defined by the pairs and
their labels, so one abstraction serves every task; a new operation is one small class.

A *parallelogram* is a pair of distinct samples with equal results whose constraint vector
``a_q = e_a + e_b - e_c - e_d`` is not zero (ordered samples ``(a, b)`` and ``(b, a)`` of a
commutative task carry no constraint and are not counted).

Tasks (each in its own module, registered under its ``--task`` name, :mod:`efftheory.tasks.registry`):
- :class:`Addition` (``add``): integer sum ``a + b``, unordered pairs, ``2p - 1`` labels: the
  paper's toy, with ``N = p (p + 1) / 2`` samples.
- :class:`ModularAddition` (``modadd``): ``(a + b) mod p``, ``p`` labels; unordered pairs by
  default (the toy network's decoder input ``E_a + E_b`` is symmetric, so ordered pairs would
  only repeat every sample), ordered pairs with ``ordered=True`` (the transformer's setting).
- :class:`FiniteGroup` (``s3`` = :func:`symmetric_group` (3)): any finite group given by its
  multiplication table, ordered pairs ``(a, b)`` labelled ``a ∘ b``.

A :class:`Split` draws the training set uniformly without replacement with
``numpy.random.default_rng(seed)``; the test set is the rest.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from functools import cached_property
from typing import ClassVar

import numpy as np

from efftheory.errors import InputError, require


def as_int(value, name: str, low: int | None = None) -> int:
    """``value`` as an int (whole-valued floats such as ``1e5`` accepted); InputError otherwise."""
    if isinstance(value, bool):
        raise InputError(f"{name} must be an integer, got {value!r}")
    if isinstance(value, numbers.Integral):
        out = int(value)
    elif isinstance(value, numbers.Real) and math.isfinite(value) and float(value).is_integer():
        out = int(value)
    else:
        raise InputError(f"{name} must be an integer, got {value!r}")
    if low is not None and out < low:
        raise InputError(f"{name} must be >= {low}, got {out}")
    return out


@dataclass(frozen=True)
class Classes:
    """Samples grouped by label (compressed rows): the class-sum view of a sample set.

    Attributes:
        members: (n,) int64 sample indices, grouped by label, ascending within each group.
        ptr: (n_classes + 1,) int64; the samples of label c are ``members[ptr[c]:ptr[c+1]]``.
    """

    members: np.ndarray
    ptr: np.ndarray

    @classmethod
    def of(cls, samples: np.ndarray, labels: np.ndarray, n_classes: int) -> "Classes":
        samples = np.asarray(samples, dtype=np.int64)
        lab = labels[samples]
        order = np.argsort(lab, kind="stable")
        counts = np.bincount(lab, minlength=n_classes)
        ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return cls(np.ascontiguousarray(samples[order]), ptr)

    @property
    def sizes(self) -> np.ndarray:
        """(n_classes,) int64 number of samples of each label."""
        return np.diff(self.ptr)

    def pairs_of(self, task) -> np.ndarray:
        """(n, 2) int64 symbols of the members, in class order (contiguous, for the kernels)."""
        return np.ascontiguousarray(task.pairs[self.members])


class Task:
    """A binary operation on ``p`` symbols given by its table (subclasses define ``_result``).

    Attributes (computed once, read-only):
        pairs: (N, 2) int64 samples (a, b), lexicographic; a <= b unless ``ordered``.
        labels: (N,) int64 results r(a, b) in ``0..n_classes-1``.
    """

    #: short name used on the command line (``--task``)
    name: ClassVar[str] = ""
    #: the number of directions every zero of the linear parallelogram loss has, whatever the
    #: data (vectors that satisfy every parallelogram of the full table)
    structural_nullity: ClassVar[int] = 0
    #: the name of the theory of this task's structure (:func:`efftheory.theories.theory_for`):
    #: ``linear`` (additive embeddings), ``circle`` (a ring), ``group`` (matrix representations)
    theory: ClassVar[str] = "linear"

    p: int
    ordered: bool

    def _result(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    @property
    def n_classes(self) -> int:  # pragma: no cover
        raise NotImplementedError

    def structural_null_vectors(self) -> np.ndarray:  # pragma: no cover
        """(p, structural_nullity) vectors in the null space of H for every training set."""
        raise NotImplementedError

    @cached_property
    def pairs(self) -> np.ndarray:
        if self.ordered:
            a, b = np.divmod(np.arange(self.p * self.p), self.p)
        else:
            a, b = np.triu_indices(self.p)
        out = np.stack([a, b], axis=1).astype(np.int64)
        out.setflags(write=False)
        return out

    @cached_property
    def labels(self) -> np.ndarray:
        out = np.asarray(self._result(self.pairs[:, 0], self.pairs[:, 1]), dtype=np.int64)
        out.setflags(write=False)
        return out

    @property
    def n_samples(self) -> int:
        """N: p (p + 1) / 2 unordered or p² ordered samples."""
        return self.p * self.p if self.ordered else self.p * (self.p + 1) // 2

    def classes(self, samples=None) -> Classes:
        """The samples (default: the whole table) grouped by label."""
        samples = np.arange(self.n_samples) if samples is None else samples
        return Classes.of(samples, self.labels, self.n_classes)

    def n_train_for(self, frac=None, n_train=None) -> int:
        """Training-set size from exactly one of ``frac`` (round(frac * N)) or ``n_train``."""
        require((frac is None) != (n_train is None), "give exactly one of frac or n_train")
        N = self.n_samples
        if frac is not None:
            ok = isinstance(frac, numbers.Real) and not isinstance(frac, bool)
            require(ok and 0.0 < float(frac) <= 1.0, f"frac must be in (0, 1], got {frac!r}")
            n_train = round(float(frac) * N)
            require(n_train >= 1, f"frac={frac!r} gives no training sample at p={self.p} (N={N})")
            return n_train
        n_train = as_int(n_train, "n_train")
        require(1 <= n_train <= N, f"n_train must be in [1, {N}] at p={self.p}, got {n_train}")
        return n_train

    def split(self, *, frac=None, n_train=None, seed: int = 0) -> "Split":
        """Draw a training set of ``round(frac * N)`` or ``n_train`` samples."""
        n = self.n_train_for(frac, n_train)
        seed = as_int(seed, "seed", 0)
        rng = np.random.default_rng(seed)
        train = np.sort(rng.choice(self.n_samples, size=n, replace=False)).astype(np.int64)
        return Split.from_indices(self, train, seed=seed)

    def describe(self) -> str:
        """A short human description, e.g. ``addition on p = 10 symbols``."""
        return f"{self.name} on p = {self.p} symbols"


def check_p(task) -> None:
    p = as_int(task.p, "p")
    require(p >= 2, f"p must be >= 2, got {p}")
    object.__setattr__(task, "p", p)
    require(isinstance(task.ordered, bool), f"ordered must be True or False, got {task.ordered!r}")


@dataclass(frozen=True)
class Split:
    """A training set D and its test set D0 \\ D.

    Attributes:
        task: the :class:`Task`.
        train: (n_train,) int64, sorted indices into ``task.pairs``.
        test: (N - n_train,) int64, sorted indices of the other samples.
        seed: the seed that drew it (None for a hand-made split).
    """

    task: Task
    train: np.ndarray = field(repr=False)
    test: np.ndarray = field(repr=False)
    seed: int | None = None

    @classmethod
    def from_indices(cls, task: Task, train, seed: int | None = None) -> "Split":
        """Split with the given training indices (whole numbers, any order, repeats merged)."""
        require(isinstance(task, Task), f"task must be a Task, got {type(task).__name__}")
        raw = np.asarray(train).ravel()
        require(raw.size >= 1, "the training set is empty")
        require(raw.dtype.kind in "iuf" and bool(np.all(np.isfinite(raw))),
                f"training indices must be whole numbers, got dtype {raw.dtype}")
        fractional = raw[raw != np.round(raw)]
        require(fractional.size == 0, f"training indices must be whole numbers, got {fractional[:1].tolist()}")
        train = raw.astype(np.int64)
        N = task.n_samples
        bad = train[(train < 0) | (train >= N)]
        require(bad.size == 0, f"training indices must lie in [0, {N}), got {bad[:1].tolist()}")
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
    def n_test(self) -> int:
        return int(self.test.size)

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

    @cached_property
    def train_classes(self) -> Classes:
        """The training samples grouped by label."""
        return self.task.classes(self.train)
