"""A network trained on modular addition, read as a ring and set beside the circle theory (docs/theory.md §13).

The network's embeddings E (p, d), d >= 2, are read as phases by :func:`efftheory.theories.circle.ring.ring_fit`
(normalised per dimension, projected on their two leading principal components, phase = angle in
that plane). At every evaluated step this gives the ring's frequency, its coherence, the share of
the variance the plane holds, and the circle RQI of the phases on the full table.

The network has *formed a ring* (``ringed``) when the circle RQI of its final phases is at least
:data:`efftheory.theories.circle.ring.RING_RQI_THRESHOLD` (0.95): at least 95% of all modular parallelograms
hold within κ = 0.3 of the ring spacing. That implies a ring of some frequency f ≠ 0 (collapsed
phases score 0, :func:`efftheory.theories.circle.ring.collapsed`), and it is the same score the circle theory's
own runs are held to. The coherence and the variance share are reported beside it, not used.

The theory's prediction for the run. The circle flow starts from the phases of the network's own
initial embeddings E0, read the same way (E0 normalised, its own leading PCA plane). That plane
uses nothing from the end of training, so the prediction is made from the start alone; for d = 2
it is the whole embedding plane. Gradient descent on ℓ_circ of the network's training set runs
until it comes to rest (:func:`efftheory.theories.circle.flow.settle`), and the end state is classified
(ring / collapsed / stalled / fits-without-ring). The prediction holds when the network ringed,
the flow ended in a ring, and the two frequencies are equal up to the mirror f -> p - f (the same
ring traversed the other way; a PCA plane has no preferred orientation, so signs are not compared).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from efftheory.theories.circle.flow import DEFAULT_GTOL, settle
from efftheory.theories.circle.ring import (
    RING_RQI_THRESHOLD,
    circle_rqi,
    fit_phases,
    modular_quads,
    ring_fit,
    ring_frequency,
)
from efftheory.errors import require
from efftheory.stats import step_or_none, first_at_or_above
from efftheory.tasks import ModularAddition

#: The circle flow from the network's E0 gets at most this many gradient-descent steps to come to rest.
THEORY_MAX_STEPS = 100_000


@dataclass(frozen=True)
class NetworkRing:
    """The ring a modular-addition network forms, and the circle theory from its own start.

    T is the number of evaluated steps of the run.

    Attributes:
        p: the modulus.
        steps: (T,) int64 evaluated steps.
        phases: (T, p) phases of the fitted plane at each step (NaN where no plane could be fitted:
            a constant dimension or a non-finite embedding).
        frequency: (T,) int64 signed ring frequency of those phases (|f| <= p/2; 0 where no fit);
            the sign depends on the orientation of each step's PCA basis and means nothing here.
        coherence: (T,) coherence at that frequency (1 on an exact ring; NaN where no fit).
        variance_explained: (T,) share of the normalised embeddings' variance in the plane (1 for d = 2).
        circle_rqi: (T,) circle RQI of the phases on the full table (0 where no fit).
        ringed: final circle RQI >= 0.95 (module docstring).
        steps_to_ring: first evaluated step with circle RQI >= 0.95, None if never.
        theta0: (p,) phases of E0 in E0's leading PCA plane: where the theory starts.
        theory_theta: (p,) where the circle flow came to rest.
        theory_outcome: "ring", "collapsed", "stalled" or "fits-without-ring".
        theory_frequency: signed frequency of the flow's end state (0 when collapsed).
        theory_coherence: its coherence.
        theory_rqi: circle RQI of the end state on the full table.
        theory_steps: gradient-descent steps the flow took; theory_converged: it came to rest.
        frequency_match: |final frequency| == |theory_frequency| when the network ringed and the
            flow ended in a ring; None when either did not (nothing to compare).
    """

    p: int
    steps: np.ndarray = field(repr=False)
    phases: np.ndarray = field(repr=False)
    frequency: np.ndarray = field(repr=False)
    coherence: np.ndarray = field(repr=False)
    variance_explained: np.ndarray = field(repr=False)
    circle_rqi: np.ndarray = field(repr=False)
    ringed: bool
    steps_to_ring: int | None
    theta0: np.ndarray = field(repr=False)
    theory_theta: np.ndarray = field(repr=False)
    theory_outcome: str
    theory_frequency: int
    theory_coherence: float
    theory_rqi: float
    theory_steps: int
    theory_converged: bool
    frequency_match: bool | None

    @property
    def final_frequency(self) -> int:
        """|f| of the network's last evaluated step (0 where no plane could be fitted)."""
        return abs(int(self.frequency[-1]))

    @property
    def final_circle_rqi(self) -> float:
        return float(self.circle_rqi[-1])

    def to_dict(self) -> dict:
        """The scalar fields and the final fit (no per-step arrays), JSON-ready."""
        return {
            "ringed": self.ringed, "steps_to_ring": self.steps_to_ring,
            "ring_frequency": self.final_frequency, "ring_coherence": _float(self.coherence[-1]),
            "ring_variance_explained": _float(self.variance_explained[-1]), "ring_circle_rqi": self.final_circle_rqi,
            "theory_outcome": self.theory_outcome, "theory_frequency": abs(self.theory_frequency),
            "theory_coherence": self.theory_coherence, "theory_circle_rqi": self.theory_rqi,
            "theory_steps": self.theory_steps, "theory_converged": self.theory_converged,
            "frequency_match": self.frequency_match,
        }


