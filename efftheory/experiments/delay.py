"""The generalisation delay of the Omnigrok MLP: predicted from the weight norm, and measured.

Prediction (the LU picture, efftheory/models/omnigrok.py): a network started at norm w0 above
the test-loss minimum w_c fits at once; decoupled decay then shrinks its norm as
w(t) ≈ w0 exp(-lr wd t), and the test accuracy rises when w reaches about w_c, at

    t* = ln(w0 / w_c) / (lr wd)        (0 when w0 <= w_c).

Measurement, per run: ``t_test``, the first recorded step with test accuracy >= 0.9, and, to
tell the two halves of the argument apart, ``t_norm``, the first recorded step with w <= w_c
(does the norm follow the exponential law?) and ``w_at_test``, the norm at t_test (is w_c where
the test accuracy rises?). ``predicted_edge`` is the same rule with w_c replaced by ``w_edge``,
the largest norm of the landscape whose test accuracy is >= 0.9 when given.

A run stops once t_test is known and either t_norm is known or t* + 1000 steps have run
(checked every 500 steps; a norm that grows, as at alpha = 1, never reaches w_c), or at its
budget: t_norm = None then means "not by t* + 1000 steps" (or the budget).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from efftheory.errors import require
from efftheory.tasks.images import ImageTask
from efftheory.models.omnigrok.training import OmnigrokConfig, init_params, predicted_delay, train_omnigrok
from efftheory.runtime.parallel import pmap


@dataclass(frozen=True)
class DelayRun:
    """One run: its settings, prediction and measurements (steps; None = not within the budget)."""

    alpha: float
    wd: float
    seed: int
    w0: float
    predicted: float
    predicted_edge: float | None
    t_train: int | None
    t_test: int | None
    t_norm: int | None
    w_at_test: float | None
    final_test_acc: float
    steps_run: int
    seconds: float

    def to_json(self) -> dict:
        return dict(self.__dict__)


def _first(steps: np.ndarray, mask: np.ndarray) -> int | None:
    hit = np.flatnonzero(mask)
    return int(steps[hit[0]]) if hit.size else None


def _one(task: ImageTask, train_num: int, config: OmnigrokConfig, w_c: float, w_edge: float | None, max_steps: int,
         eval_every: int) -> DelayRun:
    split = task.split(train_num, config.seed)
    theta0, _ = init_params(task.n_inputs, task.n_classes, config)
    patience = predicted_delay(float(np.linalg.norm(theta0.astype(np.float64))), w_c, config.lr, config.wd) + 1000

    def done(steps, test_acc, norm):
        return bool(np.any(test_acc >= 0.9) and (np.any(norm <= w_c) or steps[-1] >= patience))

    res = train_omnigrok(split, config, max_steps, eval_every=eval_every, until=done)
    t_norm = _first(res.steps, res.weight_norm <= w_c)
    w_at = None if res.steps_to_test is None else float(res.weight_norm[np.searchsorted(res.steps, res.steps_to_test)])
    edge = None if w_edge is None else predicted_delay(res.w0, w_edge, config.lr, config.wd)
    return DelayRun(alpha=config.alpha, wd=config.wd, seed=config.seed, w0=res.w0,
                    predicted=predicted_delay(res.w0, w_c, config.lr, config.wd), predicted_edge=edge,
                    t_train=res.steps_to_train, t_test=res.steps_to_test, t_norm=t_norm, w_at_test=w_at,
                    final_test_acc=float(res.test_acc[-1]), steps_run=res.steps_run, seconds=res.seconds)


def delay_runs(task: ImageTask, train_num: int, w_c: float, alphas, wds, seeds=(0, 1, 2), *,
               config: OmnigrokConfig | None = None, w_edge: float | None = None, max_steps: int = 40000,
               eval_every: int = 100, jobs: int = 1, progress=None) -> list[DelayRun]:
    """One run per (alpha, wd, seed) with ``config``'s other settings (module docstring); the
    seed draws the split and the initialisation. ``progress(1)`` after every run."""
    require(w_c > 0, f"w_c must be positive, got {w_c!r}")
    base = OmnigrokConfig() if config is None else config
    tasks = [(task, train_num, replace(base, alpha=float(a), wd=float(g), seed=int(s)), float(w_c), w_edge,
              max_steps, eval_every) for a in alphas for g in wds for s in seeds]
    return pmap(_one, tasks, jobs, progress=progress)


def _summary(values) -> dict:
    v = [x for x in values if x is not None]
    if not v:
        return {"median": None, "low": None, "high": None, "reached": 0}
    return {"median": float(np.median(v)), "low": float(min(v)), "high": float(max(v)), "reached": len(v)}


def delay_table(runs: list[DelayRun]) -> list[dict]:
    """Per (alpha, wd): the runs' count and median / range (over seeds) of the prediction, of the
    measured t_test and t_norm, and of the norm at t_test (``reached`` counts runs that got there)."""
    keys = sorted({(r.alpha, r.wd) for r in runs})
    table = []
    for a, g in keys:
        group = [r for r in runs if (r.alpha, r.wd) == (a, g)]
        table.append({"alpha": a, "wd": g, "runs": len(group),
                      "predicted": _summary([r.predicted for r in group]),
                      "predicted_edge": _summary([r.predicted_edge for r in group]),
                      "t_train": _summary([r.t_train for r in group]),
                      "t_test": _summary([r.t_test for r in group]),
                      "t_norm": _summary([r.t_norm for r in group]),
                      "w_at_test": _summary([r.w_at_test for r in group])})
    return table


def edge_norm(norms: np.ndarray, test_acc: np.ndarray, level: float = 0.9) -> float | None:
    """The largest norm of a landscape grid whose test accuracy (median over seeds of (S, K)) is
    >= ``level``: above it, the fitted network does not yet reach that accuracy."""
    acc = np.median(np.atleast_2d(test_acc), axis=0)
    ok = np.flatnonzero(acc >= level)
    return float(np.asarray(norms)[ok[-1]]) if ok.size else None
