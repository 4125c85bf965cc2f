"""Training the transformer: full-batch AdamW on one split of addition mod p, evaluated every
``eval_every`` steps, the ring read off the embeddings along the run (:func:`train_transformer`);
the loss, gradient and logits of a parameter vector."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from efftheory.errors import check_float, check_int, require
from efftheory.models.base import TrainResult
from efftheory.models.chunks import Records, run_in_chunks
from efftheory.models.dropout import base_key, step_key
from efftheory.phases import ACC_THRESHOLD, DEFAULT_GAP, phase_of
from efftheory.models.shared_kernels import DIVERGED, divergence_limit, head
from efftheory.models.transformer.config import TransformerConfig
from efftheory.models.transformer.kernels import ACC_FULL, _backward, _forward, _train_chunk, _update
from efftheory.models.transformer.layout import LOGITS, NO_KEY, Layout, _activation_table, _view, init_params
from efftheory.models.transformer.ops import LN_EPS
from efftheory.runtime.threads import check_threads, compute_threads, threads_for
from efftheory.stats import first_at_or_above, step_or_none
from efftheory.tasks import ModularAddition, Split
from efftheory.theories.circle.ring import circle_rqi, modular_quads, ring_fit
from efftheory.theories.linear.metrics import normalize
from efftheory.theories.track import standardise_tokens

#: circle RQI (docs/theory.md §13) of the fitted ring at which the ring counts as formed
RING_RQI = 0.95


_CHUNK = 100  # steps per kernel call between progress updates


def _hyper(config: TransformerConfig) -> np.ndarray:
    """(embed lr, embed wd, decoder lr, decoder wd) as the kernels take them."""
    return np.array([config.embed_lr, config.embed_wd, config.decoder_lr, config.decoder_wd], dtype=np.float64)


class _Problem:
    """Arrays the kernels need for one split and config: the training samples and the test
    samples each with their own token indices, labels and activation buffer."""

    def __init__(self, split: Split, config: TransformerConfig):
        require(isinstance(split, Split), f"split must be a Split, got {type(split).__name__}")
        require(isinstance(split.task, ModularAddition),
                f"the transformer learns modular addition; got a {type(split.task).__name__} split")
        require(config.dim >= 2, f"dim must be >= 2 for LayerNorm to carry information, got {config.dim}")
        self.p = split.p
        self.theta, self.layout = init_params(self.p, config)
        self.nt, self.n_test = split.n_train, split.n_test
        self.rate, self.key_base = float(config.dropout), base_key(config.seed)
        dtype = self.theta.dtype
        self.sets = {}
        for name, idx in (("train", split.train), ("test", split.test)):
            pairs = split.task.pairs[idx]
            aoff, size = _activation_table(max(idx.size, 1), self.layout, name == "train" and self.rate > 0)
            self.sets[name] = (aoff, np.zeros(size, dtype), np.ascontiguousarray(pairs[:, 0]),
                               np.ascontiguousarray(pairs[:, 1]), split.task.labels[idx].astype(np.int64))
        d, w = config.dim, config.width
        R = 2 * self.nt
        self.gx, self.gh, self.go = (np.zeros(R * d, dtype) for _ in range(3))
        self.gqkv = np.zeros(R * 3 * d, dtype)
        self.gu = np.zeros(R * w, dtype)
        self.gbuf = np.zeros(self.nt * self.p, dtype)
        self.templates = np.zeros((self.p, 0), dtype)  # the CE head of network.head reads no template
        self.eps = dtype.type(LN_EPS)

    def forward(self, theta, which: str, step: int | None = None):
        """Logits (n, p) of the ``which`` ("train" or "test") samples (a view into its buffer);
        with dropout and a ``step``, the training pass with that step's masks."""
        lay = self.layout
        aoff, acts, pi, pj, _ = self.sets[which]
        n = pi.size
        rate, key = self._dropout(step)
        _forward(theta, lay.block_off, lay.head_off, aoff, acts, pi, pj, n, self.p, lay.dim, lay.width, self.eps,
                 rate, key)
        return _view(acts, aoff[LOGITS, 0], n, self.p)

    def _dropout(self, step: int | None) -> tuple[float, np.uint64]:
        if step is None or self.rate == 0.0:
            return 0.0, NO_KEY
        return self.rate, np.uint64(step_key(self.key_base, step))  # numba hands back a Python int

    def loss_and_gradient(self, theta, step: int | None = None):
        lay = self.layout
        aoff, acts, pi, pj, labels = self.sets["train"]
        out = self.forward(theta, "train", step)
        G = _view(self.gbuf, 0, self.nt, self.p)
        loss, _ = head(out, labels, self.templates, True, 0, self.nt, G, True, 1.0 / self.nt)
        grad = np.zeros_like(theta)
        _backward(theta, grad, lay.block_off, lay.head_off, aoff, acts, self.gx, self.gh, self.gqkv,
                  self.go, self.gu, G, pi, pj, self.nt, self.p, lay.dim, lay.width, self._dropout(step)[0])
        return loss / self.nt, grad


