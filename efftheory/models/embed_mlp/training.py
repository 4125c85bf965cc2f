"""The embedding MLP: ReLU(E_a + E_b) W_out, the one-layer network that groks addition mod p.

Model. Every token t (a symbol 0..p-1 of an operation table, or a bit position of a bit string)
has a learned embedding E_t (d,), d = ``dim`` (24 by default). A sample's first activation is
the ReLU of the sum of its tokens' embeddings (plus a bias b_0 with ``bias=True``):

    h_0 = ReLU(E_a + E_b)                 a sample (a, b) of addition mod p
    h_{l+1} = ReLU(h_l W_l + b_l)         ``hidden`` extra layers of ``width`` units (default 0)
    out = h_L W_out (+ b_out)             one output per label

The embedding is shared by both operands and summed, exactly as in the paper's toy; what differs
from the toy is the decoder (one ReLU and a linear read-out instead of a 2 x 200 tanh MLP) and
the width d. Without hidden layers and biases it is the network of the "memorise or generalise"
study of modular addition (24 neurons, p = 67, AdamW with weight decay about 1).

Initialisation: every weight and bias uniform in ``±init_scale / sqrt(fan_in)``, with fan_in =
the number of tokens for E (the length of the one-hot input it multiplies) and the input width
for the other layers (PyTorch's default for a linear layer at ``init_scale = 1``).

Heads. ``loss="ce"``: softmax cross-entropy, mean over training samples. ``loss="mse"``: the
squared distance to the one-hot label, mean over training samples and outputs; the prediction
(argmax, the nearest one-hot vector) is the same for both heads.

Optimisation: full batch; one AdamW (PyTorch's semantics, β = (0.9, 0.999), ε = 1e-8, decoupled
weight decay θ <- θ (1 - lr wd)) over all parameters, learning rate ``lr``, weight decay ``wd``.
The step convention and the phases are the toy's (:mod:`efftheory.models.toy`, docs/theory.md
§10). Train accuracy is checked at every step; the test rows are forwarded only on recorded
steps (every ``eval_every``), so ``steps_to_test`` is the first *recorded* step with test
accuracy >= 0.9, as for the transformer.

The loop runs in numba (:mod:`efftheory.models.embed_mlp.kernels`); its slow numpy twin is
:mod:`efftheory.reference.embed_mlp`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from efftheory.errors import check_float as _check_float
from efftheory.errors import check_int as _check_int
from efftheory.errors import require
from efftheory.models.base import TrainResult
from efftheory.models.chunks import Records, run_in_chunks
import efftheory.models.embed_mlp.kernels as kern
from efftheory.models.shared_kernels import DIVERGED, divergence_limit
from efftheory.phases import DEFAULT_GAP, phase_of
from efftheory.stats import first_at_or_above, step_or_none
from efftheory.tasks import Split
from efftheory.theories.linear.metrics import RQI_THRESHOLD, normalize
from efftheory.runtime.threads import check_threads, compute_threads, threads_for

LOSSES = ("ce", "mse")
DTYPES = ("float32", "float64")
_CHUNK = 500  # steps per kernel call between progress updates


@dataclass(frozen=True)
class EmbedMLPConfig:
    """Hyper-parameters of the embedding MLP (module docstring); validated on construction.

    ``dim`` is the embedding width d (the number of ReLU units of h_0); ``hidden`` the number of
    extra ReLU layers of ``width`` units between h_0 and the read-out; ``bias`` adds a bias to
    every layer (h_0 included).
    """

    dim: int = 24
    hidden: int = 0
    width: int = 24
    loss: str = "ce"
    bias: bool = False
    lr: float = 3e-3
    wd: float = 0.3
    init_scale: float = 1.0
    dtype: str = "float32"
    seed: int = 0

    def __post_init__(self) -> None:
        require(self.loss in LOSSES, f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        require(self.dtype in DTYPES, f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        require(isinstance(self.bias, bool), f"bias must be True or False, got {self.bias!r}")
        _check_int("dim", self.dim, 1)
        _check_int("hidden", self.hidden, 0)
        _check_int("width", self.width, 1)
        _check_int("seed", self.seed, 0)
        _check_float("lr", self.lr, True)
        _check_float("wd", self.wd, False)
        _check_float("init_scale", self.init_scale, True)
        for name in ("lr", "wd", "init_scale"):
            object.__setattr__(self, name, float(getattr(self, name)))  # the kernels are typed on floats

    def flops_per_step(self, n_train: int, n_classes: int) -> int:
        """Multiply-adds x 2 of the matrix products of one training step: forward, and the two
        products of the backward pass, of every weight layer (the embedding sums are lower order)."""
        dims = self.layer_dims(n_classes)
        return 3 * 2 * n_train * sum(a * b for a, b in zip(dims[:-1], dims[1:]))

    def layer_dims(self, n_classes: int) -> tuple[int, ...]:
        """(d, width, ..., width, n_classes): the widths of h_0, the hidden layers and the output."""
        return (self.dim,) + (self.width,) * self.hidden + (n_classes,)


@dataclass(frozen=True)
class Layout:
    """Where each tensor sits in the flat parameter vector (layout of the kernels' docstring).

    ``b_off`` (L+1,) int64 holds -1 where there is no bias.
    """

    n_tok: int
    dims: np.ndarray  # (L+1,) int64
    w_off: np.ndarray  # (L,) int64
    b_off: np.ndarray  # (L+1,) int64
    a_off: np.ndarray  # (L+1,) int64, offsets per row
    n_params: int

    @classmethod
    def build(cls, n_tok: int, dims, bias: bool) -> "Layout":
        dims = np.asarray(dims, dtype=np.int64)
        off = n_tok * int(dims[0])
        b_off = [-1] * dims.size
        if bias:
            b_off[0], off = off, off + int(dims[0])
        w_off = []
        for l in range(dims.size - 1):
            w_off.append(off)
            off += int(dims[l] * dims[l + 1])
            if bias:
                b_off[l + 1], off = off, off + int(dims[l + 1])
        a_off = np.concatenate([[0], np.cumsum(dims)[:-1]]).astype(np.int64)
        return cls(n_tok, dims, np.array(w_off, np.int64), np.array(b_off, np.int64), a_off, off)

    @property
    def n_embed(self) -> int:
        return self.n_tok * int(self.dims[0])

    def unpack(self, theta: np.ndarray):
        """(E (n_tok, d), [W_0, ..., W_{L-1}], [b_0, ..., b_L] or None) as views of ``theta``."""
        E = theta[: self.n_embed].reshape(self.n_tok, int(self.dims[0]))
        Ws = [theta[o : o + int(self.dims[l] * self.dims[l + 1])].reshape(int(self.dims[l]), int(self.dims[l + 1]))
              for l, o in enumerate(self.w_off)]
        bs = None
        if self.b_off[0] >= 0:
            bs = [theta[o : o + int(n)] for o, n in zip(self.b_off, self.dims)]
        return E, Ws, bs


def init_params(n_tok: int, n_classes: int, config: EmbedMLPConfig) -> tuple[np.ndarray, Layout]:
    """Initial flat parameters (n_params,) in ``config.dtype`` and their layout.

    E from one stream of the seed's SeedSequence and the layers from another, so the initial
    embedding does not depend on the decoder's shape.
    """
    layout = Layout.build(n_tok, config.layer_dims(n_classes), config.bias)
    s_embed, s_dec = np.random.SeedSequence(config.seed).spawn(2)
    theta = np.zeros(layout.n_params)
    E, Ws, bs = layout.unpack(theta)
    bound = config.init_scale / math.sqrt(n_tok)
    rng = np.random.default_rng(s_embed)
    E[...] = rng.uniform(-bound, bound, size=E.shape)
    if bs is not None:
        bs[0][...] = rng.uniform(-bound, bound, size=bs[0].shape)
    rng = np.random.default_rng(s_dec)
    for l, W in enumerate(Ws):
        bound = config.init_scale / math.sqrt(W.shape[0])
        W[...] = rng.uniform(-bound, bound, size=W.shape)
        if bs is not None:
            bs[l + 1][...] = rng.uniform(-bound, bound, size=bs[l + 1].shape)
    return theta.astype(config.dtype), layout


def token_lists(split: Split) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """The samples of ``split`` as token lists, training samples first.

    Returns ``(tok_ptr (N+1,), tok_idx (nnz,), labels (N,), n_tokens, n_classes)``, all int64
    arrays: sample r has the tokens ``tok_idx[tok_ptr[r]:tok_ptr[r+1]]``. A task that defines
    ``token_lists(indices)`` (bit strings: the positions of their ones) gives its own; an
    operation table's sample (a, b) has the two tokens a and b.
    """
    order = np.concatenate([split.train, split.test])
    task = split.task
    if hasattr(task, "token_lists"):
        ptr, idx = task.token_lists(order)
        return ptr, idx, task.labels[order].astype(np.int64), task.n_tokens, task.n_classes
    pairs = task.pairs[order]
    ptr = np.arange(0, 2 * len(order) + 1, 2, dtype=np.int64)
    return ptr, np.ascontiguousarray(pairs.ravel()), task.labels[order].astype(np.int64), task.p, task.n_classes


class _Problem:
    """Arrays the kernels need for one split and config (samples ordered train first)."""

    def __init__(self, split: Split, config: EmbedMLPConfig):
        self.tok_ptr, self.tok_idx, self.labels, self.n_tok, n_classes = token_lists(split)
        self.theta, self.layout = init_params(self.n_tok, n_classes, config)
        self.N, self.nt = int(self.labels.size), split.n_train
        dims, dtype = self.layout.dims, self.theta.dtype
        self.acts = np.zeros(self.nt * int(dims.sum()), dtype=dtype)  # training rows, every step
        self.acts_te = np.zeros((self.N - self.nt) * int(dims.sum()), dtype=dtype)  # test rows, when evaluated
        self.gbuf1 = np.zeros(self.nt * int(dims.max()), dtype=dtype)
        self.gbuf2 = np.zeros_like(self.gbuf1)
        self.is_ce = config.loss == "ce"
        # MSE regresses onto one-hot labels: the head's templates are the identity
        self.templates = np.zeros((n_classes, 0), dtype) if self.is_ce else np.eye(n_classes, dtype=dtype)
        self.has_bias = config.bias

    def kernel_args(self):
        lay = self.layout
        return (lay.dims, lay.w_off, lay.b_off, lay.a_off, self.acts, self.gbuf1, self.gbuf2, self.tok_ptr,
                self.tok_idx)


def loss_and_gradient(split: Split, config: EmbedMLPConfig, theta: np.ndarray | None = None):
    """Mean training loss and its gradient (n_params,) at ``theta`` (default: the initial
    parameters of ``config``), through the training loop's kernels; for finite-difference checks."""
    prob = _Problem(split, config)
    theta = prob.theta if theta is None else np.ascontiguousarray(theta, dtype=prob.theta.dtype)
    require(theta.shape == prob.theta.shape, f"theta must have shape {prob.theta.shape}, got {theta.shape}")
    nt = prob.nt
    dims, w_off, b_off, a_off, acts, g1, g2, ptr, idx = prob.kernel_args()
    kern.forward(theta, dims, w_off, b_off, a_off, acts, ptr, idx, nt, prob.has_bias)
    L, no = dims.size - 1, int(dims[-1])
    out = acts[a_off[L] * nt : (a_off[L] + no) * nt].reshape(nt, no)
    G = g1[: nt * no].reshape(nt, no)
    loss, _ = kern.head(out, prob.labels, prob.templates, prob.is_ce, 0, nt, G, True, 1.0 / nt)
    grad = np.zeros_like(theta)
    kern.backward(theta, grad, dims, w_off, b_off, a_off, acts, g1, g2, ptr, idx, nt, nt, prob.has_bias)
    return loss / nt, grad


@dataclass(frozen=True, kw_only=True)
class EmbedMLPResult(TrainResult):
    """One training run of the embedding MLP: the fields of :class:`efftheory.models.base.TrainResult`
    plus the raw embeddings and the final parameters. T = number of recorded steps.

    Attributes (beyond TrainResult's, which read here as follows):
        config: the :class:`EmbedMLPConfig`.
        rqi, predicted_test_acc: (T,) the structure metric of the task's theory
            (:func:`efftheory.theories.theory_for`) of the raw embeddings at each recorded step and
            the test accuracy it predicts (addition mod p: the circle RQI of the ring fitted to E,
            and NaN); NaN for a task without a theory of its embeddings.
        embeddings: (T, n_tok, d) float64 embeddings normalised per dimension (as the toy's).
        steps_to_train: first step with train accuracy >= 0.9 (checked at every step).
        steps_to_test, steps_to_rqi: first *recorded* step with test accuracy >= 0.9 / metric >= 0.95.
        raw_embeddings: (T, n_tok, d) float64 embeddings E as trained (what the Fourier analysis reads).
        theta_final: (n_params,) all parameters at the last step run (:class:`Layout`).
    """

    raw_embeddings: np.ndarray
    theta_final: np.ndarray

    @property
    def layout(self) -> Layout:
        n_classes = self.split.task.n_classes
        return Layout.build(self.E0.shape[0], self.config.layer_dims(n_classes), self.config.bias)


def _structure_metric(split: Split, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """((T,) metric, (T,) predicted test accuracy) of the task's theory for embeddings (T, n_tok, d)."""
    from efftheory.theories import THEORIES

    theory = THEORIES.get(getattr(split.task, "theory", None))
    if theory is None or raw.shape[1] != split.p:  # no theory reads these embeddings
        return np.full(raw.shape[0], np.nan), np.full(raw.shape[0], np.nan)
    score = theory.score(raw, split)
    return np.asarray(score.value, dtype=np.float64), np.asarray(score.predicted_test_accuracy, dtype=np.float64)


def train_embed_mlp(split: Split, config: EmbedMLPConfig | None = None, steps: int = 10_000, *,
                    eval_every: int = 100, gap: float = DEFAULT_GAP, stop_at_test: bool = False,
                    progress=None, threads: int | None = None) -> EmbedMLPResult:
    """Train the embedding MLP on ``split`` for ``steps`` full-batch AdamW updates.

    Steps 0, eval_every, 2 eval_every, ... and ``steps`` are recorded; the trajectory does not
    depend on ``eval_every``. Train accuracy is checked at every step, test accuracy at the
    recorded steps (``steps_to_test`` is a multiple of ``eval_every`` or ``steps``).
    ``stop_at_test`` ends the run at the first recorded step with train and test accuracy both
    >= 0.9; a non-finite loss or a parameter beyond sqrt of the dtype's largest
    number stops it with phase "diverged". ``progress(n)`` is called with the steps just done.
    ``threads``: BLAS threads of the run (None: the policy by problem size of
    :mod:`efftheory.runtime.threads`, one thread at these sizes).
    """
    config = EmbedMLPConfig() if config is None else config
    require(isinstance(config, EmbedMLPConfig), f"config must be an EmbedMLPConfig, got {type(config).__name__}")
    require(isinstance(split, Split), f"split must be a Split, got {type(split).__name__}")
    _check_int("steps", steps, 1)
    _check_int("eval_every", eval_every, 1)
    _check_float("gap", gap, False)
    check_threads(threads)
    start = time.perf_counter()
    prob = _Problem(split, config)
    theta, lay = prob.theta, prob.layout
    n_tok, d = prob.n_tok, config.dim
    E0 = theta[: lay.n_embed].reshape(n_tok, d).astype(np.float64)
    grad, m, v = np.zeros_like(theta), np.zeros_like(theta), np.zeros_like(theta)
    rec = Records.allocate(steps, eval_every, 5, (n_tok, d), n_first=2)
    limit = theta.dtype.type(divergence_limit(theta.dtype))  # compared in theta's dtype

    def run_chunk(t0, t1):
        dims, w_off, b_off, a_off, acts, g1, g2, ptr, idx = prob.kernel_args()
        return kern.train_chunk(theta, m, v, grad, dims, w_off, b_off, a_off, acts, prob.acts_te, g1, g2, ptr,
                                idx, prob.labels, prob.templates,
                                prob.is_ce, prob.has_bias, prob.nt, prob.N, lay.n_embed, config.lr,
                                config.wd, t0, t1, steps, eval_every, stop_at_test, rec.f, rec.emb, rec.pos,
                                rec.first, limit)

    n_threads = threads_for(config.flops_per_step(prob.nt, int(lay.dims[-1])), threads)
    with compute_threads(n_threads):
        outcome, _ = run_in_chunks(run_chunk, steps, _CHUNK, rec, progress)
    k = rec.rows
    r = rec.f[:k]
    steps_arr = r[:, 0].astype(np.int64)
    t_train, t_test = rec.firsts()
    diverged = outcome == DIVERGED
    raw = rec.emb[:k].copy()
    metric, predicted = _structure_metric(split, raw)
    return EmbedMLPResult(
        config=config, steps=steps_arr, train_loss=r[:, 1].copy(), test_loss=r[:, 2].copy(),
        train_acc=r[:, 3].copy(), test_acc=r[:, 4].copy(), rqi=metric, predicted_test_acc=predicted,
        embeddings=normalize(raw), raw_embeddings=raw, E0=E0,
        E_final=theta[: lay.n_embed].reshape(n_tok, d).astype(np.float64), theta_final=theta.copy(),
        steps_to_train=t_train, steps_to_test=t_test,
        steps_to_rqi=step_or_none(first_at_or_above(steps_arr, np.nan_to_num(metric, nan=0.0), RQI_THRESHOLD)),
        phase=phase_of(t_train, t_test, gap, diverged), steps_run=int(steps_arr[-1]),
        seconds=time.perf_counter() - start, split=split, gap=gap, diverged=diverged, threads=n_threads,
    )


__all__ = ["EmbedMLPConfig", "EmbedMLPResult", "Layout", "init_params", "loss_and_gradient", "token_lists",
           "train_embed_mlp"]
