"""What every model offers: one result type, one interface, a registry.

A *model* is a network trained on a task's split. Each model implements :class:`Model`: a
frozen config dataclass (:attr:`Model.config_type`), the tasks it trains on and its default task,
:meth:`Model.train` returning a :class:`TrainResult` (the same step counts, curves, phase and
embeddings for every model), the options a command line offers for it (:attr:`Model.options`,
declared as data so no model imports the command line), and its phase-sweep cell
(:attr:`Model.cell`: ``cell(settings, fixed) -> dict`` of :data:`CELL_KEYS` and ``phase``).

Models register under their name (:func:`register_model`); :data:`MODELS` is read by the
command line, the phase sweeps and the paper's reproduction scripts, so a new model is one new
package plus its registration.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from typing import Callable, ClassVar

import numpy as np

from efftheory.errors import require
from efftheory.phases import DEFAULT_GAP
from efftheory.tasks import Split

#: the keys every sweep cell returns (step counts are None when never reached), besides "phase"
CELL_KEYS = ("t_train", "t_test", "t_rqi", "steps_run", "final_train_acc", "final_test_acc", "final_rqi")


@dataclass(frozen=True)
class TrainResult:
    """One training run of any model: the same step counts, curves, phase and embeddings for
    every model (a model may add fields of its own in a subclass). T = number of recorded steps.

    Attributes:
        config: the model's config (:class:`~efftheory.models.toy.config.NetworkConfig`, ...).
        split: the training split.
        steps: (T,) int64 recorded steps (parameters after that many updates).
        train_loss, test_loss: (T,) mean loss over training / test samples (NaN without a test set);
            the head's loss only (an ``embed_l1`` penalty is not included).
        train_acc, test_acc: (T,) accuracies in [0, 1] (test NaN without a test set).
        rqi: (T,) representation quality index of the embeddings (docs/theory.md §7; for the
            matrix model the matrix RQI of :func:`efftheory.theories.linear.metrics.matrix_rqi`).
        predicted_test_acc: (T,) predicted test accuracy Âcc from the embeddings.
        embeddings: (T, p, d) float64 normalised embeddings at each recorded step (matrix model:
            the matrices divided by their global RMS, row-major, d = k²).
        E0, E_final: (p, d) raw embeddings at step 0 and at the last step run.
        steps_to_train, steps_to_test, steps_to_rqi: first step with train / test accuracy
            >= 0.9 or RQI >= 0.95 (checked at every step, recorded or not), None if never.
        phase: the phase (docs/theory.md §10) from steps_to_train, steps_to_test and ``gap``;
            "diverged" when the run stopped on a non-finite loss or parameter. Without a test
            set (all samples in training) test accuracy is NaN, steps_to_test None and the rule
            then says memorization (or confusion): nothing can be seen to generalise.
        steps_run: updates applied (smaller than requested when stopped at test or diverged).
        diverged: whether the run stopped because the loss or a parameter became non-finite
            (its last record is that step).
        seconds: wall time of the run.
        threads: the BLAS threads its matrix products ran on (efftheory.runtime.threads).
    """

    config: object
    steps: np.ndarray
    train_loss: np.ndarray
    test_loss: np.ndarray
    train_acc: np.ndarray
    test_acc: np.ndarray
    rqi: np.ndarray
    predicted_test_acc: np.ndarray
    embeddings: np.ndarray
    E0: np.ndarray
    E_final: np.ndarray
    steps_to_train: int | None
    steps_to_test: int | None
    steps_to_rqi: int | None
    phase: str
    steps_run: int
    seconds: float
    split: Split | None = field(default=None, repr=False)
    gap: float = DEFAULT_GAP
    diverged: bool = False
    threads: int = 1

    @property
    def final_full_acc(self) -> float:
        """Accuracy over the whole table D0 at the last recorded step."""
        s = self.split
        n_test = s.task.n_samples - s.n_train
        test = 0.0 if n_test == 0 else self.test_acc[-1] * n_test
        return float((self.train_acc[-1] * s.n_train + test) / s.task.n_samples)


    def extra_records(self) -> dict[str, np.ndarray]:
        """The (T,) series a model records beyond the common ones, by name (none by default; the
        Omnigrok MLP: ``weight_norm``). A report shows each one's first and last value and saves it."""
        return {}

    def cell_record(self) -> dict:
        """The sweep record of this run: the :data:`CELL_KEYS` and the phase."""
        return {
            "t_train": self.steps_to_train,
            "t_test": self.steps_to_test,
            "t_rqi": self.steps_to_rqi,
            "steps_run": int(self.steps_run),
            "final_train_acc": float(self.train_acc[-1]),
            "final_test_acc": float(self.test_acc[-1]),
            "final_rqi": float(self.rqi[-1]),
            "phase": self.phase,
        }


