"""The circle theory as a :class:`~efftheory.theories.base.Theory` (registered as ``circle``)."""

from __future__ import annotations

import numpy as np

from efftheory.theories.base import Score, Structure, Theory, register_theory
from efftheory.theories.circle.ring import circle_rqi, fit_phases, modular_quads
from efftheory.theories.circle.simulation import simulate_ring
from efftheory.theories.linear.theory import linear_theory

#: default horizon of the circle flow, in gradient-descent steps at lr = 1/λ_max(Ĥ_mod)
RING_STEPS = 20_000


class Circle(Theory):
    """Phases θ_a on a circle whose parallelograms θ_a + θ_b = θ_c + θ_d (mod 2π) hold: a ring
    θ_a = θ0 + 2π f a / p (docs/theory.md §13)."""

    name = "circle"
    metric = "circle RQI"

    def structure(self, split) -> Structure:
        """The linearisation at a ring: its Hessian is the linear theory's with the task's one
        structural null direction (the global rotation), so the split's linear theory gives the
        ring's free directions (dof), its rate and the ideal accuracy."""
        th = linear_theory(split)
        return Structure(theory=self.name, n_constraints=int(th.n_parallelograms), dof=int(th.dof),
                         rate=th.grokking_rate, ideal_test_accuracy=th.ideal_test_accuracy, unique=bool(th.unique))

    def score(self, embeddings, split) -> Score:
        """Circle RQI of the phases read off ``embeddings`` (..., p, d), d >= 2, by the PCA ring
        fit (:func:`~efftheory.theories.circle.ring.fit_phases`); NaN where no plane can be
        fitted. The circle theory predicts no test accuracy of a ring: NaN."""
        E = np.asarray(embeddings, dtype=np.float64)
        lead, (p, d) = E.shape[:-2], E.shape[-2:]
        phases, _, _ = fit_phases(E.reshape(-1, p, d))
        value = np.full(phases.shape[0], np.nan)
        ok = np.all(np.isfinite(phases), axis=1)
        if ok.any():
            value[ok] = circle_rqi(phases[ok], modular_quads(split.p))
        return Score(self.metric, value.reshape(lead), np.full(lead, np.nan))

    def simulate(self, split, *, trials: int = 8, seed: int = 0, steps=None, n_times: int = 200, progress=None,
                 **options):
        """:func:`~efftheory.theories.circle.simulation.simulate_ring`: gradient descent on ℓ_circ
        from uniform random phases, for ``steps`` (default :data:`RING_STEPS`)."""
        sim = simulate_ring(split, trials=trials, seed=seed, steps=steps or RING_STEPS, n_times=n_times, **options)
        if progress is not None:
            progress(1)
        return sim


CIRCLE = register_theory(Circle())
