"""Training the toy network: full-batch AdamW on one split, every metric measured at every step,
the run stopped on divergence (:func:`train_network`), and the loss and gradient of a
parameter vector (:func:`loss_and_gradient`)."""

from __future__ import annotations

import time

import numpy as np

from efftheory.errors import check_float, check_int, require
from efftheory.models.base import TrainResult
from efftheory.models.chunks import Records, run_in_chunks
from efftheory.phases import DEFAULT_GAP, phase_of
from efftheory.models.shared_kernels import DIVERGED, divergence_limit, head
from efftheory.models.toy.config import NetworkConfig
from efftheory.models.toy.kernels import _backward, _forward, _train_chunk, init_params
from efftheory.runtime.threads import check_threads, compute_threads, threads_for
from efftheory.tasks import Split
from efftheory.theories.linear.metrics import DEFAULT_DELTA, MATRIX_THRESHOLD, implied_arrays, threshold
from efftheory.tasks.parallelograms import count_equal_result_pairs, count_parallelograms

_CHUNK = 500  # steps per kernel call between progress updates


class _Problem:
    """Arrays the kernels need for one split and config (samples ordered train first)."""

    def __init__(self, split: Split, config: NetworkConfig):
        self.theta, self.layout, self.templates = init_params(split.p, config, split.task.n_classes)
        order = np.concatenate([split.train, split.test])
        pairs = split.task.pairs[order]
        self.pi = np.ascontiguousarray(pairs[:, 0])
        self.pj = np.ascontiguousarray(pairs[:, 1])
        self.labels = split.task.labels[order].astype(np.int64)
        self.N, self.nt, self.d = split.task.n_samples, split.n_train, config.dim
        dims = self.layout.dims
        dtype = self.theta.dtype
        self.acts = np.zeros(self.N * int(dims.sum()), dtype=dtype)
        self.gbuf1 = np.zeros(self.nt * int(dims.max()), dtype=dtype)
        self.gbuf2 = np.zeros_like(self.gbuf1)
        self.is_ce = config.loss == "ce"
        self.fast = dtype == np.float32
        self.side, self.l1 = config.side, float(config.embed_l1)

    def metric_arrays(self, split: Split) -> tuple:
        """Arrays of the RQI / predicted-accuracy kernels (samples indexed as in the task).

        |P0| counts the parallelograms of the model's RQI: those with a non-zero additive
        constraint for the sum model, every pair of distinct equal-label samples for the
        matrix model ((a, b) and (b, a) of commuting a, b constrain M_a M_b = M_b M_a).
        """
        task = split.task
        every = task.classes()
        count = count_equal_result_pairs if self.side else count_parallelograms
        n_par = count(task, np.arange(task.n_samples))
        return (every.pairs_of(task), every.ptr, n_par, *implied_arrays(split))

    def threshold(self, p: int, delta: float) -> float:
        """The holding threshold of the model's RQI: δ_p (sum) or the paper's fixed 0.5 (matrix)."""
        return MATRIX_THRESHOLD if self.side else threshold(p, delta)


def loss_and_gradient(split: Split, config: NetworkConfig, theta: np.ndarray | None = None):
    """Mean training loss and its gradient with respect to the flat parameters.

    ``theta`` (n_params,) in the layout of :func:`init_params` (default: the initial
    parameters of ``config``); returns ``(loss, grad)`` with grad (n_params,). The loss is the
    whole objective: the head's mean loss plus ``embed_l1 * mean |E|``. This is the kernel path
    the training loop uses, exposed for checks against finite differences.
    """
    prob = _Problem(split, config)
    theta = prob.theta if theta is None else np.ascontiguousarray(theta, dtype=prob.theta.dtype)
    require(theta.shape == prob.theta.shape, f"theta must have shape {prob.theta.shape}, got {theta.shape}")
    lay = prob.layout
    nt, no = prob.nt, int(lay.dims[-1])
    one = theta.dtype.type(1)
    _forward(theta, lay.dims, lay.w_off, lay.b_off, lay.a_off, prob.acts, prob.pi, prob.pj, nt, prob.d, one, prob.fast,
             prob.side)
    L = lay.dims.size - 1
    out = prob.acts[lay.a_off[L] * nt : (lay.a_off[L] + no) * nt].reshape(nt, no)
    G = prob.gbuf1[: nt * no].reshape(nt, no)
    loss, _ = head(out, prob.labels, prob.templates, prob.is_ce, 0, nt, G, True, 1.0 / nt)
    grad = np.zeros_like(theta)
    _backward(theta, grad, lay.dims, lay.w_off, lay.b_off, lay.a_off, prob.acts, prob.gbuf1, prob.gbuf2,
              prob.pi, prob.pj, nt, nt, prob.d, one, prob.side, prob.l1)
    loss = loss / nt
    if prob.l1 > 0.0:
        loss += prob.l1 * float(np.abs(theta[: lay.n_embed].astype(np.float64)).mean())
    return loss, grad