def _float(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def network_ring(result, *, max_steps: int = THEORY_MAX_STEPS, gtol: float = DEFAULT_GTOL) -> NetworkRing:
    """Read a :class:`efftheory.models.base.TrainResult` on unordered modular addition as a ring, and run
    the circle theory from its initial embeddings on its training set (module docstring).

    Needs d >= 2 (a ring needs a plane) and finite initial embeddings with two non-constant
    dimensions; later steps that cannot be fitted (a diverged run) count as no ring.
    """
    split = getattr(result, "split", None)
    require(split is not None and isinstance(split.task, ModularAddition) and not split.task.ordered,
            "the circle theory needs a run on unordered modular addition (--task modadd)")
    require(result.config.dim >= 2, f"a ring needs a plane: the embedding dimension must be >= 2, got {result.config.dim}")
    p = split.p
    phases, coh, var = fit_phases(result.embeddings)
    ok = np.all(np.isfinite(phases), axis=1)
    freq = np.zeros(len(phases), np.int64)
    rqi = np.zeros(len(phases))
    if ok.any():
        f, _ = ring_frequency(phases[ok])
        freq[ok] = f
        rqi[ok] = circle_rqi(phases[ok], modular_quads(p))
    steps = np.asarray(result.steps, dtype=np.int64)
    theta0 = ring_fit(result.E0).phases  # E0's own leading PCA plane (nothing from the end of training)
    rest = settle(theta0, split.train_pairs, max_steps=max_steps, gtol=gtol)
    th = rest.theta[0]
    outcome = str(rest.outcomes[0])
    th_f, th_coh = ring_frequency(th)
    th_f = 0 if outcome == "collapsed" else int(th_f)
    ringed = bool(rqi[-1] >= RING_RQI_THRESHOLD)
    match = None
    if ringed and outcome == "ring":
        match = abs(int(freq[-1])) == abs(th_f)
    return NetworkRing(
        p=p, steps=steps, phases=phases, frequency=freq, coherence=coh, variance_explained=var, circle_rqi=rqi,
        ringed=ringed, steps_to_ring=step_or_none(first_at_or_above(steps, rqi, RING_RQI_THRESHOLD)),
        theta0=theta0, theory_theta=th, theory_outcome=outcome, theory_frequency=th_f,
        theory_coherence=float(th_coh), theory_rqi=float(circle_rqi(th, modular_quads(p))),
        theory_steps=int(rest.steps[0]), theory_converged=bool(rest.converged[0]), frequency_match=match,
    )


__all__ = ["NetworkRing", "network_ring", "fit_phases"]
