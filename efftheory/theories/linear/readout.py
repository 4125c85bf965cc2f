"""The linear theory's reading of a representation over steps (docs/theory.md §7).

Each record E (p, d) is normalised per dimension and scored by its RQI (the fraction of every
parallelogram of the table that holds within δ_p) and by the predicted accuracy Âcc (a test
sample counts when a parallelogram with a training sample of its sum holds). Both are the
metrics the toy network records at every evaluated step (:mod:`efftheory.metrics`), applied to
any stack of embeddings.
"""

from __future__ import annotations

import numpy as np

from efftheory.metrics import DEFAULT_DELTA, RQI_THRESHOLD, predicted_accuracy, rqi
from efftheory.tasks import Split
from efftheory.theories.track import StructureTrack, read_tokens, vector_stack


def linear_track(E, split: Split, reading: str = "raw", delta: float = DEFAULT_DELTA) -> StructureTrack:
    """RQI and predicted accuracy of every record of E ((p, d) or (T, p, d)) on ``split``
    (a constant dimension makes a record's RQI 0, docs/theory.md §7). ``reading`` "layernorm"
    standardises each token's embedding first (:func:`efftheory.theories.track.read_tokens`)."""
    stack = read_tokens(vector_stack(E, split.p), reading)
    score = np.atleast_1d(np.asarray(rqi(stack, delta, task=split.task), dtype=np.float64))
    test, full = (np.atleast_1d(np.asarray(x, dtype=np.float64)) for x in predicted_accuracy(stack, split, delta))
    return StructureTrack(
        theory="linear", metric_name="RQI", metric=score, threshold=RQI_THRESHOLD,
        predicted_test_acc=test, predicted_full_acc=full,
        final={"rqi": float(score[-1]), "dim": int(stack.shape[2]), "delta": float(delta)},
    )


def linear_summary(split: Split, critical_trials: int = 2000, progress=None) -> dict:
    """The linear theory of the split (§3-§6): parallelograms, dof, grokking rate λ3, ideal
    accuracy, and the critical fraction r_c of the task (``critical_trials`` random orders,
    None for 0) with the side of it the split lies on."""
    from efftheory.critical import critical_curve
    from efftheory.theory import linear_theory

    th = linear_theory(split)
    out = {"theory": "linear", "n_parallelograms": th.n_parallelograms, "dof": th.dof, "unique": th.unique,
           "rate": th.grokking_rate, "rate_name": "λ3", "ideal_test_accuracy": th.ideal_test_accuracy,
           "ideal_full_accuracy": th.ideal_full_accuracy}
    return {**out, **critical_side(split, critical_trials, critical_curve, progress)}


def critical_side(split: Split, trials: int, curve_of, progress=None) -> dict:
    """r_c of the split's task from ``curve_of(task, trials, 0, progress)`` and the side of it
    the split lies on ("above", "below", "at"; None when r_c is not reached or trials is 0)."""
    if not trials:
        return {"critical_fraction": None, "critical_trials": 0, "critical_side": None}
    r_c = curve_of(split.task, trials, 0, progress).r_c
    side = None if r_c is None else "above" if split.frac > r_c else "below" if split.frac < r_c else "at"
    return {"critical_fraction": r_c, "critical_trials": int(trials), "critical_side": side}


def linear_time_scale(summary: dict, E, lr: float) -> float | None:
    """τ = Z0 / (2 η λ3) in steps at learning rate η (§8), Z0 = ‖E‖²_F of the first record of E
    ((p, d) or (T, p, d)) as given; None when the split has no rate (dof > 0 or p = 2)."""
    from efftheory.dynamics import time_scale

    first = np.asarray(E, dtype=np.float64)
    first = first[0] if first.ndim == 3 else first
    return time_scale(summary["rate"], float(np.sum(first**2)), lr)
