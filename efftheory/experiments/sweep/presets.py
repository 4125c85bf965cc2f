"""The paper's Fig 5 panels as sweep presets (:data:`PRESETS`), and the split seeds they train on:
the first whose ideal test accuracy is 1 (:func:`first_split_seed`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType

from efftheory.experiments.sweep.grid import Axis, Grid
from efftheory.models.toy.model import MATRIX_CONFIG


@dataclass(frozen=True)
class Preset:
    """A panel of the paper's Fig 5: axis names, their ``LO:HI:N[:log]`` ranges (or value lists)
    and the loss; optionally the task, its split size (None: the sweep defaults), the model it is
    a panel of (the toy) and further :class:`~efftheory.models.toy.config.NetworkConfig` fields."""

    x: str
    x_range: str
    y: str
    y_range: str
    loss: str
    task: str = "add"
    p: int | None = None
    model: str = "toy"
    n_train: int | None = None
    network: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))

    @property
    def grid(self) -> Grid:
        return Grid(Axis.parse(self.x, self.x_range), Axis.parse(self.y, self.y_range))


#: The paper's permutation toy (docs/theory.md §9): 3x3 matrix embeddings of S3 initialised in
#: [-0.05, 0.05), the L1 penalty 1e-3 mean |M|, the decoder and embedding lr of the additive toy.
MATRIX_TOY = MappingProxyType({k: getattr(MATRIX_CONFIG, k) for k in ("embed", "dim", "embed_l1", "init_scale")})


#: The paper's Fig 5 panels (weight-decay grid 0..10 in steps of 1; Fig 5d: the S3 matrix toy,
#: 24 of its 36 samples for training, weight decays 0..200 on the paper's irregular grid).
PRESETS = MappingProxyType({
    "fig5a": Preset("embed_lr", "1e-5:1e-2:10:log", "decoder_lr", "1e-5:1e-2:10:log", "mse"),
    "fig5b": Preset("decoder_lr", "1e-5:1e-2:10:log", "decoder_wd", "0:10:11", "mse"),
    "fig5c": Preset("decoder_lr", "1e-5:1e-2:10:log", "decoder_wd", "0:10:11", "ce"),
    "fig5d": Preset("decoder_lr", "1e-5:1e-2:10:log", "decoder_wd", "0,1,2,3,5,10,20,30,50,100,200", "mse",
                    task="s3", p=6, n_train=24, network=MATRIX_TOY),
})


def ideal_test_accuracy(p: int, *, n_train: int | None = None, frac: float | None = None, seed: int = 0,
                        task: str = "add") -> float:
    """The most test accuracy a representation can be expected to reach on
    ``make_task(task, p).split(n_train|frac, seed)``.

    Addition: the linear theory's ideal test accuracy, the share of test samples the training
    set's parallelograms imply. Other tasks (S3 and its matrix toy): the reachable test accuracy
    (:func:`efftheory.theories.linear.theory.reachable_test_accuracy`), the share of test samples whose label
    has a training sample and whose symbols both occur in training. For S3 there is no linear
    theory of the matrix representation (its constraints M_a M_b = M_c M_d are bilinear), and
    with the group's own matrices every equal-product pair holds, so this is exactly the
    matrix model's ideal predicted accuracy.
    """
    from efftheory.tasks import make_task
    from efftheory.theories.linear.theory import linear_theory, reachable_test_accuracy

    split = make_task(task, p).split(frac=frac, n_train=n_train, seed=seed)
    if task == "add":
        return linear_theory(split).ideal_test_accuracy or 0.0
    return reachable_test_accuracy(split)


def first_split_seed(p: int, *, n_train: int | None = None, frac: float | None = None, at_least: float = 1.0,
                     tries: int = 1000, task: str = "add") -> int | None:
    """The first split seed in ``0..tries-1`` whose :func:`ideal_test_accuracy` is at least
    ``at_least`` (1: every test sample can be got right), or None if there is none."""
    return next((s for s in range(tries)
                 if ideal_test_accuracy(p, n_train=n_train, frac=frac, seed=s, task=task) >= at_least), None)