def _below_in(dtype, limit: float):
    """The largest number of ``dtype`` not above ``limit``: for x of that dtype, |x| <= it
    exactly when |x| <= limit, and the compare stays in the dtype."""
    value = dtype.type(limit)
    return value if value <= limit else np.nextafter(value, dtype.type(-np.inf))


def train_network(split: Split, config: NetworkConfig | None = None, steps: int = 5000, *,
                  eval_every: int = 1, delta: float = DEFAULT_DELTA, gap: float = DEFAULT_GAP,
                  stop_at_test: bool = False, progress=None, threads: int | None = None) -> TrainResult:
    """Train the toy network on ``split`` for ``steps`` full-batch updates.

    Steps 0, eval_every, 2 eval_every, ... and ``steps`` are recorded, each on the parameters
    after that many updates and before the next one (module docstring); the step counts are
    exact whatever ``eval_every``, and the trajectory is the same bit for bit. With
    ``stop_at_test`` the run ends at the first step where train and test accuracy are both
    >= 0.9 (its phase is then decided; that step is recorded). A run whose training loss or parameters become non-finite
    stops at that step (recorded) with phase "diverged"; so does one whose parameters exceed sqrt of the dtype's
    largest number (1.8e19 in float32), where their squares overflow. ``progress``, if given, is called as
    ``progress(n)`` with the number of steps just done. ``threads``: BLAS and numba threads
    (default: efftheory.runtime.threads' policy from :meth:`NetworkConfig.flops_per_step`, one
    thread for the paper's sizes). The result depends only on ``config`` and ``split``.
    """
    config = NetworkConfig() if config is None else config
    require(isinstance(config, NetworkConfig), f"config must be a NetworkConfig, got {type(config).__name__}")
    require(isinstance(split, Split), f"split must be a Split, got {type(split).__name__}")
    check_int("steps", steps, 1)
    check_int("eval_every", eval_every, 1)
    check_threads(threads)
    check_float("delta", delta, True)
    check_float("gap", gap, False)
    p = split.p
    start = time.perf_counter()

    prob = _Problem(split, config)
    theta, layout, templates = prob.theta, prob.layout, prob.templates
    E0 = theta[: layout.n_embed].reshape(p, config.dim).astype(np.float64)
    N, nt, d = prob.N, prob.nt, prob.d
    dims = layout.dims
    grad = np.zeros_like(theta)
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    metric_arrays = prob.metric_arrays(split)

    rec = Records.allocate(steps, eval_every, 7, (p, d), n_first=3)  # first: train / test / RQI thresholds
    limit = divergence_limit(theta.dtype)
    thresh = prob.threshold(p, delta)

    def run_chunk(t0, t1):
        return _train_chunk(
            theta, m, v, grad, dims, layout.w_off, layout.b_off, layout.a_off, prob.acts,
            prob.gbuf1, prob.gbuf2, prob.pi, prob.pj, prob.labels, templates, prob.is_ce, nt, N,
            p, d, config.embed_lr, config.embed_wd, config.decoder_lr, config.decoder_wd,
            t0, t1, steps, eval_every, stop_at_test, *metric_arrays, thresh, rec.f, rec.emb,
            rec.pos, rec.first, prob.fast,  # the Padé tanh is accurate to float32 only
            _below_in(theta.dtype, limit), prob.side, prob.l1,  # the model: input stage, L1 penalty
        )

    n_threads = threads_for(config.flops_per_step(p, N, nt, split.task.n_classes), threads)
    with compute_threads(n_threads):
        outcome, _ = run_in_chunks(run_chunk, steps, _CHUNK, rec, progress)
    k = rec.rows
    r = rec.f[:k]
    steps_arr = r[:, 0].astype(np.int64)
    t_train, t_test, t_rqi = rec.firsts()
    diverged = outcome == DIVERGED
    E_final = theta[: layout.n_embed].reshape(p, d).astype(np.float64)
    return TrainResult(
        config=config, steps=steps_arr, train_loss=r[:, 1].copy(), test_loss=r[:, 2].copy(),
        train_acc=r[:, 3].copy(), test_acc=r[:, 4].copy(), rqi=r[:, 5].copy(),
        predicted_test_acc=r[:, 6].copy(), embeddings=rec.emb[:k].copy(), E0=E0, E_final=E_final,
        steps_to_train=t_train, steps_to_test=t_test, steps_to_rqi=t_rqi,
        phase=phase_of(t_train, t_test, gap, diverged), steps_run=int(steps_arr[-1]),
        seconds=time.perf_counter() - start, split=split, gap=gap, diverged=diverged, threads=n_threads,
    )
