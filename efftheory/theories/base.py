"""What every theory of a task offers, and the registry that picks the theory of a task.

A *theory* of a task says, for a training split, which structure the training set fixes and how
an effective dynamics finds it (docs/theory.md). Each theory implements :class:`Theory`:

- :meth:`Theory.structure`: the split's :class:`Structure` (constraints held by the training
  set, free directions, rate, ideal test accuracy, uniqueness) before any dynamics;
- :meth:`Theory.critical`: the critical-size curve, the probability that a random training set
  of each size fixes the structure (:class:`~efftheory.theories.linear.critical.CriticalCurve`);
- :meth:`Theory.score`: the structure metric of a representation (RQI, circle RQI, matrix RQI)
  and the test accuracy it predicts, as a :class:`Score`;
- :meth:`Theory.simulate`: the effective dynamics of the split from random starts;
- :meth:`Theory.track`: the structure of a stack of embeddings (T records of one network's
  representation over training steps), its metric, predicted accuracy and the theory's own
  columns, as a :class:`~efftheory.theories.track.StructureTrack` (``efftheory analyse``);
- :meth:`Theory.time_scale`: the steps at a learning rate in which the theory expects the
  structure to form, from the split's :class:`Structure` and the first record.

Theories register under a name (:func:`register_theory`); a task names its theory
(:attr:`efftheory.tasks.Task.theory`), and :func:`theory_for` looks it up, so no caller
branches on task names.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from typing import ClassVar

import numpy as np

from efftheory.errors import require
from efftheory.theories.track import StructureTrack, full_accuracy, read_tokens, vector_stack


@dataclass(frozen=True)
class Structure:
    """What a theory says about one training split before any dynamics.

    Attributes:
        theory: the theory's name (``linear``, ``circle``, ``group``).
        n_constraints: constraints the training set holds: parallelograms |P0(D)| (linear,
            circle) or pairs of samples with equal products (group).
        dof: free directions the training set leaves at the structure (0: fixed), or None when
            the theory has no such count (group).
        rate: the slowest non-zero relaxation rate of the linearised flow (λ3 for addition, the
            ring's rate for addition mod p); 0.0 when dof > 0; None when there is none.
        ideal_test_accuracy: share of the test set the structure implies (None without a test
            set, or when the theory does not say).
        unique: whether the training set fixes the structure (dof = 0), None when unknown.
    """

    theory: str
    n_constraints: int
    dof: int | None
    rate: float | None
    ideal_test_accuracy: float | None
    unique: bool | None

    def to_json(self) -> dict:
        """The fields as a JSON-ready dict (plain ints, floats, bools, None)."""
        return asdict(self)


@dataclass(frozen=True)
class Score:
    """The structure metric of representations and the test accuracy it predicts.

    Attributes:
        metric: the metric's name (``RQI``, ``circle RQI``, ``matrix RQI``).
        value: (...) float64, the metric of each representation (leading axes of the input),
            in [0, 1]; NaN where a representation cannot be read (e.g. no ring plane).
        predicted_test_accuracy: (...) float64 predicted test accuracy, NaN where the theory
            predicts none (the circle theory) or without a test set.
    """

    metric: str
    value: np.ndarray
    predicted_test_accuracy: np.ndarray


class Theory(ABC):
    """The interface of a theory (module docstring). Subclasses set :attr:`name` and
    :attr:`metric` and implement the four methods."""

    #: the registry name, also what a task's ``theory`` attribute says
    name: ClassVar[str]
    #: the name of its structure metric
    metric: ClassVar[str]
    #: the metric at and above which the structure counts as formed
    threshold: ClassVar[float] = 0.95
    #: what :attr:`Structure.rate` is (``λ3``, ``λ_min``), None for a theory without a rate
    rate_name: ClassVar[str | None] = None

    @abstractmethod
    def structure(self, split) -> Structure:
        """The :class:`Structure` of ``split``."""

    def critical(self, task, trials: int = 2000, seed: int = 0, progress=None):
        """P(the training set fixes the structure) against training-set size, from ``trials``
        random orders of the task's samples: the rank criterion of the linearised constraints,
        shared by every theory here (docs/theory.md §6)."""
        from efftheory.theories.linear.critical import critical_curve

        return critical_curve(task, trials, seed, progress)

    @abstractmethod
    def score(self, embeddings, split) -> Score:
        """The structure metric of ``embeddings`` (..., p, d) on ``split``'s task, and the test
        accuracy it predicts on ``split``."""

    @abstractmethod
    def simulate(self, split, *, trials: int = 8, seed: int = 0, steps: int | None = None,
                 n_times: int = 200, progress=None, **options):
        """The effective dynamics of ``split`` from ``trials`` random starts (seeded by
        ``seed``) for ``steps`` steps (the theory's default when None), recorded at about
        ``n_times`` times; ``options`` are the theory's own (see the concrete class)."""


    def track(self, embeddings, split, reading: str = "raw") -> StructureTrack:
        """The structure of every record of ``embeddings`` ((p, d) or a stack (T, p, d)) on
        ``split``, each read as the network reads it (``reading``, :data:`~efftheory.theories.
        track.READINGS`): :meth:`score` per record, and no columns of the theory's own. Refuses
        other shapes, a row count other than p and non-finite records (one line each)."""
        stack = read_tokens(vector_stack(embeddings, split.p), reading)
        score = self.score(stack, split)
        test = np.asarray(score.predicted_test_accuracy, dtype=np.float64)
        return StructureTrack(theory=self.name, metric_name=self.metric, threshold=self.threshold,
                              metric=np.asarray(score.value, dtype=np.float64), predicted_test_acc=test,
                              predicted_full_acc=full_accuracy(test, split))

    def time_scale(self, structure: Structure, embeddings, lr: float) -> float | None:
        """Steps at learning rate ``lr`` in which the theory expects the structure of a split
        with ``structure`` to form, for a network whose first record is ``embeddings[0]``;
        None when the theory has no such scale (the default)."""
        return None


#: name -> the registered :class:`Theory`, in registration order.
THEORIES: dict[str, Theory] = {}


def register_theory(theory: Theory) -> Theory:
    """Register ``theory`` under its :attr:`~Theory.name` (once) and return it."""
    require(isinstance(theory, Theory), f"a theory must be a Theory, got {type(theory).__name__}")
    require(theory.name not in THEORIES, f"a theory called {theory.name!r} is already registered")
    THEORIES[theory.name] = theory
    return theory


def theory_for(task) -> Theory:
    """The theory of ``task`` (a :class:`~efftheory.tasks.Task`): the one its ``theory`` names."""
    name = getattr(task, "theory", None)
    require(name in THEORIES, f"no theory registered for {getattr(task, 'name', task)!r} (theory {name!r})")
    return THEORIES[name]
