"""Models: networks trained on a task's split, one interface (:class:`Model`) and a registry.

- :mod:`~efftheory.models.base`: :class:`Model`, :class:`TrainResult` (every model's result),
  :class:`Option`, :data:`MODELS`, :func:`register_model`, :data:`CELL_KEYS`.
- :mod:`~efftheory.models.toy`: the paper's toy network (embeddings + MLP decoder).
- :mod:`~efftheory.models.transformer`: the paper's transformer on addition mod p.
- :mod:`~efftheory.models.dropout`: counter-based dropout masks.

A new model is one package with a :class:`Model` subclass that registers itself, imported below.
"""

from efftheory.models.base import CELL_KEYS, MODELS, Model, Option, TrainResult, model_named, register_model

# the built-in models (each registers itself)
from efftheory.models.toy.model import MODADD_CONFIG, TOY, Toy
from efftheory.models.transformer.model import TRANSFORMER, Transformer

__all__ = ["Model", "TrainResult", "Option", "MODELS", "register_model", "model_named", "CELL_KEYS",
           "Toy", "Transformer", "TOY", "TRANSFORMER", "MODADD_CONFIG"]
