"""Tasks: operation tables on the symbols ``0..p-1``, their samples, labels and training splits;
and labelled image sets (:mod:`~efftheory.tasks.images`).

- :mod:`~efftheory.tasks.base`: :class:`Task` (samples, labels, classes, parallelograms'
  definition, splits), :class:`Split`, :class:`Classes`.
- :mod:`~efftheory.tasks.parallelograms`: what a parallelogram of a table is, listed and counted.
- :mod:`~efftheory.tasks.registry`: :data:`TASKS`, :func:`register_task`, :func:`make_task`,
  :func:`task_names` (by kind: ``table`` or ``images``).
- :mod:`~efftheory.tasks.addition`: :class:`Addition` (``add``), :class:`ModularAddition` (``modadd``).
- :mod:`~efftheory.tasks.groups`: :class:`FiniteGroup`, :func:`symmetric_group` (``s3``).
- :mod:`~efftheory.tasks.images`: :class:`ImageTask`, :class:`ImageSplit` (``digits``: scikit-learn's
  8x8 digits; ``mnist``: the four IDX files of a directory), :func:`read_idx`.
- :mod:`~efftheory.tasks.parity`: :class:`ParityTask` (``parity``), bit strings labelled by the
  parity of a few bits (not an operation table).

A new task is one module that defines its :class:`Task` and calls :func:`register_task`; it is
imported below so that its name is known wherever :data:`TASKS` is read.
"""

from efftheory.tasks.base import Classes, Split, Task, as_int
from efftheory.tasks.parallelograms import (count_equal_result_pairs, count_parallelograms, equal_result_pairs,
                                            equal_result_quads, parallelogram_quads, parallelograms)
from efftheory.tasks.registry import KINDS, TASKS, TaskSpec, make_task, register_task, task_names

# the built-in tasks (each registers itself)
from efftheory.tasks.addition import Addition, ModularAddition
from efftheory.tasks.groups import FiniteGroup, permutation_matrices, permutations_of, symmetric_group
from efftheory.tasks.images import ImageSplit, ImageTask, read_idx
from efftheory.tasks.parity import ParityTask

__all__ = ["Task", "Split", "Classes", "as_int", "parallelograms", "parallelogram_quads", "count_parallelograms",
           "equal_result_pairs", "equal_result_quads", "count_equal_result_pairs", "TASKS", "TaskSpec", "register_task", "make_task", "task_names", "KINDS",
           "Addition", "ModularAddition", "FiniteGroup", "symmetric_group", "permutations_of",
           "permutation_matrices", "ImageTask", "ImageSplit", "read_idx", "ParityTask"]
