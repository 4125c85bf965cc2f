"""The linear theory as a :class:`~efftheory.theories.base.Theory` (registered as ``linear``)."""

from __future__ import annotations

import numpy as np

from efftheory.theories.base import Score, Structure, Theory, register_theory
from efftheory.theories.linear.dynamics import time_scale
from efftheory.theories.linear.metrics import DEFAULT_DELTA, predicted_accuracy, rqi
from efftheory.theories.linear.simulation import simulate
from efftheory.theories.linear.theory import linear_theory


class Linear(Theory):
    """Embeddings E (p, d) whose parallelograms E_a + E_b = E_c + E_d hold (docs/theory.md §3-§9)."""

    name = "linear"
    metric = "RQI"
    rate_name = "λ3"

    def structure(self, split) -> Structure:
        th = linear_theory(split)
        return Structure(theory=self.name, n_constraints=int(th.n_parallelograms), dof=int(th.dof),
                         rate=th.grokking_rate, ideal_test_accuracy=th.ideal_test_accuracy, unique=bool(th.unique))

    def score(self, embeddings, split, delta: float = DEFAULT_DELTA) -> Score:
        """RQI (the share of all parallelograms that hold within δ) and the predicted test
        accuracy Âcc (§7) of ``embeddings`` (..., p, d)."""
        value = np.asarray(rqi(embeddings, delta=delta, task=split.task), dtype=np.float64)
        test, _ = predicted_accuracy(embeddings, split, delta=delta)
        return Score(self.metric, value, np.asarray(test, dtype=np.float64))

    def time_scale(self, structure: Structure, embeddings, lr: float) -> float | None:
        """τ = Z0 / (2 η λ3) in steps at learning rate η (docs/theory.md §8), Z0 = ‖E‖²_F of
        the first record of ``embeddings`` ((p, d) or (T, p, d)) as given; None when the split
        has no rate (dof > 0, or p = 2)."""
        first = np.asarray(embeddings, dtype=np.float64)
        first = first[0] if first.ndim == 3 else first
        return time_scale(structure.rate, float(np.sum(first**2)), lr)

    def simulate(self, split, *, trials: int = 8, seed: int = 0, steps=None, n_times: int = 200, progress=None,
                 **options):
        """:func:`efftheory.theories.linear.simulation.simulate` of the split's linear theory;
        ``options``: dim, init_scale, lr, method, dt, delta."""
        return simulate(linear_theory(split), trials=trials, seed=seed, steps=steps, n_times=n_times,
                        progress=progress, **options)


LINEAR = register_theory(Linear())
