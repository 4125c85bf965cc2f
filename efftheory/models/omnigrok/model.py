"""The Omnigrok MLP as a :class:`~efftheory.models.base.Model` (registered as ``omnigrok``)."""

from __future__ import annotations

from efftheory.models.base import Model, Option, register_model
from efftheory.models.omnigrok.cell import omnigrok_cell
from efftheory.models.omnigrok.training import DTYPES, LOSSES, OmnigrokConfig, OmnigrokResult, train_omnigrok
from efftheory.phases import DEFAULT_GAP


class Omnigrok(Model):
    """A ReLU MLP on images started at weight norm alpha * w_init, AdamW with decoupled weight
    decay (docs/theory.md §16). Trains on the image tasks (``digits``, ``mnist``)."""

    name = "omnigrok"
    summary = "the Omnigrok MLP on images (ReLU, init scale alpha, AdamW)"
    config_type = OmnigrokConfig
    tasks = ("digits", "mnist")
    default_steps = 5000
    default_eval_every = 50
    cell = staticmethod(omnigrok_cell)
    options = (
        Option("width", "int", "hidden width"),
        Option("depth", "int", "linear layers (depth 3 = two hidden layers)"),
        Option("loss", "choice", "head", choices=LOSSES),
        Option("alpha", "float", "initial scale: every initial weight and bias times this"),
        Option("lr", "float", "AdamW lr"),
        Option("wd", "float0", "AdamW (decoupled) weight decay"),
        Option("batch_size", "int0", "mini-batch size (0 = full batch)"),
        Option("fixed_norm", "float0", "hold the weight norm at this value (0 = free)"),
        Option("dtype", "choice", "floating-point type", choices=DTYPES),
    )

    def make_task(self, name: str, p: int | None = None, **options):
        """The image task ``name`` (``data_dir`` for mnist); ``p`` does not apply."""
        from efftheory.errors import require
        from efftheory.tasks import make_task

        require(name in self.tasks, f"the {self.name} model trains on {', '.join(self.tasks)}, not {name!r}")
        require(p is None, f"the image task {name} has no --p")
        return make_task(name, **options)

    def plot_run(self, result: OmnigrokResult):
        """Train and test accuracy and the weight norm against steps (no embeddings to draw)."""
        from efftheory.plotting.omnigrok import plot_three_cases

        c = result.config
        return plot_three_cases([(f"alpha = {c.alpha:g}, wd = {c.wd:g}, {result.split.n_train} images", result)])

    def train(self, split, config: OmnigrokConfig, steps: int, *, eval_every: int = 50, gap: float = DEFAULT_GAP,
              progress=None, threads: int | None = None, **options) -> OmnigrokResult:
        """:func:`~efftheory.models.omnigrok.training.train_omnigrok`; ``options``: until."""
        return train_omnigrok(split, config, steps, eval_every=eval_every, gap=gap, progress=progress,
                              threads=threads, **options)


OMNIGROK = register_model(Omnigrok())
