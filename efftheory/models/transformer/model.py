"""The transformer as a :class:`~efftheory.models.base.Model` (registered as ``transformer``)."""

from __future__ import annotations

from efftheory.models.base import Model, Option, register_model
from efftheory.phases import DEFAULT_GAP
from efftheory.models.transformer.cell import transformer_cell
from efftheory.models.transformer.config import DTYPES, TransformerConfig
from efftheory.models.transformer.training import TransformerResult, train_transformer
from efftheory.tasks import ModularAddition


class Transformer(Model):
    """Two tokens, pre-LayerNorm encoder blocks, a linear head over the last position; AdamW
    (docs/theory.md §15). Trains on the ordered pairs of addition mod p."""

    name = "transformer"
    summary = "the paper's transformer on addition mod p (ordered pairs)"
    config_type = TransformerConfig
    tasks = ("modadd",)
    default_steps = 8000
    default_eval_every = 20
    options = (
        Option("dim", "int", "latent size d"),
        Option("width", "int", "feed-forward width"),
        Option("layers", "int", "encoder blocks"),
        Option("embed_lr", "float", "embedding AdamW lr"),
        Option("decoder_lr", "float", "AdamW lr of everything but the embeddings"),
        Option("embed_wd", "float0", "embedding weight decay"),
        Option("decoder_wd", "float0", "weight decay of everything but the embeddings"),
        Option("dropout", "rate", "dropout rate of the training passes (the curves read the network without it)"),
        Option("dtype", "choice", "floating-point type", choices=DTYPES),
    )
    cell = staticmethod(transformer_cell)

    def make_task(self, name: str, p: int | None):
        """Addition mod p on *ordered* pairs: (a, b) and (b, a) are two samples (the paper's setting)."""
        super().make_task(name, p)  # refuses another task
        return ModularAddition(p, ordered=True)

    def train(self, split, config: TransformerConfig, steps: int, *, eval_every: int = 1, gap: float = DEFAULT_GAP,
              progress=None, threads: int | None = None, **options) -> TransformerResult:
        """:func:`~efftheory.models.transformer.training.train_transformer`; ``options``: stop_at_full."""
        return train_transformer(split, config, steps, eval_every=eval_every, gap=gap, progress=progress,
                                 threads=threads, **options)


TRANSFORMER = register_model(Transformer())
