"""Tasks: operation tables on the symbols ``0..p-1``, their samples, labels and training splits.

- :mod:`~efftheory.tasks.base`: :class:`Task` (samples, labels, classes, parallelograms'
  definition, splits), :class:`Split`, :class:`Classes`.
- :mod:`~efftheory.tasks.parallelograms`: what a parallelogram of a table is, listed and counted.
- :mod:`~efftheory.tasks.registry`: :data:`TASKS`, :func:`register_task`, :func:`make_task`.
- :mod:`~efftheory.tasks.addition`: :class:`Addition` (``add``), :class:`ModularAddition` (``modadd``).
- :mod:`~efftheory.tasks.groups`: :class:`FiniteGroup`, :func:`symmetric_group` (``s3``).

A new task is one module that defines its :class:`Task` and calls :func:`register_task`; it is
imported below so that its name is known wherever :data:`TASKS` is read.
"""

from efftheory.tasks.base import Classes, Split, Task, as_int
from efftheory.tasks.parallelograms import (count_equal_result_pairs, count_parallelograms, equal_result_pairs,
                                            equal_result_quads, parallelogram_quads, parallelograms)
from efftheory.tasks.registry import TASKS, TaskSpec, make_task, register_task

# the built-in tasks (each registers itself)
from efftheory.tasks.addition import Addition, ModularAddition
from efftheory.tasks.groups import FiniteGroup, permutation_matrices, permutations_of, symmetric_group

__all__ = ["Task", "Split", "Classes", "as_int", "parallelograms", "parallelogram_quads", "count_parallelograms",
           "equal_result_pairs", "equal_result_quads", "count_equal_result_pairs", "TASKS", "TaskSpec", "register_task", "make_task",
           "Addition", "ModularAddition", "FiniteGroup", "symmetric_group", "permutations_of",
           "permutation_matrices"]
