"""Models: networks trained on a task's split, one interface (:class:`Model`) and a registry.

- :mod:`~efftheory.models.base`: :class:`Model`, :class:`TrainResult` (every model's result),
  :class:`Option`, :data:`MODELS`, :func:`register_model`, :data:`CELL_KEYS`.
- :mod:`~efftheory.models.toy`: the paper's toy network (embeddings + MLP decoder).
- :mod:`~efftheory.models.transformer`: the paper's transformer on addition mod p.
- :mod:`~efftheory.models.omnigrok`: the Omnigrok MLP on images (ReLU, initial scale alpha).
- :mod:`~efftheory.models.embed_mlp`: ReLU(E_a + E_b) W_out, the one-layer MLP that groks addition mod p.
- :mod:`~efftheory.models.dropout`: counter-based dropout masks.

A new model is one package with a :class:`Model` subclass that registers itself, imported below.
"""

from efftheory.models.base import CELL_KEYS, MODELS, Model, Option, TrainResult, model_named, register_model

# the built-in models (each registers itself)
from efftheory.models.toy.model import MODADD_CONFIG, TOY, Toy
from efftheory.models.transformer.model import TRANSFORMER, Transformer
from efftheory.models.omnigrok.model import OMNIGROK, Omnigrok
from efftheory.models.embed_mlp.model import EMBED_MLP, EmbedMLP

__all__ = ["Model", "TrainResult", "Option", "MODELS", "register_model", "model_named", "CELL_KEYS",
           "Toy", "Transformer", "Omnigrok", "EmbedMLP", "TOY", "TRANSFORMER", "OMNIGROK", "EMBED_MLP",
           "MODADD_CONFIG"]
