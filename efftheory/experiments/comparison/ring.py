"""Networks on addition mod p read as rings, over a grid of training fractions and seeds, against
the circle theory (``efftheory compare --task modadd``, docs/theory.md §13): one typed record per
run (:class:`RingRun`) and the summary of a grid (:class:`RingSummary`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from efftheory.models.toy.config import NetworkConfig
from efftheory.models.toy.model import MODADD_CONFIG
from efftheory.models.toy.training import train_network
from efftheory.stats import wilson_interval
from efftheory.theories.linear.metrics import DEFAULT_DELTA


@dataclass(frozen=True)
class RingRun:
    """One network of a modular-addition grid, read as a ring and set beside the circle theory (picklable).

    Attributes:
        n_train, seed: the split (and network seed); frac: n_train / N.
        free_directions: p − 1 − rank H_mod of the split (0: the ring is locally unique).
        final_train_acc, final_test_acc: at the last step; generalised: test accuracy reached 0.9.
        steps_to_test, phase, diverged: from the training run.
        ringed, steps_to_ring, ring_frequency (|f|), ring_coherence, ring_circle_rqi,
            ring_variance_explained: the network's final ring fit (:class:`efftheory.experiments.network_ring.NetworkRing`).
        theory_outcome, theory_frequency (|f|, 0 when collapsed): the circle flow from the
            network's own initial phases on its training set.
        frequency_match: the network's |f| equals the theory's (None unless both formed a ring).
        seconds: wall time of the training run.
    """

    n_train: int
    seed: int
    frac: float
    free_directions: int
    final_train_acc: float
    final_test_acc: float
    generalised: bool
    steps_to_test: int | None
    phase: str
    diverged: bool
    ringed: bool
    steps_to_ring: int | None
    ring_frequency: int
    ring_coherence: float | None
    ring_circle_rqi: float
    ring_variance_explained: float | None
    theory_outcome: str
    theory_frequency: int
    frequency_match: bool | None
    seconds: float

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def run_ring_one(task, n_train: int, seed: int, steps: int, config: NetworkConfig = MODADD_CONFIG,
                 delta: float = DEFAULT_DELTA) -> RingRun:
    """Train one network on ``task`` (unordered :class:`efftheory.tasks.ModularAddition`) with split
    and network seeded by ``seed``, and score its ring against the circle theory from its own E0."""
    from efftheory.experiments.network_ring import network_ring
    from efftheory.theories.circle.ring import modular_quads
    from efftheory.theories.circle.theory import circle_linear_theory

    split = task.split(n_train=n_train, seed=seed)
    config = dataclasses.replace(config, seed=seed)
    result = train_network(split, config, steps, delta=delta)
    ring = network_ring(result).to_dict()
    free = circle_linear_theory(task.p, modular_quads(task.p, split.train_pairs)).free_directions
    return RingRun(
        n_train=n_train, seed=seed, frac=split.frac, free_directions=free,
        final_train_acc=float(result.train_acc[-1]), final_test_acc=float(result.test_acc[-1]),
        generalised=result.steps_to_test is not None, steps_to_test=result.steps_to_test, phase=result.phase,
        diverged=result.diverged, ringed=ring["ringed"], steps_to_ring=ring["steps_to_ring"],
        ring_frequency=ring["ring_frequency"], ring_coherence=ring["ring_coherence"],
        ring_circle_rqi=ring["ring_circle_rqi"], ring_variance_explained=ring["ring_variance_explained"],
        theory_outcome=ring["theory_outcome"], theory_frequency=ring["theory_frequency"],
        frequency_match=ring["frequency_match"], seconds=result.seconds,
    )


@dataclass(frozen=True)
class RingSummary:
    """Networks' ring formation on modular addition against the circle theory, per training-set size.

    Lists run over the sizes n (sorted); every rate comes with its Wilson 95% interval (``*_ci``).

    Attributes:
        p, runs, diverged (left out of everything else).
        n, frac: training-set sizes and their fractions n / N.
        ring_rate: fraction of networks that formed a ring (final circle RQI >= 0.95).
        generalised_rate: fraction whose test accuracy reached 0.9; mean_test_acc: mean final test accuracy.
        flow_ring_rate: fraction whose circle flow from the network's own initial phases ended in a ring.
        theory_ring_probability: the circle theory's ring probability at n from uniform random
            phases on random training sets (:func:`efftheory.theories.circle.probability.ring_probability`), with its
            interval; None where not computed.
        match_rate: among the runs where both the network and its flow formed a ring, the fraction
            whose frequencies agree (|f| equal); match_counts: (agreeing, compared) per n.
        match_total: (agreeing, compared) over all sizes, match_total_rate and its interval.
        chance_match: the agreement two independent uniform draws of |f| in 1..⌊p/2⌋ would give,
            1 / ⌊p/2⌋.
    """

    p: int
    runs: int
    diverged: int
    n: list[int]
    frac: list[float]
    ring_rate: list[float]
    ring_ci: list[tuple[float, float]]
    generalised_rate: list[float]
    generalised_ci: list[tuple[float, float]]
    mean_test_acc: list[float]
    flow_ring_rate: list[float]
    flow_ring_ci: list[tuple[float, float]]
    theory_ring_probability: list[float | None]
    theory_ring_ci: list[tuple[float, float] | None]
    match_rate: list[float | None]
    match_ci: list[tuple[float, float] | None]
    match_counts: list[tuple[int, int]]
    match_total: tuple[int, int]
    match_total_rate: float | None
    match_total_ci: tuple[float, float] | None
    chance_match: float

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _rate(k: int, n: int) -> tuple[float | None, tuple[float, float] | None]:
    return (k / n, tuple(wilson_interval(k, n))) if n else (None, None)


def summarise_rings(runs, p: int, n_samples: int, ring_probabilities: dict | None = None) -> RingSummary:
    """The ring comparisons over a grid of :class:`RingRun` (see :class:`RingSummary`).

    ``ring_probabilities`` maps a training-set size n to the
    :class:`efftheory.theories.circle.probability.RingProbability` at that size (optional). Diverged runs are counted
    and left out.
    """
    ok = [r for r in runs if not r.diverged]
    ns = sorted({r.n_train for r in ok})
    by_n = {n: [r for r in ok if r.n_train == n] for n in ns}
    probs = ring_probabilities or {}
    out = {k: [] for k in ("ring_rate", "ring_ci", "generalised_rate", "generalised_ci", "mean_test_acc",
                           "flow_ring_rate", "flow_ring_ci", "theory_ring_probability", "theory_ring_ci",
                           "match_rate", "match_ci", "match_counts")}
    for n in ns:
        rs = by_n[n]
        for key, k in (("ring", sum(r.ringed for r in rs)), ("generalised", sum(r.generalised for r in rs)),
                       ("flow_ring", sum(r.theory_outcome == "ring" for r in rs))):
            rate, ci = _rate(k, len(rs))
            out[f"{key}_rate"].append(rate)
            out[f"{key}_ci"].append(ci)
        out["mean_test_acc"].append(float(np.mean([r.final_test_acc for r in rs])))
        prob = probs.get(n)
        out["theory_ring_probability"].append(None if prob is None else prob.fraction["ring"])
        out["theory_ring_ci"].append(None if prob is None else (prob.ci_low["ring"], prob.ci_high["ring"]))
        compared = [r for r in rs if r.frequency_match is not None]
        agree = sum(bool(r.frequency_match) for r in compared)
        rate, ci = _rate(agree, len(compared))
        out["match_rate"].append(rate)
        out["match_ci"].append(ci)
        out["match_counts"].append((agree, len(compared)))
    total = (sum(a for a, _ in out["match_counts"]), sum(c for _, c in out["match_counts"]))
    rate, ci = _rate(*total)
    return RingSummary(p=int(p), runs=len(runs), diverged=len(runs) - len(ok), n=ns,
                       frac=[n / n_samples for n in ns], match_total=total, match_total_rate=rate,
                       match_total_ci=ci, chance_match=1.0 / (p // 2), **out)
