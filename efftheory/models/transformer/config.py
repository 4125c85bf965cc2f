"""The transformer's hyper-parameters (:class:`TransformerConfig`, docs/theory.md §15)."""

from __future__ import annotations

from dataclasses import dataclass

from efftheory.errors import check_float, check_int, require

DTYPES = ("float32", "float64")


@dataclass(frozen=True)
class TransformerConfig:
    """Hyper-parameters of the transformer (docs/theory.md §15); p-independent, validated.

    ``dim`` is the latent size d (embeddings and residual stream), ``width`` the feed-forward
    width, ``layers`` the number of encoder blocks, ``dropout`` the rate of inverted dropout in
    the passes that train (0: none, the default; the paper's Fig 1 uses 0.05). The defaults are
    a small network that generalises on p = 23 in a minute or two on one core; :meth:`paper`
    gives Fig 1's sizes.
    """

    dim: int = 32
    width: int = 64
    layers: int = 1
    embed_lr: float = 1e-3
    decoder_lr: float = 1e-3
    embed_wd: float = 0.0
    decoder_wd: float = 1.0
    final_ln: bool = True
    dropout: float = 0.0
    dtype: str = "float32"
    seed: int = 0

    def __post_init__(self) -> None:
        require(self.dtype in DTYPES, f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        require(isinstance(self.final_ln, bool), f"final_ln must be True or False, got {self.final_ln!r}")
        check_int("dim", self.dim, 1)
        check_int("width", self.width, 1)
        check_int("layers", self.layers, 1)
        check_int("seed", self.seed, 0)
        check_float("embed_lr", self.embed_lr, True)
        check_float("decoder_lr", self.decoder_lr, True)
        check_float("embed_wd", self.embed_wd, False)
        check_float("decoder_wd", self.decoder_wd, False)
        check_float("dropout", self.dropout, False)
        require(self.dropout < 1.0, f"dropout must be below 1 (the rate at which units are dropped), got {self.dropout:g}")
        # AdamW's decay factor 1 - lr wd must stay in [0, 1): beyond it the decay flips signs
        for group in ("embed", "decoder"):
            lr, wd = getattr(self, f"{group}_lr"), getattr(self, f"{group}_wd")
            require(lr * wd < 1.0, f"{group}_lr x {group}_wd must be below 1, got {lr * wd:g}")

    @classmethod
    def paper(cls, **changes) -> "TransformerConfig":
        """The paper's Fig 1 network: d = 256, width 128, two blocks, decoder lr 2e-4, weight
        decay 1, dropout 0.05."""
        base = dict(dim=256, width=128, layers=2, embed_lr=1e-3, decoder_lr=2e-4, embed_wd=0.0, decoder_wd=1.0,
                    dropout=0.05)
        return cls(**{**base, **changes})

    def flops_per_step(self, n_train: int, p: int) -> int:
        """Multiply-adds x 2 of the matrix products of one training step (forward + backward).

        Forward per sample: 2 tokens x 2 (3d² + d² + 2 d width) per block, plus 2 (2d) p for the
        head; the backward pass does two products of the same size for each (weight gradient and
        input gradient), so a step is 3 x forward. Attention scores, LayerNorm, the softmax and
        AdamW are O(n d) or O(#params) and left out.
        """
        d, w = self.dim, self.width
        forward = n_train * (2 * self.layers * 2 * (4 * d * d + 2 * d * w) + 2 * 2 * d * p)
        return 3 * forward