def _check_theta(theta, prob: _Problem) -> np.ndarray:
    if theta is None:
        return prob.theta
    theta = np.ascontiguousarray(theta, dtype=prob.theta.dtype)
    require(theta.shape == prob.theta.shape, f"theta must have shape {prob.theta.shape}, got {theta.shape}")
    return theta


def loss_and_gradient(split: Split, config: TransformerConfig, theta: np.ndarray | None = None, *,
                      dropout_step: int | None = None):
    """Mean training loss and its gradient with respect to the flat parameters.

    ``theta`` (n_params,) in the layout of :func:`init_params` (default: the initial parameters
    of ``config``). Without ``dropout_step`` the network runs without dropout; with it (and
    ``config.dropout`` > 0) the loss is that of the dropout masks the training loop draws at
    step ``dropout_step``, for which the loss is a fixed function of θ. Returns ``(loss,
    grad)``, grad (n_params,): the kernel path of the training loop, exposed for checks against
    finite differences and the numpy twin.
    """
    if dropout_step is not None:
        check_int("dropout_step", dropout_step, 0)
    prob = _Problem(split, config)
    return prob.loss_and_gradient(_check_theta(theta, prob), dropout_step)


def logits(split: Split, config: TransformerConfig, theta: np.ndarray | None = None) -> np.ndarray:
    """(N, p) logits of every sample of the task, in the task's order (``split.task.pairs``)."""
    prob = _Problem(split, config)
    theta = _check_theta(theta, prob)
    res = np.empty((split.task.n_samples, split.p))
    res[split.train] = prob.forward(theta, "train")
    if split.n_test:
        res[split.test] = prob.forward(theta, "test")
    return res


def adamw_update(theta, grad, m, v, step: int, layout: Layout, config: TransformerConfig) -> None:
    """The training loop's AdamW update, in place: group 1 = θ[:layout.n_embed] (embeddings,
    ``embed_lr``, ``embed_wd``), group 2 = the rest (decoder). ``step`` counts from 1."""
    check_int("step", step, 1)
    arrays = (theta, grad, m, v)
    require(all(isinstance(a, np.ndarray) and a.shape == (layout.n_params,) and a.dtype == theta.dtype
                and a.flags.c_contiguous for a in arrays),
            f"theta, grad, m, v must be contiguous ({layout.n_params},) arrays of one dtype")
    _update(theta, grad, m, v, step, layout.n_embed, _hyper(config), np.ones(8, theta.dtype))


