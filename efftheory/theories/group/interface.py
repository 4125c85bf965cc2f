"""The matrix theory of a finite group as a :class:`~efftheory.theories.base.Theory`
(registered as ``group``)."""

from __future__ import annotations

import math

import numpy as np

from efftheory.theories.base import Score, Structure, Theory, register_theory
from efftheory.theories.group.loss import DEFAULT_K, group_quads
from efftheory.theories.group.flow import DEFAULT_MAX_STEPS
from efftheory.theories.group.simulation import simulate_group
from efftheory.errors import require
from efftheory.theories.group.readout import matrix_columns, matrix_stack
from efftheory.theories.track import StructureTrack, full_accuracy
from efftheory.theories.linear.metrics import matrix_predicted_accuracy, matrix_rqi
from efftheory.theories.linear.theory import reachable_test_accuracy


class Group(Theory):
    """One rotation M_a in SO(k) per element with M_a M_b = M_c M_d for every pair of samples of
    equal product: a representation of the group (docs/theory.md §14)."""

    name = "group"
    metric = "matrix RQI"

    def structure(self, split) -> Structure:
        """The equal-product pairs the training set holds, and the reachable test accuracy (the
        share of test samples whose label and symbols occur in training: with the group's own
        matrices every such sample is implied). The constraints are bilinear, so there is no
        linear count of free directions or rate: None."""
        ideal = reachable_test_accuracy(split)
        return Structure(theory=self.name, n_constraints=int(group_quads(split.task, split.train).shape[0]), dof=None,
                         rate=None, ideal_test_accuracy=None if math.isnan(ideal) else ideal, unique=None)

    def score(self, embeddings, split) -> Score:
        """Matrix RQI and predicted test accuracy of ``embeddings`` (..., p, k, k), or
        (..., p, k²) flattened row-major (the toy's matrix model)."""
        M = np.asarray(embeddings, dtype=np.float64)
        matrices = M.ndim >= 3 and M.shape[-3] == split.p and M.shape[-1] == M.shape[-2]
        if not matrices:  # (..., p, k²), flattened row-major
            k = math.isqrt(M.shape[-1])
            M = M.reshape(*M.shape[:-1], k, k)
        value = np.asarray(matrix_rqi(M, split.task), dtype=np.float64)
        test, _ = matrix_predicted_accuracy(M, split)
        return Score(self.metric, value, np.asarray(test, dtype=np.float64))

    def track(self, embeddings, split, reading: str = "raw") -> StructureTrack:
        """Matrix RQI and predicted accuracy of every record of ``embeddings`` ((p, k, k),
        (T, p, k, k) or flattened (p, k²), (T, p, k²)), and how far each is from a
        representation (:func:`~efftheory.theories.group.readout.matrix_columns`: ℓ_grp over the
        full table, homomorphism error, smallest distance between images). Matrices are read as
        given: a LayerNorm reading has no meaning for a product of matrices."""
        require(reading == "raw", f"matrix embeddings are read as given; the reading {reading!r} does not apply")
        stack = matrix_stack(embeddings, split.p)
        score = self.score(stack, split)
        test = np.asarray(score.predicted_test_accuracy, dtype=np.float64)
        cols = matrix_columns(stack, split)
        metric = np.asarray(score.value, dtype=np.float64)
        return StructureTrack(theory=self.name, metric_name=self.metric, metric=metric, threshold=self.threshold,
                              predicted_test_acc=test, predicted_full_acc=full_accuracy(test, split), columns=cols,
                              final={"matrix_rqi": float(metric[-1]), "k": int(stack.shape[-1]),
                                     **{name: float(v[-1]) for name, v in cols.items()}})

    def simulate(self, split, *, trials: int = 8, seed: int = 0, steps=None, n_times: int = 60, progress=None,
                 **options):
        """:func:`~efftheory.theories.group.simulation.simulate_group`: Riemannian descent from
        Haar-random rotations for at most ``steps`` accepted steps (default 20000);
        ``options``: k (default 3), gtol."""
        options.setdefault("k", DEFAULT_K)
        return simulate_group(split, trials=trials, seed=seed, max_steps=steps or DEFAULT_MAX_STEPS, n_record=n_times,
                              progress=progress, **options)


GROUP = register_theory(Group())
