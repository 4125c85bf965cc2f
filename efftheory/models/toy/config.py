"""The toy network's hyper-parameters (:class:`NetworkConfig`, docs/theory.md §9)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from efftheory.errors import check_float, check_int, require

LOSSES = ("mse", "ce")


DTYPES = ("float32", "float64")


#: how a sample's two embeddings form the decoder input: E_i + E_j, or vec(M_i M_j)
EMBEDS = ("sum", "matrix")


@dataclass(frozen=True)
class NetworkConfig:
    """Hyper-parameters of the toy network (docs/theory.md §9); validated on construction.

    ``depth`` counts hidden layers (>= 1); ``out_dim`` is the template dimension of the MSE head
    (the CE head has one output per label: 2p - 1 sums for addition, p for modular addition).
    ``embed`` is the input stage: ``"sum"`` (x = E_i + E_j) or ``"matrix"`` (x = vec(M_i M_j),
    each embedding a k x k matrix with ``dim = k * k``, a perfect square). ``embed_l1`` weighs
    the L1 penalty ``embed_l1 * mean |E|`` added to the training loss (the paper's permutation
    toy: 1e-3).
    """

    loss: str = "mse"
    dim: int = 1
    width: int = 200
    depth: int = 2
    embed_lr: float = 1e-3
    decoder_lr: float = 1e-4
    embed_wd: float = 0.0
    decoder_wd: float = 0.0
    init_scale: float = 1.0
    decoder_init_scale: float = 1.0
    out_dim: int = 30
    dtype: str = "float32"
    seed: int = 0
    embed: str = "sum"
    embed_l1: float = 0.0

    def __post_init__(self) -> None:
        require(self.loss in LOSSES, f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        require(self.dtype in DTYPES, f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        check_int("dim", self.dim, 1)
        check_int("width", self.width, 1)
        check_int("depth", self.depth, 1)
        check_int("out_dim", self.out_dim, 1)
        check_int("seed", self.seed, 0)
        check_float("embed_lr", self.embed_lr, True)
        check_float("decoder_lr", self.decoder_lr, True)
        check_float("embed_wd", self.embed_wd, False)
        check_float("decoder_wd", self.decoder_wd, False)
        check_float("init_scale", self.init_scale, True)
        check_float("decoder_init_scale", self.decoder_init_scale, True)
        for name in ("embed_lr", "decoder_lr", "embed_wd", "decoder_wd", "init_scale", "decoder_init_scale", "embed_l1"):
            object.__setattr__(self, name, float(getattr(self, name)))  # the kernels are typed on floats
        require(self.embed in EMBEDS, f"embed must be one of {', '.join(EMBEDS)}, got {self.embed!r}")
        check_float("embed_l1", self.embed_l1, False)
        if self.embed == "matrix":
            k = math.isqrt(self.dim)
            require(k * k == self.dim, f"the matrix model needs dim = k*k (9 for 3x3 matrices), got dim={self.dim}")

    @property
    def side(self) -> int:
        """k of the k x k matrices of the matrix model; 0 for the sum model (the kernels' switch)."""
        return math.isqrt(self.dim) if self.embed == "matrix" else 0

    def layer_dims(self, n_classes: int) -> tuple[int, ...]:
        """(d, width, ..., width, out): the sizes of the decoder's activations (out = out_dim
        for the MSE head, the number of labels for the CE head)."""
        out = self.out_dim if self.loss == "mse" else n_classes
        return (self.dim,) + (self.width,) * self.depth + (out,)

    def flops_per_step(self, p: int, n_samples: int, n_train: int, n_classes: int) -> int:
        """FLOPs of one training step (multiply-add = 2): the forward products over all
        ``n_samples`` (a step forwards the test samples too), the two backward products per
        layer over the ``n_train`` training samples, and AdamW at 14 per parameter; the input
        stage, tanh, the head and the metrics are lower order and left out."""
        dims = self.layer_dims(n_classes)
        macs = sum(dims[l] * dims[l + 1] for l in range(len(dims) - 1))
        params = p * self.dim + sum(dims[l] * dims[l + 1] + dims[l + 1] for l in range(len(dims) - 1))
        return 2 * n_samples * macs + 4 * n_train * macs + 14 * params