@dataclass(frozen=True, kw_only=True)
class TransformerResult(TrainResult):
    """One training run of the transformer: the fields of :class:`efftheory.models.base.TrainResult`
    plus the ring read off the embeddings. T = number of evaluated steps.

    Attributes (beyond TrainResult's, which read for the transformer as follows):
        config: the :class:`TransformerConfig`.
        train_loss, test_loss: (T,) mean cross-entropy over training / test samples.
        rqi: (T,) circle RQI (docs/theory.md §13) of the phases of the ring fitted to E.
        predicted_test_acc: (T,) NaN: the additive predicted accuracy of §7 has no meaning for a
            ring (kept so that code written for the toy's results reads this one).
        embeddings: (T, p, d) float64 normalised embeddings (per dimension, as the toy's).
        steps_to_train, steps_to_test, steps_to_rqi: first *evaluated* step reaching the level.
        raw_embeddings: (T, p, d) float64 embeddings E as trained.
        ring_frequency, ring_coherence, ring_variance: (T,) the :func:`efftheory.theories.circle.ring.ring_fit`
            (PCA plane) of E at each evaluated step: signed frequency, coherence, variance share.
        theta_final: (n_params,) all parameters at the last step run (layout :class:`Layout`).
        steps_to_test_99: first evaluated step with test accuracy >= 0.99 (None if never).
    """

    raw_embeddings: np.ndarray
    ring_frequency: np.ndarray
    ring_coherence: np.ndarray
    ring_variance: np.ndarray
    theta_final: np.ndarray
    steps_to_test_99: int | None


def ring_track(raw_embeddings: np.ndarray) -> dict:
    """Ring fits (PCA plane) of a trajectory E (T, p, d): (T,) frequency, coherence, variance
    share and circle RQI of the fitted phases on every parallelogram of the full table.

    The fit reads each token's embedding standardised first (:func:`standardise_tokens`): the
    network only ever sees E_a through LayerNorm, so a common offset or a token's norm is
    invisible to it, and without this step a large shared component hides the ring."""
    T, p, _ = raw_embeddings.shape
    raw_embeddings = standardise_tokens(raw_embeddings)
    freq = np.zeros(T, np.int64)
    coh, var, phases = np.full(T, np.nan), np.full(T, np.nan), np.zeros((T, p))
    ok = np.zeros(T, bool)
    for i, E in enumerate(raw_embeddings):
        if not np.all(np.isfinite(E)) or np.sum(np.ptp(E, axis=0) > 0) < 2:
            continue  # a diverged or collapsed record has no ring
        fit = ring_fit(E)
        freq[i], coh[i], var[i], phases[i], ok[i] = fit.frequency, fit.coherence, fit.variance_explained, fit.phases, True
    rqi = np.full(T, np.nan)
    if ok.any():
        rqi[ok] = circle_rqi(phases[ok], modular_quads(p))
    return {"frequency": freq, "coherence": coh, "variance": var, "rqi": rqi}


#: random draws behind :func:`random_ring_coherence`
RANDOM_RING_DRAWS = 200


def random_ring_coherence(p: int, d: int, draws: int = RANDOM_RING_DRAWS, seed: int = 0) -> tuple[float, float]:
    """The coherence a ring fit finds in embeddings that hold no ring: (mean, standard deviation)
    over ``draws`` embeddings E ~ N(0, 1) of shape (p, d), the transformer's own initialisation,
    each read exactly as :func:`ring_track` reads a network's (tokens standardised, PCA plane,
    best frequency). The fit maximises over p - 1 frequencies, so even random phases score well
    above 0 (about sqrt(log p / p) for i.i.d. uniform phases); an initial coherence near this
    mean is what no structure looks like."""
    E = np.random.default_rng(seed).standard_normal((draws, p, d))
    coh = np.array([ring_fit(e).coherence for e in standardise_tokens(E)])
    return float(coh.mean()), float(coh.std(ddof=1))

