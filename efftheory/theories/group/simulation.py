"""The matrix flow of one training split of a group from Haar-random starts (``efftheory simulate
--task s3``): the flow, the score of its end states and their outcomes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from efftheory.errors import require
from efftheory.stats import wilson_interval
from efftheory.tasks import FiniteGroup, Split, as_int
from efftheory.theories.group.flow import DEFAULT_GTOL, DEFAULT_MAX_STEPS, GroupFlow, group_flow
from efftheory.theories.group.loss import DEFAULT_K, group_quads, haar_rotations
from efftheory.theories.group.score import OUTCOMES, GroupScore, classify, score_matrices


@dataclass(frozen=True)
class GroupSimulation:
    """The flow of one training split of a group from B Haar-random starts (``simulate --task s3``).

    Attributes:
        split: the :class:`Split`; k: rotation size; n_quads: Q of the training set.
        flow: the :class:`GroupFlow` (loss over steps and flow time included).
        score: the :class:`GroupScore` of the final states on the full table (train loss on the split).
        outcomes: (B,) str, one of :data:`OUTCOMES`.
        fraction, ci_low, ci_high: outcome -> fraction of the B starts and its Wilson 95% bounds.
    """

    split: Split
    k: int
    n_quads: int
    flow: GroupFlow
    score: GroupScore
    outcomes: np.ndarray
    fraction: dict
    ci_low: dict
    ci_high: dict


def simulate_group(split: Split, *, trials: int = 8, seed: int = 0, k: int = DEFAULT_K,
                   max_steps: int = DEFAULT_MAX_STEPS, gtol: float = DEFAULT_GTOL, n_record: int = 60,
                   progress=None) -> GroupSimulation:
    """The flow on ``split``'s quads from ``trials`` Haar-random starts (``default_rng([seed, 1])``),
    each end state scored against the full table and classified. ``progress(n)``: as for
    :func:`~efftheory.theories.group.flow.group_flow`, told as n more starts are done."""
    require(isinstance(split, Split) and isinstance(split.task, FiniteGroup),
            "the matrix theory runs on a split of a FiniteGroup (e.g. make_task('s3').split(...))")
    trials, k = as_int(trials, "trials", 1), as_int(k, "k", 2)
    quads = group_quads(split.task, split.train)
    M0 = haar_rotations((trials, split.p), k, np.random.default_rng([as_int(seed, "seed", 0), 1]))
    flow = group_flow(M0, quads, max_steps=max_steps, gtol=gtol, n_record=n_record, progress=progress)
    score = score_matrices(split.task, flow.M, split.train)
    outcomes = np.atleast_1d(classify(flow.loss, score.full_loss, score.min_distance))
    counts = {o: int(np.sum(outcomes == o)) for o in OUTCOMES}
    bounds = {o: wilson_interval(counts[o], trials) for o in OUTCOMES}
    return GroupSimulation(split=split, k=k, n_quads=int(quads.shape[0]), flow=flow, score=score, outcomes=outcomes,
                           fraction={o: counts[o] / trials for o in OUTCOMES},
                           ci_low={o: bounds[o][0] for o in OUTCOMES}, ci_high={o: bounds[o][1] for o in OUTCOMES})
