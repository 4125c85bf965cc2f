"""The registry of tasks by name: ``--task`` on the command line, ``task`` in a sweep's settings.

A task module builds its :class:`~efftheory.tasks.base.Task` and registers it once, at import,
with :func:`register_task`; :func:`make_task` is the one way a name becomes a task, so a new
operation table is one new module and its ``register_task`` call (and its import in
:mod:`efftheory.tasks`), never a branch on names elsewhere.

Two kinds of task share the registry (:data:`KINDS`): ``table``, an operation table on p
symbols (``build(p, ordered)``), and ``images``, a labelled image set with a fixed test set
(``build(**options)``, e.g. ``data_dir``; no p, no order, no parallelograms: no theory of
:mod:`efftheory.theories` applies). A command that needs a table lists :func:`task_names`
``("table")``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from efftheory.errors import require
from efftheory.tasks.base import Task


@dataclass(frozen=True)
class TaskSpec:
    """A registered task.

    Attributes:
        name: the name it is known by (``add``, ``modadd``, ``s3``, ...).
        build: ``build(p, ordered) -> Task``; ``p`` is None for a task whose size is fixed.
        summary: one line for a command's help.
        fixed_p: the number of symbols when the task fixes it (S3: 6), else None (``--p`` needed).
        kind: ``table``, ``images`` (module docstring) or ``bits`` (bit strings on ``p`` positions:
            the parity task; built on ``p`` like a table, but no operation table).
        needs_files: whether the task is read from files the user supplies (``data_dir``: MNIST),
            rather than built or shipped with a package.
    """

    name: str
    build: Callable[..., Task]
    summary: str
    fixed_p: int | None = None
    kind: str = "table"
    needs_files: bool = False

    @property
    def takes_p(self) -> bool:
        """Whether the task is built on ``p`` symbols (an operation table) or not (an image set)."""
        return self.kind in ("table", "bits")

    @property
    def options(self) -> tuple[str, ...]:
        """The keyword options :meth:`make` passes to ``build`` (image tasks: ``data_dir``)."""
        return ("data_dir",) if self.kind == "images" else ()

    def make(self, p: int | None = None, ordered: bool = False, **options):
        """The task on ``p`` symbols (``p`` None or :attr:`fixed_p` for a fixed-size task); an
        image task takes no p and is built from ``options`` (``data_dir``)."""
        if self.kind == "images":
            require(p is None, f"the image task {self.name} has no p, got p={p}")
            return self.build(**options)
        require(not options, f"the task {self.name} takes no {', '.join(sorted(options))}")
        if self.fixed_p is not None:
            require(p is None or p == self.fixed_p, f"the task {self.name} has {self.fixed_p} symbols, got p={p}")
        else:
            require(p is not None, f"the task {self.name} needs p")
        return self.build(p, ordered)


#: the kinds of task (:class:`TaskSpec`)
KINDS = ("table", "images", "bits")

#: name -> :class:`TaskSpec`, in registration order.
TASKS: dict[str, TaskSpec] = {}


def register_task(name: str, build: Callable[..., Task], summary: str, fixed_p: int | None = None,
                  kind: str = "table", needs_files: bool = False) -> TaskSpec:
    """Register the task ``name`` (see :class:`TaskSpec`); a name is registered once."""
    require(name not in TASKS, f"a task called {name!r} is already registered")
    require(kind in KINDS, f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    spec = TaskSpec(name, build, summary, fixed_p, kind, needs_files)
    TASKS[name] = spec
    return spec


def task_names(kind: str = "table") -> tuple[str, ...]:
    """The registered tasks of one kind, in registration order."""
    return tuple(name for name, spec in TASKS.items() if spec.kind == kind)


def make_task(name: str, p: int | None = None, ordered: bool = False, **options):
    """The task called ``name`` (a key of :data:`TASKS`) on ``p`` symbols, or an image task
    built from ``options`` (``data_dir`` for mnist).

    ``s3`` is the symmetric group on three letters: 6 symbols, ordered pairs always (``p`` must
    be None or 6; ``ordered`` is ignored, the group is not commutative).
    """
    require(name in TASKS, f"task must be one of {', '.join(TASKS)}, got {name!r}")
    return TASKS[name].make(p, ordered, **options)