def train_transformer(split: Split, config: TransformerConfig | None = None, steps: int = 5000, *,
                      eval_every: int = 1, gap: float = DEFAULT_GAP, stop_at_full: bool = False,
                      progress=None, threads: int | None = None) -> TransformerResult:
    """Train the transformer on a modular-addition ``split`` for ``steps`` full-batch updates.

    Steps 0, eval_every, 2 eval_every, ... and ``steps`` are evaluated on the parameters after
    that many updates, before the next one (the toy's convention). With ``stop_at_full`` the run
    ends at the first evaluated step with train and test accuracy both >= 0.99. A run whose
    training loss or parameters leave the floating-point range stops there with phase
    "diverged". ``progress(n)`` is called with the number of steps just done. ``threads``: BLAS
    and numba threads (default: efftheory.runtime.threads' policy from
    :meth:`TransformerConfig.flops_per_step`: one for the default size, every allowed core for the
    paper's). The result depends only on ``config`` and ``split``.
    """
    config = TransformerConfig() if config is None else config
    require(isinstance(config, TransformerConfig), f"config must be a TransformerConfig, got {type(config).__name__}")
    check_int("steps", steps, 1)
    check_int("eval_every", eval_every, 1)
    check_threads(threads)
    check_float("gap", gap, False)
    start = time.perf_counter()
    prob = _Problem(split, config)
    theta, lay = prob.theta, prob.layout
    p, d = prob.p, config.dim
    E0 = theta[: lay.n_embed].reshape(p, d).astype(np.float64)
    grad, m, v = np.zeros_like(theta), np.zeros_like(theta), np.zeros_like(theta)
    rec = Records.allocate(steps, eval_every, 5, (p, d))
    hyper = _hyper(config)

    def run_chunk(t0, t1):
        return _train_chunk(theta, m, v, grad, lay.block_off, lay.head_off, *prob.sets["train"][:2], prob.gx,
                            prob.gh, prob.gqkv, prob.go, prob.gu, prob.gbuf, *prob.sets["train"][2:],
                            *prob.sets["test"], prob.templates, prob.nt, prob.n_test, p, d, config.width,
                            prob.eps, hyper, prob.rate, prob.key_base,
                            t0, t1, steps, eval_every, stop_at_full, rec.f, rec.emb, rec.pos,
                            divergence_limit(theta.dtype))

    n_threads = threads_for(config.flops_per_step(prob.nt, p), threads)
    with compute_threads(n_threads):
        outcome, _ = run_in_chunks(run_chunk, steps, _CHUNK, rec, progress)
        # the records' metrics on the run's threads too: their numba kernels are parallel, and
        # for a few records of a small run, waking a thread pool outside this block cost 2 to 40 ms
        # of wall clock per run (measured at p = 23 on a busy 2-core machine), up to a tenth of a
        # 300-step run's time; a record's numbers do not depend on the thread count
        k = rec.rows
        raw = rec.emb[:k].copy()
        ring = ring_track(raw)
        embeddings = normalize(raw)
    r = rec.f[:k]
    steps_arr = r[:, 0].astype(np.int64)
    first = lambda values, level: step_or_none(first_at_or_above(steps_arr, values, level))  # noqa: E731
    t_train, t_test = first(r[:, 3], ACC_THRESHOLD), first(r[:, 4], ACC_THRESHOLD)
    diverged = outcome == DIVERGED
    return TransformerResult(
        config=config, steps=steps_arr, train_loss=r[:, 1].copy(), test_loss=r[:, 2].copy(),
        train_acc=r[:, 3].copy(), test_acc=r[:, 4].copy(), rqi=ring["rqi"], predicted_test_acc=np.full(k, np.nan),
        embeddings=embeddings, raw_embeddings=raw, ring_frequency=ring["frequency"],
        ring_coherence=ring["coherence"], ring_variance=ring["variance"], E0=E0,
        E_final=theta[: lay.n_embed].reshape(p, d).astype(np.float64), theta_final=theta.copy(),
        steps_to_train=t_train, steps_to_test=t_test, steps_to_test_99=first(r[:, 4], ACC_FULL),
        steps_to_rqi=first(np.nan_to_num(ring["rqi"], nan=0.0), RING_RQI),
        phase=phase_of(t_train, t_test, gap, diverged), steps_run=int(steps_arr[-1]),
        seconds=time.perf_counter() - start, split=split, gap=gap, diverged=diverged, threads=n_threads,
    )
