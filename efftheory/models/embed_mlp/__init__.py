"""The embedding MLP ReLU(E_a + E_b) W_out (docs/theory.md, "The embedding MLP").

- :mod:`~efftheory.models.embed_mlp.training`: its config, parameter layout, training loop and
  result (the maths is in that module's docstring);
- :mod:`~efftheory.models.embed_mlp.kernels`: the numba kernels (forward, backward, the loop);
  the numpy twin is :mod:`efftheory.reference.embed_mlp`.
"""

from efftheory.models.embed_mlp.training import (EmbedMLPConfig, EmbedMLPResult, Layout, init_params,
                                                 loss_and_gradient, token_lists, train_embed_mlp)

__all__ = ["EmbedMLPConfig", "EmbedMLPResult", "Layout", "init_params", "loss_and_gradient", "token_lists",
           "train_embed_mlp"]