@dataclass(frozen=True)
class Option:
    """A config field a command line offers as ``--NAME`` (``name`` with ``-`` for ``_``).

    Attributes:
        name: the config field.
        kind: how the value is read: ``int`` (a positive whole number), ``float`` (positive),
            ``int0`` (a whole number >= 0), ``float0`` (>= 0), ``rate`` (in [0, 1)), ``bool``
            (``--NAME`` / ``--no-NAME``) or ``choice`` (one of ``choices``).
        help: one line; the default is appended by the command line.
        choices: the allowed values of a ``choice``.
    """

    name: str
    kind: str
    help: str
    choices: tuple = ()


class Model(ABC):
    """The interface of a model (module docstring). Subclasses set the class attributes and
    implement :meth:`train`."""

    #: registry name (``toy``, ``transformer``, ...)
    name: ClassVar[str]
    #: one line for a command's help
    summary: ClassVar[str]
    #: the frozen config dataclass; ``config_type()`` is the default config
    config_type: ClassVar[type]
    #: the task names (:data:`efftheory.tasks.TASKS`) it trains on; the first is its default
    tasks: ClassVar[tuple[str, ...]]
    #: default training budget and evaluation stride of a command
    default_steps: ClassVar[int] = 5000
    default_eval_every: ClassVar[int] = 1
    #: config fields a command line offers (:class:`Option`)
    options: ClassVar[tuple[Option, ...]] = ()
    #: the phase-sweep cell, ``cell(settings, fixed) -> dict`` (set by the model's module)
    cell: ClassVar[Callable | None] = None

    @property
    def default_task(self) -> str:
        return self.tasks[0]

    def make_task(self, name: str, p: int | None):
        """The task ``name`` on ``p`` symbols as this model reads it (its own sample order)."""
        from efftheory.tasks import make_task

        require(name in self.tasks, f"the {self.name} model trains on {', '.join(self.tasks)}, not {name!r}")
        return make_task(name, p)

    def default_config(self, task_name: str):
        """The config an unset option falls back to for ``task_name`` (default: the config's own)."""
        return self.config_type()

    def config(self, task_name: str, seed: int = 0, **given):
        """The default config of ``task_name`` with the ``given`` fields (None = not given) and ``seed``."""
        return replace(self.default_config(task_name), **{k: v for k, v in given.items() if v is not None},
                       seed=seed)

    def plot_run(self, result: TrainResult):
        """A matplotlib figure of one run (``efftheory train --plot``): curves, structure metric
        and embedding trajectories by default; a model without embeddings draws its own."""
        from efftheory.plotting.network import plot_training

        return plot_training(result, None)

    @abstractmethod
    def train(self, split: Split, config, steps: int, *, eval_every: int = 1, gap: float = DEFAULT_GAP,
              progress=None, threads: int | None = None, **options) -> TrainResult:
        """Train on ``split`` for ``steps`` full-batch updates; evaluated every ``eval_every``
        steps; ``progress(n)`` after n more steps; ``threads``: BLAS and numba threads of the run
        (None: the policy by problem size of :mod:`efftheory.runtime.threads`); ``options`` are
        the model's own."""


def stored_as(name: str):
    """Give a sweep cell function the manifest name ``efftheory.sweep:NAME``: the name the
    built-in cells had when they lived in ``efftheory/sweep.py``, kept so that the stores written
    then stay the same sweeps (resumable, shareable; :func:`efftheory.experiments.sweep.cells.cell_name`)."""

    def mark(cell_fn):
        cell_fn.stored_name = f"efftheory.sweep:{name}"
        return cell_fn

    return mark


#: name -> the registered :class:`Model`, in registration order.
MODELS: dict[str, Model] = {}


def register_model(model: Model) -> Model:
    """Register ``model`` under its :attr:`~Model.name` (once) and return it."""
    require(isinstance(model, Model), f"a model must be a Model, got {type(model).__name__}")
    require(model.name not in MODELS, f"a model called {model.name!r} is already registered")
    MODELS[model.name] = model
    return model


def model_named(name: str) -> Model:
    """The registered model ``name``; InputError naming the known ones otherwise."""
    require(name in MODELS, f"model must be one of {', '.join(MODELS)}, got {name!r}")
    return MODELS[name]
