"""The embedding MLP as a :class:`~efftheory.models.base.Model` (registered as ``embed-mlp``)."""

from __future__ import annotations

from efftheory.models.base import Model, Option, register_model
from efftheory.models.embed_mlp.cell import embed_mlp_cell
from efftheory.models.embed_mlp.training import DTYPES, LOSSES, EmbedMLPConfig, EmbedMLPResult, train_embed_mlp
from efftheory.phases import DEFAULT_GAP


class EmbedMLP(Model):
    """ReLU(E_a + E_b) W_out: one shared embedding summed (the toy's input), a ReLU and a linear
    read-out, optional hidden ReLU layers; AdamW with weight decay on every parameter."""

    name = "embed-mlp"
    summary = "ReLU(E_a + E_b) W_out, the one-layer MLP that groks addition mod p"
    config_type = EmbedMLPConfig
    tasks = ("modadd", "add", "parity")
    default_steps = 20_000
    default_eval_every = 100
    options = (
        Option("dim", "int", "embedding width d (the ReLU units of E_a + E_b)"),
        Option("hidden", "int", "extra hidden ReLU layers"),
        Option("width", "int", "width of the extra hidden layers"),
        Option("loss", "choice", "head: softmax cross-entropy or squared distance to the one-hot label",
               choices=LOSSES),
        Option("bias", "bool", "a bias in every layer, h_0 included"),
        Option("lr", "float", "AdamW learning rate"),
        Option("wd", "float0", "AdamW weight decay (every parameter)"),
        Option("init_scale", "float", "initial weights uniform in ±init_scale/sqrt(fan_in)"),
        Option("dtype", "choice", "floating-point type", choices=DTYPES),
    )
    cell = staticmethod(embed_mlp_cell)

    def train(self, split, config: EmbedMLPConfig, steps: int, *, eval_every: int = 1, gap: float = DEFAULT_GAP,
              progress=None, threads: int | None = None, **options) -> EmbedMLPResult:
        """:func:`~efftheory.models.embed_mlp.training.train_embed_mlp`; ``options``: stop_at_test."""
        return train_embed_mlp(split, config, steps, eval_every=eval_every, gap=gap, progress=progress,
                               threads=threads, **options)


EMBED_MLP = register_model(EmbedMLP())
