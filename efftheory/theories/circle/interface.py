"""The circle theory as a :class:`~efftheory.theories.base.Theory` (registered as ``circle``)."""

from __future__ import annotations

import numpy as np

from efftheory.theories.base import Score, Structure, Theory, register_theory
from efftheory.theories.circle.ring import circle_rqi, fit_phases, modular_quads
from efftheory.theories.circle.simulation import simulate_ring
from efftheory.theories.circle.readout import phase_scores, ring_track
from efftheory.theories.linear.theory import linear_theory

#: default horizon of the circle flow, in gradient-descent steps at lr = 1/λ_max(Ĥ_mod)
RING_STEPS = 20_000


class Circle(Theory):
    """Phases θ_a on a circle whose parallelograms θ_a + θ_b = θ_c + θ_d (mod 2π) hold: a ring
    θ_a = θ0 + 2π f a / p (docs/theory.md §13)."""

    name = "circle"
    metric = "circle RQI"
    rate_name = "λ_min"

    def structure(self, split) -> Structure:
        """The linearisation at a ring: its Hessian is the linear theory's with the task's one
        structural null direction (the global rotation), so the split's linear theory gives the
        ring's free directions (dof), its rate and the ideal accuracy."""
        th = linear_theory(split)
        return Structure(theory=self.name, n_constraints=int(th.n_parallelograms), dof=int(th.dof),
                         rate=th.grokking_rate, ideal_test_accuracy=th.ideal_test_accuracy, unique=bool(th.unique))

    def score(self, embeddings, split) -> Score:
        """Circle RQI of the phases read off ``embeddings`` (..., p, d), d >= 2, by the PCA ring
        fit (:func:`~efftheory.theories.circle.ring.fit_phases`), and the test accuracy those
        phases predict (a test sample whose circle parallelogram with a training sample of its
        label holds, :mod:`~efftheory.theories.circle.readout`); NaN where no plane can be
        fitted."""
        E = np.asarray(embeddings, dtype=np.float64)
        lead, (p, d) = E.shape[:-2], E.shape[-2:]
        phases, _, _ = fit_phases(E.reshape(-1, p, d))
        value, test = phase_scores(phases, split)
        return Score(self.metric, value.reshape(lead), test.reshape(lead))

    def track(self, embeddings, split, reading: str = "raw"):
        """:func:`~efftheory.theories.circle.readout.ring_track`: the score of every record plus
        the ring's frequency, coherence, variance share and key Fourier frequencies."""
        return ring_track(embeddings, split, reading)

    def time_scale(self, structure: Structure, embeddings, lr: float) -> float | None:
        """1 / (η λ_min): the e-folding time, in steps at learning rate η, of the slowest
        deviation from a ring (docs/theory.md §13); None when the ring is not locally unique."""
        rate = structure.rate
        return None if rate is None or rate <= 0 else 1.0 / (lr * rate)

    def simulate(self, split, *, trials: int = 8, seed: int = 0, steps=None, n_times: int = 200, progress=None,
                 **options):
        """:func:`~efftheory.theories.circle.simulation.simulate_ring`: gradient descent on ℓ_circ
        from uniform random phases, for ``steps`` (default :data:`RING_STEPS`)."""
        sim = simulate_ring(split, trials=trials, seed=seed, steps=steps or RING_STEPS, n_times=n_times, **options)
        if progress is not None:
            progress(1)
        return sim


CIRCLE = register_theory(Circle())
