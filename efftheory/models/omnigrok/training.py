"""The Omnigrok MLP: a plain ReLU network on images, started at a large weight norm.

Model. Inputs x (n_inputs,) in [0, 1] pass through ``depth`` linear layers
``n_inputs -> width -> ... -> width -> 10`` (depth - 1 hidden layers of ``width`` ReLU units,
a linear output layer): ``h_{l+1} = relu(h_l W_l + b_l)``. Every weight and bias starts as
PyTorch's default for a linear layer, uniform in ``±1 / sqrt(fan_in)``, and is then multiplied
by the initial scale ``alpha``: the initial weight norm is ``w0 = alpha * w_init``, where
w = ||theta||_2 is the Euclidean norm of all parameters (weights and biases together).

Heads. ``loss="mse"``: mean over samples and the 10 outputs of ``(out - onehot(y))^2``;
``loss="ce"``: softmax cross-entropy averaged over samples. The prediction is the argmax.

Optimisation. PyTorch's AdamW on every parameter (lr ``lr``, decoupled decay
``theta <- theta (1 - lr wd)``, β = (0.9, 0.999), ε = 1e-8). ``batch_size = 0`` is full batch;
otherwise each update takes the next ``batch_size`` indices of a stream of seeded permutations of
the training split (every image is used once per pass; a batch may straddle two passes).
``fixed_norm > 0`` puts theta on the sphere ||theta|| = fixed_norm at initialisation and after
every update (the reduced landscape of the LU picture, efftheory/experiments/landscape.py).

Why the norm matters. With decoupled decay and a fitted network (loss gradient small) the update
is dominated by the decay, so w(t) ≈ w0 exp(-lr wd t). If the test loss is lowest near a norm
w_c < w0, the test accuracy is expected to rise near ``t* = ln(w0 / w_c) / (lr wd)``
(:func:`predicted_delay`).

Step convention: "step t" means the parameters after t updates. Steps 0, k, 2k, ... (k =
``eval_every``) and the last step are recorded, each evaluating the whole training split and the
whole test set; ``steps_to_train`` / ``steps_to_test`` are the first *recorded* steps with
train / test accuracy >= 0.9 (resolution k). Everything is determined by ``config.seed`` and the
split: the seed's SeedSequence is spawned into the initialisation and the batch order.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from efftheory.errors import require
from efftheory.models.base import TrainResult
from efftheory.models.chunks import Records, run_in_chunks
from efftheory.tasks.images import ImageSplit
from efftheory.models.omnigrok import kernels as K
from efftheory.errors import check_float as _check_float, check_int as _check_int
from efftheory.models.toy.kernels import Layout
from efftheory.phases import ACC_THRESHOLD, DEFAULT_GAP, phase_of
from efftheory.runtime.threads import check_threads, compute_threads, threads_for

LOSSES = ("mse", "ce")
DTYPES = ("float32", "float64")
_CHUNK = 500  # steps per kernel call between progress updates


@dataclass(frozen=True)
class OmnigrokConfig:
    """Hyper-parameters of the Omnigrok MLP (module docstring); validated on construction.

    ``depth`` counts linear layers (>= 1; depth 3 = two hidden layers); ``batch_size`` 0 means
    full batch; ``fixed_norm`` 0 means the norm is free.
    """

    width: int = 200
    depth: int = 3
    loss: str = "mse"
    alpha: float = 1.0
    lr: float = 1e-3
    wd: float = 0.01
    batch_size: int = 0
    fixed_norm: float = 0.0
    dtype: str = "float32"
    seed: int = 0

    def __post_init__(self) -> None:
        require(self.loss in LOSSES, f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        require(self.dtype in DTYPES, f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        _check_int("width", self.width, 1)
        _check_int("depth", self.depth, 1)
        _check_int("batch_size", self.batch_size, 0)
        _check_int("seed", self.seed, 0)
        _check_float("alpha", self.alpha, True)
        _check_float("lr", self.lr, True)
        _check_float("wd", self.wd, False)
        _check_float("fixed_norm", self.fixed_norm, False)
        for name in ("alpha", "lr", "wd", "fixed_norm"):
            object.__setattr__(self, name, float(getattr(self, name)))

    def layer_dims(self, n_inputs: int, n_classes: int) -> tuple[int, ...]:
        """(n_inputs, width, ..., width, n_classes): the sizes of the activations."""
        return (n_inputs,) + (self.width,) * (self.depth - 1) + (n_classes,)


def init_params(n_inputs: int, n_classes: int, config: OmnigrokConfig) -> tuple[np.ndarray, Layout]:
    """Initial flat parameters (n_params,) in ``config.dtype`` and their layout: PyTorch's default
    linear-layer initialisation times ``alpha``, then onto the sphere if ``fixed_norm`` > 0."""
    layout = Layout.build(0, config.layer_dims(n_inputs, n_classes))
    theta = np.empty(layout.n_params, dtype=np.float64)
    _, Ws, bs = layout.unpack(theta)
    rng = np.random.default_rng(np.random.SeedSequence(config.seed).spawn(2)[0])
    for W, b in zip(Ws, bs):
        bound = 1.0 / math.sqrt(W.shape[0])
        W[...] = rng.uniform(-bound, bound, size=W.shape)
        b[...] = rng.uniform(-bound, bound, size=b.shape)
    theta *= config.alpha
    if config.fixed_norm > 0:
        theta *= config.fixed_norm / np.linalg.norm(theta)
    return theta.astype(config.dtype), layout


def predicted_delay(w0: float, w_c: float, lr: float, wd: float) -> float:
    """t* = ln(w0 / w_c) / (lr wd): the steps decoupled decay needs to take a fitted network's
    norm from w0 to w_c (0 when w0 <= w_c: nothing to wait for; inf without decay)."""
    if w0 <= w_c:
        return 0.0
    return math.inf if lr * wd == 0 else math.log(w0 / w_c) / (lr * wd)


@dataclass(frozen=True, kw_only=True)
class OmnigrokResult(TrainResult):
    """One training run of the Omnigrok MLP: the fields of :class:`efftheory.models.base.TrainResult`
    plus the weight norm. T = number of recorded steps.

    Attributes (beyond TrainResult's, which read for this model as follows):
        config: the :class:`OmnigrokConfig`; split: the :class:`~efftheory.tasks.images.ImageSplit`.
        train_loss, test_loss: (T,) mean loss over the whole training split / test set.
        rqi, predicted_test_acc: (T,) NaN: the images enter the MLP directly, there are no
            embeddings and no structure to measure (kept so code written for every model reads this one).
        embeddings: (T, 0, 0); E0, E_final: (0, 0) (no embeddings).
        steps_to_train, steps_to_test: first *recorded* step with train / test accuracy >= 0.9,
            None if never; steps_to_rqi: None.
        steps_run: updates applied (for a diverged run, its last recorded step).
        weight_norm: (T,) ||theta||_2 of all parameters at each recorded step.
        w0: the initial weight norm (weight_norm[0]).
        theta: (n_params,) the final parameters.
    """

    weight_norm: np.ndarray
    w0: float
    theta: np.ndarray

    @property
    def final_full_acc(self) -> float:
        """Accuracy over the training split and the test set together at the last recorded step."""
        n, m = self.split.n_train, self.split.task.n_test
        return float((self.train_acc[-1] * n + self.test_acc[-1] * m) / (n + m))

    def extra_records(self) -> dict[str, np.ndarray]:
        """The weight norm at every recorded step (:meth:`TrainResult.extra_records`)."""
        return {"weight_norm": self.weight_norm}

    def summary(self) -> dict:
        """The scalar results as a JSON-ready dict."""
        c = self.config
        return {"task": self.split.task.name, "n_train": self.split.n_train, "n_test": self.split.task.n_test,
                "width": c.width, "depth": c.depth, "loss": c.loss, "alpha": c.alpha, "lr": c.lr, "wd": c.wd,
                "batch_size": c.batch_size, "fixed_norm": c.fixed_norm, "seed": c.seed, "w0": self.w0,
                "steps_to_train": self.steps_to_train, "steps_to_test": self.steps_to_test, "phase": self.phase,
                "steps_run": self.steps_run, "diverged": self.diverged,
                "final_train_acc": float(self.train_acc[-1]), "final_test_acc": float(self.test_acc[-1]),
                "final_train_loss": float(self.train_loss[-1]), "final_test_loss": float(self.test_loss[-1]),
                "final_weight_norm": float(self.weight_norm[-1]), "seconds": self.seconds}


class _Problem:
    """The arrays the kernels need for one split and config."""

    def __init__(self, split: ImageSplit, config: OmnigrokConfig):
        require(isinstance(split, ImageSplit), f"split must be an ImageSplit, got {type(split).__name__}")
        task = split.task
        self.theta, self.layout = init_params(task.n_inputs, task.n_classes, config)
        dtype = self.theta.dtype
        self.Xtr = np.ascontiguousarray(split.train_x, dtype=dtype)
        self.ytr = np.ascontiguousarray(split.train_y, dtype=np.int64)
        self.Xte = np.ascontiguousarray(split.test_x, dtype=dtype)
        self.yte = np.ascontiguousarray(split.test_y, dtype=np.int64)
        nt = split.n_train
        self.batch = nt if config.batch_size == 0 else min(config.batch_size, nt)
        dims = self.layout.dims
        self.acts = np.zeros(self.batch * int(dims.sum()), dtype=dtype)
        self.eval_acts = np.zeros(max(nt, self.Xte.shape[0]) * int(dims.sum()), dtype=dtype)
        self.gbuf1 = np.zeros(self.batch * int(dims.max()), dtype=dtype)
        self.gbuf2 = np.zeros_like(self.gbuf1)
        self.is_ce = config.loss == "ce"


class _BatchOrder:
    """Batches of a seeded stream of permutations of 0..n-1, ``size`` indices each."""

    def __init__(self, n: int, size: int, seed: int):
        self.n, self.size = n, size
        self.rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(2)[1])
        self.buffer = np.empty(0, dtype=np.int64)

    def take(self, count: int) -> np.ndarray:
        """The next ``count`` batches, (count, size) int64."""
        need = count * self.size
        while self.buffer.size < need:
            self.buffer = np.concatenate([self.buffer, self.rng.permutation(self.n).astype(np.int64)])
        out, self.buffer = self.buffer[:need], self.buffer[need:]
        return out.reshape(count, self.size)


def loss_and_gradient(split: ImageSplit, config: OmnigrokConfig, theta: np.ndarray | None = None):
    """Mean training loss over the whole split and its gradient (n_params,) at ``theta``
    (default: the initial parameters), through the kernels the training loop uses."""
    prob = _Problem(split, config)
    theta = prob.theta if theta is None else np.ascontiguousarray(theta, dtype=prob.theta.dtype)
    require(theta.shape == prob.theta.shape, f"theta must have shape {prob.theta.shape}, got {theta.shape}")
    lay = prob.layout
    n = split.n_train
    acts = np.zeros(n * int(lay.dims.sum()), dtype=theta.dtype)
    g1 = np.zeros(n * int(lay.dims.max()), dtype=theta.dtype)
    grad = np.zeros_like(theta)
    loss = K._gradient_step(theta, grad, lay.dims, lay.w_off, lay.b_off, lay.a_off, acts, g1, np.zeros_like(g1),
                            prob.Xtr, prob.ytr, np.arange(n, dtype=np.int64), prob.is_ce)
    return float(loss), grad


def update_flops(dims, rows: int) -> int:
    """Matrix-product FLOPs of one update on ``rows`` images: 2 rows d_in d_out per layer forward,
    twice that backward (the input and weight gradients), so 6 rows sum(d_in d_out)."""
    dims = [int(d) for d in dims]
    return 6 * int(rows) * sum(a * b for a, b in zip(dims, dims[1:]))


def train_omnigrok(split: ImageSplit, config: OmnigrokConfig | None = None, steps: int = 1000, *,
                   eval_every: int = 10, gap: float = DEFAULT_GAP, progress=None, until=None,
                   threads: int | None = None) -> OmnigrokResult:
    """Train the Omnigrok MLP on ``split`` for ``steps`` updates (module docstring).

    ``progress``, if given, is called as ``progress(n)`` with the number of steps just done. A
    run whose loss or weight norm becomes non-finite stops there with phase "diverged".
    ``until``, if given, is called between chunks of steps as ``until(steps, test_acc,
    weight_norm)`` on the records so far (arrays (T,)); the run stops after the chunk where it
    returns True (the last step run is then recorded only if it is a multiple of eval_every).
    ``threads``: BLAS threads of the run (None: :mod:`efftheory.runtime.threads`' policy from
    :func:`update_flops`; one thread for digits at width 200).
    """
    config = OmnigrokConfig() if config is None else config
    require(isinstance(config, OmnigrokConfig), f"config must be an OmnigrokConfig, got {type(config).__name__}")
    _check_int("steps", steps, 1)
    _check_int("eval_every", eval_every, 1)
    check_threads(threads)
    start = time.perf_counter()
    prob = _Problem(split, config)
    theta, lay = prob.theta, prob.layout
    w0 = float(np.linalg.norm(theta.astype(np.float64)))
    m, v, grad = np.zeros_like(theta), np.zeros_like(theta), np.zeros_like(theta)
    c = np.zeros(8, theta.dtype)
    shuffled = config.batch_size > 0
    order = _BatchOrder(split.n_train, prob.batch, config.seed) if shuffled else None
    full = np.arange(split.n_train, dtype=np.int64)[None, :]
    rec = Records.allocate(steps, eval_every, K.N_REC_COLS, n_first=2)

    def run_chunk(t0, t1):
        batches = order.take(t1 - t0) if shuffled else full
        return K._train_chunk(theta, m, v, grad, lay.dims, lay.w_off, lay.b_off, lay.a_off, prob.acts,
                              prob.eval_acts, prob.gbuf1, prob.gbuf2, prob.Xtr, prob.ytr, prob.Xte, prob.yte,
                              batches, shuffled, prob.is_ce, config.lr, config.wd, c, t0, t1, steps,
                              eval_every, config.fixed_norm, ACC_THRESHOLD, rec.f, rec.pos, rec.first)

    def stop():
        r = rec.f[: rec.rows]
        return until(r[:, 0], r[:, 4], r[:, 5])

    n_threads = threads_for(update_flops(lay.dims, prob.batch), threads)
    with compute_threads(n_threads):
        outcome, done = run_in_chunks(run_chunk, steps, _CHUNK, rec, progress, None if until is None else stop)
    r = rec.f[: rec.rows]
    t_train, t_test = rec.firsts()
    diverged = outcome == K.DIVERGED
    T = r.shape[0]
    return OmnigrokResult(
        config=config, split=split, steps=r[:, 0].astype(np.int64), train_loss=r[:, 1].copy(),
        test_loss=r[:, 2].copy(), train_acc=r[:, 3].copy(), test_acc=r[:, 4].copy(), weight_norm=r[:, 5].copy(),
        rqi=np.full(T, np.nan), predicted_test_acc=np.full(T, np.nan), embeddings=np.zeros((T, 0, 0)),
        E0=np.zeros((0, 0)), E_final=np.zeros((0, 0)), steps_to_rqi=None, gap=gap,
        w0=w0, steps_to_train=t_train, steps_to_test=t_test, phase=phase_of(t_train, t_test, gap, diverged),
        steps_run=done, diverged=diverged, theta=theta.copy(),
        seconds=time.perf_counter() - start, threads=n_threads)
