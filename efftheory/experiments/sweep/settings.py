"""What every run of a sweep shares (:class:`SweepSettings`): the task and its split, the budget,
the phase gap, the seeds, early stopping and the model's fixed config fields."""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass, field

from efftheory.errors import require
from efftheory.experiments.sweep.grid import MAX_RUNS, Grid


@dataclass(frozen=True)
class SweepSettings:
    """What every cell shares.

    ``p``/``n_train`` (or ``frac``) define the split (a ``frac`` axis overrides them per cell);
    ``seed`` is the split seed; ``seeds`` the network seeds every cell runs with (None: just
    ``seed``, the one-seed sweep); ``vary_split`` gives the run of network seed ``s`` the split
    of seed ``s`` instead of ``seed``. ``steps`` is the budget, ``gap`` the phase gap G in
    steps, ``delta`` the RQI threshold; ``eval_every`` the record stride of cell functions that
    keep records (:func:`network_cell` keeps none and measures its step counts at every step,
    whatever it is); ``early_stop`` ends a run once both accuracies reached 0.9 (its
    phase is then decided); ``network`` holds further :class:`efftheory.models.toy.config.NetworkConfig`
    fields fixed for every cell (e.g. ``{"loss": "ce"}``, or the matrix model of Fig 5d).
    ``task`` names the task (:func:`efftheory.tasks.make_task`; ``"s3"`` needs p = 6).
    Defaults are the paper's toy: addition, p = 10, n_train = 45 of N = 55, budget 1e4 steps,
    seed 0.
    """

    p: int = 10
    n_train: int | None = 45
    frac: float | None = None
    steps: int = 10_000
    gap: float = 1e3
    seed: int = 0
    delta: float = 0.01
    eval_every: int = 1
    early_stop: bool = True
    network: dict = field(default_factory=dict)
    seeds: tuple | None = None
    vary_split: bool = False
    task: str = "add"

    def __post_init__(self) -> None:
        from efftheory.tasks import TASKS

        require(self.task in TASKS, f"task must be one of {', '.join(TASKS)}, got {self.task!r}")
        if self.task != "add":  # refuse a p the task cannot have (s3: 6) before anything runs
            self.make_task()
        require(isinstance(self.p, numbers.Integral) and self.p >= 2, f"p must be >= 2, got {self.p!r}")
        require(isinstance(self.steps, numbers.Integral) and self.steps >= 1, f"steps must be >= 1, got {self.steps!r}")
        require(math.isfinite(self.gap) and self.gap >= 0, f"gap must be >= 0, got {self.gap!r}")
        require(self.delta > 0, f"delta must be > 0, got {self.delta!r}")
        require(isinstance(self.eval_every, numbers.Integral) and self.eval_every >= 1,
                f"eval_every must be >= 1, got {self.eval_every!r}")
        if self.frac is not None:  # a training fraction replaces the default n_train
            object.__setattr__(self, "n_train", None)
        clash = sorted(set(self.network) & {"seed"})
        require(not clash, "the network seeds are the sweep's seeds; do not set network['seed']")
        require(_seed_ok(self.seed), f"seed must be a non-negative integer, got {self.seed!r}")
        if self.seeds is not None:
            require(not hasattr(self.seeds, "__len__") or len(self.seeds) <= MAX_RUNS,
                    f"{len(self.seeds)} seeds is above the most a sweep may run ({MAX_RUNS} runs)")
            seeds = tuple(self.seeds)
            require(len(seeds) >= 1, "seeds must not be empty")
            for s in seeds:
                require(_seed_ok(s), f"seeds: {s!r} is not a non-negative integer")
            require(len(set(seeds)) == len(seeds), f"seeds {list(seeds)} repeat a seed")
            object.__setattr__(self, "seeds", tuple(int(s) for s in seeds))

    @property
    def network_seeds(self) -> tuple[int, ...]:
        """The network seeds every cell runs with, in order."""
        return self.seeds if self.seeds is not None else (int(self.seed),)

    def split_seed(self, network_seed: int) -> int:
        """The split seed of the run with ``network_seed``."""
        return int(network_seed) if self.vary_split else int(self.seed)

    def run_fixed(self, network_seed: int) -> dict:
        """The ``fixed`` dict a cell function gets for one network seed."""
        return {**self.to_dict(), "seed": int(network_seed), "split_seed": self.split_seed(network_seed)}

    def for_grid(self, grid: Grid) -> "SweepSettings":
        """These settings with the fields a grid axis overrides cleared (so the manifest is exact)."""
        names = {grid.x.name, grid.y.name}
        changes = {}
        if "frac" in names:
            changes.update(n_train=None, frac=None)
        network = {k: v for k, v in self.network.items() if k not in names}
        return dataclasses.replace(self, network=network, **changes)

    def check_grid(self, grid: Grid) -> None:
        """Refuse a grid whose training fractions leave an empty training or test set."""
        task = self.make_task()
        if "frac" in (grid.x.name, grid.y.name):
            axis = grid.x if grid.x.name == "frac" else grid.y
            for f in axis.values:
                n = task.n_train_for(frac=f)
                require(n < task.n_samples, f"frac={f!r} leaves no test sample at p={self.p}")
        else:
            n = task.n_train_for(frac=self.frac, n_train=None) if self.frac is not None else task.n_train_for(n_train=self.n_train)
            require(n < task.n_samples, f"n_train={n} leaves no test sample at p={self.p}")

    def make_task(self):
        """The :class:`~efftheory.tasks.Task` every cell trains on."""
        from efftheory.tasks import make_task

        return make_task(self.task, self.p)

    def to_dict(self) -> dict:
        return {
            "p": int(self.p),
            "n_train": None if self.n_train is None else int(self.n_train),
            "frac": None if self.frac is None else float(self.frac),
            "steps": int(self.steps),
            "gap": float(self.gap),
            "seed": int(self.seed),
            "delta": float(self.delta),
            "eval_every": int(self.eval_every),
            "early_stop": bool(self.early_stop),
            "network": dict(sorted(self.network.items())),
            "seeds": list(self.network_seeds),
            "vary_split": bool(self.vary_split),
            # only a task other than addition is written, so that addition sweeps keep their manifests
            **({"task": self.task} if self.task != "add" else {}),
        }


def _seed_ok(seed) -> bool:
    return isinstance(seed, numbers.Integral) and not isinstance(seed, bool) and seed >= 0
