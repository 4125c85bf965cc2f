"""The toy network as a :class:`~efftheory.models.base.Model` (registered as ``toy``)."""

from __future__ import annotations

from efftheory.models.base import Model, Option, TrainResult, register_model
from efftheory.phases import DEFAULT_GAP
from efftheory.models.toy.cell import network_cell
from efftheory.models.toy.config import LOSSES, NetworkConfig
from efftheory.models.toy.training import train_network

#: Network settings for modular addition (``efftheory train|compare --task modadd``): 2-d
#: embeddings (a ring needs a plane), the cross-entropy head and the comprehension learning rates;
#: chosen by measurement (docs/theory.md §13).
MODADD_CONFIG = NetworkConfig(loss="ce", dim=2, embed_lr=1e-2, decoder_lr=1e-4)
#: The paper's permutation toy for S3 (docs/theory.md §9): 3x3 matrix embeddings initialised in
#: [-0.05, 0.05), the L1 penalty 1e-3 mean |M| (the sweep preset fig5d uses the same fields).
MATRIX_CONFIG = NetworkConfig(embed="matrix", dim=9, embed_l1=1e-3, init_scale=0.1)

#: task -> the toy's default config on it (any other task: the paper's toy)
TASK_CONFIGS = {"modadd": MODADD_CONFIG, "s3": MATRIX_CONFIG}


class Toy(Model):
    """Embeddings E_a, the decoder input E_a + E_b (or vec(M_a M_b) for the matrix model), an
    MLP decoder with an MSE or CE head, AdamW with separate embedding and decoder settings
    (docs/theory.md §9)."""

    name = "toy"
    summary = "the paper's toy network: embeddings + MLP decoder"
    config_type = NetworkConfig
    tasks = ("add", "modadd", "s3")
    default_steps = 5000
    default_eval_every = 1
    options = (
        Option("loss", "choice", "decoder head", choices=LOSSES),
        Option("dim", "int", "embedding dimension d"),
        Option("width", "int", "hidden width"),
        Option("depth", "int", "hidden layers"),
        Option("embed_lr", "float", "embedding AdamW lr"),
        Option("decoder_lr", "float", "decoder AdamW lr"),
        Option("embed_wd", "float0", "embedding weight decay"),
        Option("decoder_wd", "float0", "decoder weight decay"),
        Option("init_scale", "float", "embeddings start uniform in [-0.5, 0.5) times this"),
        Option("decoder_init_scale", "float", "decoder weights start uniform in ±this/sqrt(fan_in)"),
        Option("out_dim", "int", "MSE template dimension"),
        Option("dtype", "choice", "floating-point type", choices=("float32", "float64")),
    )
    cell = staticmethod(network_cell)

    def default_config(self, task_name: str) -> NetworkConfig:
        """The paper's toy for addition, :data:`MODADD_CONFIG` for addition mod p,
        :data:`MATRIX_CONFIG` for S3."""
        return TASK_CONFIGS.get(task_name, NetworkConfig())

    def train(self, split, config: NetworkConfig, steps: int, *, eval_every: int = 1, gap: float = DEFAULT_GAP,
              progress=None, threads: int | None = None, **options) -> TrainResult:
        """:func:`~efftheory.models.toy.training.train_network`; ``options``: delta, stop_at_test."""
        return train_network(split, config, steps, eval_every=eval_every, gap=gap, progress=progress,
                             threads=threads, **options)


TOY = register_model(Toy())
