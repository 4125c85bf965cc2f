"""The reduced (LU) landscape of the Omnigrok MLP: losses and accuracies against a fixed weight norm.

For every weight norm w of a grid and every seed, the network is trained with its parameters put
back on the sphere ||theta|| = w after every update (``OmnigrokConfig.fixed_norm``), for a fixed
budget of steps, and the final training and test loss and accuracy are kept. The LU picture
says the training loss is L-shaped in w (low for every w above some value) and the test loss
U-shaped, lowest near a norm w_c; a network started above w_c fits at once and generalises only
when weight decay has brought its norm down to about w_c.

w_c of one seed is the minimum of that seed's test loss over the grid, refined by the vertex of
the parabola through the minimum and its two neighbours in ln w (the grid point itself at an end
of the grid). Over seeds, w_c is the median of the per-seed values and its interval their range
(min, max): with a handful of seeds that is what can honestly be said.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from efftheory.errors import require
from efftheory.tasks.images import ImageTask
from efftheory.models.omnigrok.training import OmnigrokConfig, train_omnigrok
from efftheory.runtime.parallel import pmap


@dataclass(frozen=True)
class LandscapeResult:
    """Final losses and accuracies on the sphere ||theta|| = w. K = grid size, S = seeds.

    Attributes:
        norms: (K,) the grid of w, increasing.
        seeds: (S,) split and initialisation seeds.
        train_loss, test_loss, train_acc, test_acc: (S, K) after ``steps`` updates.
        w_c_seeds: (S,) each seed's test-loss minimum (module docstring).
        w_c, w_c_low, w_c_high: median of w_c_seeds and its range over seeds.
        config: the configuration trained (fixed_norm and seed vary); train_num, steps.
    """

    norms: np.ndarray
    seeds: np.ndarray
    train_loss: np.ndarray
    test_loss: np.ndarray
    train_acc: np.ndarray
    test_acc: np.ndarray
    w_c_seeds: np.ndarray
    w_c: float
    w_c_low: float
    w_c_high: float
    config: OmnigrokConfig
    task: str
    train_num: int
    steps: int

    def to_json(self) -> dict:
        return {"task": self.task, "train_num": self.train_num, "steps": self.steps, "norms": self.norms.tolist(),
                "seeds": self.seeds.tolist(), "train_loss": self.train_loss.tolist(),
                "test_loss": self.test_loss.tolist(), "train_acc": self.train_acc.tolist(),
                "test_acc": self.test_acc.tolist(), "w_c_seeds": self.w_c_seeds.tolist(), "w_c": self.w_c,
                "w_c_interval": [self.w_c_low, self.w_c_high],
                "config": {k: getattr(self.config, k) for k in ("width", "depth", "loss", "lr", "wd", "batch_size",
                                                                 "dtype")}}


def loss_minimum(norms: np.ndarray, loss: np.ndarray) -> float:
    """The w minimising ``loss`` over the grid ``norms`` (K,), refined by the vertex of the
    parabola in ln w through the minimum and its neighbours (the grid point at an end).

    Non-finite losses never win. An exact parabola in ln w is recovered exactly.
    """
    norms = np.asarray(norms, dtype=np.float64)
    loss = np.where(np.isfinite(loss), np.asarray(loss, dtype=np.float64), np.inf)
    k = int(np.argmin(loss))
    if k == 0 or k == loss.size - 1 or not np.isfinite(loss[k - 1 : k + 2]).all():
        return float(norms[k])
    x = np.log(norms[k - 1 : k + 2])
    a, b, _ = np.polyfit(x, loss[k - 1 : k + 2], 2)
    if a <= 0:
        return float(norms[k])
    return float(np.exp(np.clip(-b / (2 * a), x[0], x[2])))


def _point(task: ImageTask, train_num: int, config: OmnigrokConfig, steps: int) -> tuple[float, float, float, float]:
    res = train_omnigrok(task.split(train_num, config.seed), config, steps, eval_every=steps)
    return (float(res.train_loss[-1]), float(res.test_loss[-1]), float(res.train_acc[-1]), float(res.test_acc[-1]))


def reduced_landscape(task: ImageTask, train_num: int, norms, seeds=(0, 1, 2), steps: int = 2000,
                      config: OmnigrokConfig | None = None, jobs: int = 1, progress=None) -> LandscapeResult:
    """Train on the sphere ||theta|| = w for every w in ``norms`` and every seed (module docstring).

    ``config`` gives everything but ``fixed_norm`` and ``seed`` (default: width 200, depth 3, MSE,
    AdamW lr 1e-3, no decay: on the sphere the decay is undone after every step anyway). The seed
    draws both the training split and the initialisation. ``progress(1)`` after every point.
    """
    norms = np.sort(np.asarray(norms, dtype=np.float64))
    require(norms.ndim == 1 and norms.size >= 3, f"need at least 3 weight norms, got {norms.size}")
    require(bool(np.all(np.isfinite(norms)) and norms[0] > 0), "weight norms must be positive numbers")
    require(len(set(norms.tolist())) == norms.size, "weight norms must be distinct")
    seeds = np.asarray(list(seeds), dtype=np.int64)
    require(seeds.size >= 1, "need at least one seed")
    base = OmnigrokConfig(wd=0.0) if config is None else config
    tasks = [(task, train_num, replace(base, fixed_norm=float(w), seed=int(s)), steps) for s in seeds for w in norms]
    out = np.array(pmap(_point, tasks, jobs, progress=progress), dtype=np.float64).reshape(seeds.size, norms.size, 4)
    w_c_seeds = np.array([loss_minimum(norms, out[i, :, 1]) for i in range(seeds.size)])
    return LandscapeResult(norms=norms, seeds=seeds, train_loss=out[..., 0], test_loss=out[..., 1],
                           train_acc=out[..., 2], test_acc=out[..., 3], w_c_seeds=w_c_seeds,
                           w_c=float(np.median(w_c_seeds)), w_c_low=float(w_c_seeds.min()),
                           w_c_high=float(w_c_seeds.max()), config=base, task=task.name, train_num=int(train_num),
                           steps=int(steps))


def default_norms(w_init: float, low: float = 0.25, high: float = 8.0, count: int = 12) -> np.ndarray:
    """``count`` norms spaced evenly in ln w from ``low`` to ``high`` times ``w_init``."""
    require(0 < low < high and count >= 3, "need 0 < low < high and at least 3 norms")
    return np.exp(np.linspace(math.log(low * w_init), math.log(high * w_init), count))
