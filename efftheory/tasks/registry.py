"""The registry of tasks by name: ``--task`` on the command line, ``task`` in a sweep's settings.

A task module builds its :class:`~efftheory.tasks.base.Task` and registers it once, at import,
with :func:`register_task`; :func:`make_task` is the one way a name becomes a task, so a new
operation table is one new module and its ``register_task`` call (and its import in
:mod:`efftheory.tasks`), never a branch on names elsewhere.
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
    """

    name: str
    build: Callable[[int | None, bool], Task]
    summary: str
    fixed_p: int | None = None

    def make(self, p: int | None = None, ordered: bool = False) -> Task:
        """The task on ``p`` symbols (``p`` None or :attr:`fixed_p` for a fixed-size task)."""
        if self.fixed_p is not None:
            require(p is None or p == self.fixed_p, f"the task {self.name} has {self.fixed_p} symbols, got p={p}")
        else:
            require(p is not None, f"the task {self.name} needs p")
        return self.build(p, ordered)


#: name -> :class:`TaskSpec`, in registration order.
TASKS: dict[str, TaskSpec] = {}


def register_task(name: str, build: Callable[[int | None, bool], Task], summary: str,
                  fixed_p: int | None = None) -> TaskSpec:
    """Register the task ``name`` (see :class:`TaskSpec`); a name is registered once."""
    require(name not in TASKS, f"a task called {name!r} is already registered")
    spec = TaskSpec(name, build, summary, fixed_p)
    TASKS[name] = spec
    return spec


def make_task(name: str, p: int | None = None, ordered: bool = False) -> Task:
    """The task called ``name`` (a key of :data:`TASKS`) on ``p`` symbols.

    ``s3`` is the symmetric group on three letters: 6 symbols, ordered pairs always (``p`` must
    be None or 6; ``ordered`` is ignored, the group is not commutative).
    """
    require(name in TASKS, f"task must be one of {', '.join(TASKS)}, got {name!r}")
    return TASKS[name].make(p, ordered)
