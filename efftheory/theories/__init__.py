"""Theories of a task's structure, one interface (:class:`Theory`) and a registry.

- :mod:`~efftheory.theories.base`: :class:`Theory`, :class:`Structure`, :class:`Score`,
  :data:`THEORIES`, :func:`register_theory`, :func:`theory_for`.
- :mod:`~efftheory.theories.linear`: additive embeddings (addition; the paper's theory).
- :mod:`~efftheory.theories.circle`: a ring of phases (addition mod p).
- :mod:`~efftheory.theories.group`: rotation matrices (finite groups).

A new theory is one package with a :class:`Theory` subclass that registers itself, imported
below; a task picks it by name (its ``theory`` attribute).
"""

from efftheory.theories.base import THEORIES, Score, Structure, Theory, register_theory, theory_for

# the built-in theories (each registers itself)
from efftheory.theories.linear.interface import LINEAR, Linear
from efftheory.theories.circle.interface import CIRCLE, Circle
from efftheory.theories.group.interface import GROUP, Group

__all__ = ["Theory", "Structure", "Score", "THEORIES", "register_theory", "theory_for",
           "Linear", "Circle", "Group", "LINEAR", "CIRCLE", "GROUP"]
