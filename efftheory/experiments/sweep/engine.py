"""Phase-diagram sweeps: a two-axis grid of toy-network runs over seeds (paper Fig 5, docs/theory.md §10).

A :class:`Grid` crosses two :class:`Axis` objects over training hyper-parameters; every cell
is run once per network seed (:attr:`SweepSettings.network_seeds`; one seed by default) by a
*cell function* ``cell_fn(settings, fixed) -> dict`` with ``settings`` the cell's two values
(``{"embed_lr": 1e-3, "decoder_lr": 1e-4}``) and ``fixed`` the plain-dict form of
:class:`SweepSettings` with ``fixed["seed"]`` the run's network seed and ``fixed["split_seed"]``
its split seed. :func:`run_sweep` maps the unfinished runs through any
:class:`concurrent.futures.Executor` and appends each finished run to a locked, resumable
:class:`~efftheory.runtime.store.ResultStore` as it arrives, so an interrupted sweep loses at most the
runs in flight.

Execution
---------
- ``jobs=1`` (and no executor): runs go one after the other in this process.
- ``jobs=J > 1``: the local pool of :mod:`efftheory.runtime.parallel` (``J`` spawned workers with one
  BLAS / numba thread each, ending with the parent). Ctrl-C cancels the pending runs at once and
  keeps the finished ones. Scripts that call :func:`run_sweep` with ``jobs > 1`` need the usual
  ``if __name__ == "__main__":`` guard (the ``efftheory`` command has it).
- ``executor=...``: any ``concurrent.futures.Executor``; it is used as given and not shut
  down. A Dask cluster works out of the box (``pip install efftheory[cluster]``)::

      from dask.distributed import Client
      client = Client("tcp://scheduler:8786")          # or Client(LocalCluster(...))
      run_sweep(grid, settings, "runs/fig5b", executor=client.get_executor())

  The cell function and its arguments are pickled by reference, so the workers need
  efftheory importable (same version). Results do not depend on the executor: every run is
  a pure function of its settings and its seeds.

Cell functions must be top-level (picklable) and deterministic. :func:`network_cell` trains
the real toy network; :func:`synthetic_cell` is a cheap deterministic stand-in with the same
output keys, for exercising the machinery (tests, benchmarks of the engine itself).

:data:`PRESETS` holds the paper's Fig 5 panels; :func:`first_split_seed` finds a split that
can generalise (ideal test accuracy 1), which the presets use by default.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import dataclasses
import math
import numbers
import time
import zlib
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from efftheory.errors import InputError, require
from efftheory.runtime.parallel import as_finished, local_pool
from efftheory.experiments.sweep.shared_runs import shared_records
from efftheory.models.base import CELL_KEYS, stored_as
from efftheory.models.phases import PHASES, phase_of
from efftheory.models.toy.cell import network_cell

# axis name -> (human label, kind, lowest allowed value, lowest value included?)
AXES = {
    "embed_lr": ("embedding learning rate", float, 0.0, False),
    "decoder_lr": ("decoder learning rate", float, 0.0, False),
    "embed_wd": ("embedding weight decay", float, 0.0, True),
    "decoder_wd": ("decoder weight decay", float, 0.0, True),
    "frac": ("training fraction", float, 0.0, False),
    "init_scale": ("embedding init scale", float, 0.0, False),
    "decoder_init_scale": ("decoder init scale", float, 0.0, False),
    "width": ("decoder width", int, 1, True),
    "dim": ("embedding dimension", int, 1, True),
    "dropout": ("dropout rate (transformer)", float, 0.0, True),
}

#: the most runs (grid cells times network seeds) one sweep may hold, and so the most points an
#: axis may have. Checked before anything is allocated: the largest sweep of the paper (Fig 5b
#: over 5 seeds) has 550 runs; 1e5 runs of the fastest real cell (about 1 s each) is a day of a
#: core, and a store of 1e5 lines is 40 MB.
MAX_RUNS = 100_000


# ---------------------------------------------------------------- axes and grid


@dataclass(frozen=True)
class Axis:
    """``n`` values of hyper-parameter ``name`` from ``lo`` to ``hi`` (inclusive), linear or log,
    or an explicit list of values (``points``, e.g. the irregular weight decays of Fig 5d).

    ``values`` is a tuple of ``n`` increasing Python numbers (ints for ``width``/``dim``); log
    axes space ``log10`` evenly and hit both ends exactly. With ``points`` the values are those
    (strictly increasing), ``lo``/``hi``/``n`` their first, last and count (use
    :meth:`from_values`), and the axis is not log.
    """

    name: str
    lo: float
    hi: float
    n: int
    log: bool = False
    points: tuple | None = None

    @classmethod
    def from_values(cls, name: str, values) -> "Axis":
        """An axis over exactly these values (strictly increasing)."""
        values = tuple(values)
        require(len(values) >= 1, f"{name}: the value list is empty")
        return cls(name, values[0], values[-1], len(values), False, values)

    def __post_init__(self) -> None:
        require(self.name in AXES, f"unknown axis {self.name!r} (choose from {', '.join(AXES)})")
        require(isinstance(self.n, numbers.Integral) and self.n >= 1, f"{self.name}: N must be >= 1, got {self.n!r}")
        require(self.n <= MAX_RUNS, f"{self.name}: N = {self.n} points is above the most a sweep may run "
                                    f"({MAX_RUNS} runs)")
        if self.points is not None:
            self._check_points()
            return
        lo, hi = float(self.lo), float(self.hi)
        require(math.isfinite(lo) and math.isfinite(hi), f"{self.name}: range {self.spec()} is not finite")
        if self.n == 1:
            require(lo == hi, f"{self.name}: one point needs LO == HI, got {self.spec()}")
        else:
            require(lo < hi, f"{self.name}: need LO < HI, got {self.spec()}")
        if self.log:
            require(lo > 0, f"{self.name}: a log axis needs LO > 0, got {self.spec()}")
        _, kind, floor, inclusive = AXES[self.name]
        bad = [v for v in self.values if not (v >= floor if inclusive else v > floor)]
        if bad:
            raise InputError(f"{self.name}: value {bad[0]!r} out of range in {self.spec()}")
        if self.name == "frac":
            require(self.hi < 1, f"frac: the test set must not be empty, got HI={self.hi!r}")
        if kind is int:
            require(len(set(self.values)) == self.n, f"{self.name}: {self.spec()} rounds to repeated integers")

    def _check_points(self) -> None:
        _, kind, floor, inclusive = AXES[self.name]
        pts = self.points
        ok = all(isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v) for v in pts)
        require(ok, f"{self.name}: the values {self.spec()} are not all finite numbers")
        if kind is int:
            require(all(float(v).is_integer() for v in pts), f"{self.name}: the values {self.spec()} are not whole")
        pts = tuple(int(v) for v in pts) if kind is int else tuple(float(v) for v in pts)
        require(len(pts) == self.n and pts[0] == float(self.lo) and pts[-1] == float(self.hi) and not self.log,
                f"{self.name}: an explicit value list sets lo, hi and n itself (use Axis.from_values)")
        require(all(a < b for a, b in zip(pts, pts[1:])), f"{self.name}: the values {self.spec()} must increase")
        bad = [v for v in pts if not (v >= floor if inclusive else v > floor)]
        if bad:
            raise InputError(f"{self.name}: value {bad[0]!r} out of range in {self.spec()}")
        if self.name == "frac":
            require(pts[-1] < 1, f"frac: the test set must not be empty, got {pts[-1]!r}")
        object.__setattr__(self, "points", pts)

    @classmethod
    def parse(cls, name: str, text: str) -> "Axis":
        """``"1e-5:1e-2:10:log"`` or ``"0:10:11"`` -> Axis; a comma list ``"0,1,2,5,10"`` gives
        exactly those values."""
        if "," in text:
            try:
                values = [float(v) for v in text.split(",")]
            except ValueError:
                raise InputError(f"{name}: {text!r} is not a list of numbers like 0,1,2,5") from None
            return cls.from_values(name, values)
        parts = text.split(":")
        require(
            len(parts) in (3, 4) and (len(parts) == 3 or parts[3] in ("log", "lin")),
            f"{name}: range {text!r} is not LO:HI:N[:log]",
        )
        try:
            lo, hi, n = float(parts[0]), float(parts[1]), int(parts[2])
        except ValueError:
            raise InputError(f"{name}: range {text!r} is not LO:HI:N[:log]") from None
        return cls(name, lo, hi, n, len(parts) == 4 and parts[3] == "log")

    def spec(self) -> str:
        if self.points is not None:
            return ",".join(f"{v:g}" if isinstance(v, float) else repr(v) for v in self.points)
        return f"{self.lo!r}:{self.hi!r}:{self.n}" + (":log" if self.log else "")

    @property
    def label(self) -> str:
        return AXES[self.name][0]

    @property
    def values(self) -> tuple:
        if self.points is not None:
            return self.points
        lo, hi, n = float(self.lo), float(self.hi), int(self.n)
        if n == 1:
            raw = np.array([lo])
        elif self.log:
            raw = np.logspace(math.log10(lo), math.log10(hi), n)
            raw[0], raw[-1] = lo, hi  # exact ends, not 10**log10(x)
        else:
            raw = np.linspace(lo, hi, n)
        if AXES[self.name][1] is int:
            return tuple(int(round(v)) for v in raw)
        return tuple(float(v) for v in raw)

    def to_dict(self) -> dict:
        out = {"name": self.name, "lo": float(self.lo), "hi": float(self.hi), "n": int(self.n), "log": bool(self.log)}
        if self.points is not None:  # only then: manifests of range axes stay as they were
            out["values"] = list(self.points)
        return out


@dataclass(frozen=True)
class Grid:
    """The cells ``(ix, iy)`` of ``x`` crossed with ``y``; shape ``(ny, nx)`` (rows are y)."""

    x: Axis
    y: Axis

    def __post_init__(self) -> None:
        require(self.x.name != self.y.name, f"--x and --y are both {self.x.name!r}")
        require(self.size <= MAX_RUNS, f"the grid has {self.x.n} x {self.y.n} = {self.size} cells, above the most "
                                       f"a sweep may run ({MAX_RUNS} runs)")

    @property
    def shape(self) -> tuple[int, int]:
        return (self.y.n, self.x.n)

    @property
    def size(self) -> int:
        return self.x.n * self.y.n

    def cells(self) -> list[tuple[int, int, dict]]:
        """``(ix, iy, settings)`` for every cell, row by row (y outer, x inner)."""
        xs, ys = self.x.values, self.y.values
        return [(ix, iy, {self.x.name: xs[ix], self.y.name: ys[iy]}) for iy in range(self.y.n) for ix in range(self.x.n)]

    def to_dict(self) -> dict:
        return {"x": self.x.to_dict(), "y": self.y.to_dict()}


# ---------------------------------------------------------------- fixed settings


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
    phase is then decided); ``network`` holds further :class:`efftheory.models.toy.kernels.NetworkConfig`
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
        from efftheory.tasks import task_names

        tables = task_names("table")  # the sweep's splits are operation tables'
        require(self.task in tables, f"task must be one of {', '.join(tables)}, got {self.task!r}")
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


# ---------------------------------------------------------------- cell functions



@stored_as("synthetic_cell")
def synthetic_cell(settings: dict, fixed: dict) -> dict:
    """A cheap, deterministic stand-in for :func:`network_cell` (same keys; not physics).

    Step counts are drawn from a generator seeded by a CRC of the cell's settings and the
    seeds, so they are identical in every process and cover the four phases of the rule.
    ``fixed["network"]["sleep"]`` (seconds, optional) makes each cell take that long.
    """
    seeds = (fixed["seed"],) if fixed.get("split_seed", fixed["seed"]) == fixed["seed"] else (
        fixed["seed"], fixed["split_seed"])
    key = repr((sorted(settings.items()), *seeds, fixed["p"])).encode()
    rng = np.random.default_rng(zlib.crc32(key))
    steps = int(fixed["steps"])
    t_train, t_test, t_rqi = (int(v) for v in rng.integers(0, int(1.5 * steps) + 1, size=3))
    t_train = t_train if t_train <= steps else None
    t_test = t_test if t_test <= steps else None
    t_rqi = t_rqi if t_rqi <= steps else None
    decided = t_train is not None and t_test is not None
    steps_run = max(t_train, t_test) if (decided and fixed["early_stop"]) else steps
    time.sleep(float(fixed.get("network", {}).get("sleep", 0.0)))
    return {
        "t_train": t_train,
        "t_test": t_test,
        "t_rqi": t_rqi,
        "steps_run": steps_run,
        "final_train_acc": 1.0 if t_train is not None else float(rng.uniform(0, 0.9)),
        "final_test_acc": 1.0 if t_test is not None else float(rng.uniform(0, 0.9)),
        "final_rqi": float(rng.uniform()),
    }


def _timed_call(cell_fn, settings: dict, fixed: dict) -> tuple[dict, float, str]:
    """Run one cell in a worker; its output, the seconds it took there and the worker's
    :func:`~efftheory.runtime.arithmetic.arithmetic` (top-level, so it pickles)."""
    from efftheory.runtime.arithmetic import arithmetic

    start = time.perf_counter()
    out = cell_fn(settings, fixed)
    return out, time.perf_counter() - start, arithmetic()


def _finite_or_none(value):
    """Floats that JSON cannot hold (NaN, inf; e.g. a diverged run's accuracy) become None."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _delay(t_train, t_test):
    """The grokking delay t_test - t_train of a result line (None unless both were reached)."""
    return None if (t_train is None or t_test is None) else t_test - t_train


def _record(run: tuple, split_seed: int, out: dict, seconds: float, gap: float, arithmetic: str) -> dict:
    """One result line: the run (cell, seeds, settings), its step counts, phase, gap
    t_test - t_train, final metrics, the seconds it took and the arithmetic it ran with
    (:mod:`efftheory.runtime.arithmetic`). The phase is the cell function's ``"phase"`` if it
    returns one (e.g. "diverged"), else :func:`efftheory.models.phases.phase_of` of the step counts."""
    missing = [k for k in CELL_KEYS if k not in out]
    if missing:
        raise RuntimeError(f"cell function returned no {missing[0]!r}")
    ix, iy, seed, settings = run
    t_train, t_test = out["t_train"], out["t_test"]
    rec = {"ix": ix, "iy": iy, "seed": seed, "split_seed": split_seed, "settings": settings}
    rec.update({k: _finite_or_none(out[k]) for k in CELL_KEYS})
    rec["phase"] = out.get("phase") or phase_of(t_train, t_test, gap)
    if rec["phase"] not in PHASES:
        raise RuntimeError(f"cell function returned the unknown phase {rec['phase']!r}")
    rec["gap"] = _delay(t_train, t_test)
    rec["seconds"] = round(float(seconds), 4)
    rec["arithmetic"] = arithmetic
    return rec


def cell_name(cell_fn) -> str:
    """The name of a cell function recorded in the manifest: ``module:qualname``, or the
    function's ``stored_name`` when it has one. The built-in cells keep the names they had when
    they lived in ``efftheory/sweep.py`` (``efftheory.sweep:network_cell``, ...), so the stores
    written then stay the same sweeps (resumable, shareable) after the module moved."""
    return getattr(cell_fn, "stored_name", None) or f"{cell_fn.__module__}:{cell_fn.__qualname__}"



# ---------------------------------------------------------------- results


@dataclass(frozen=True)
class SweepResult:
    """A finished (or partly finished) sweep over a grid and one or more network seeds.

    ``records``: tuple of length ``grid.size * len(seeds)``, cell by cell in :meth:`Grid.cells`
    order and within a cell seed by seed (so with one seed ``records[k]`` is cell ``k``); each
    is a result line (dict) or ``None`` for a run not done yet. ``computed``/``reused``: runs
    done now / taken from the store; ``dropped``: stored lines ignored (invalid, foreign,
    repeated or cut short; their runs were done again); ``shared``: runs copied now from the
    store of another sweep that holds the same run (``run_sweep(share_from=...)``).

    Per-cell maps are (ny, nx) arrays, rows y, columns x. Over several seeds a cell's phase is
    the *majority* phase of its finished runs (ties go to the phase listed first in
    :data:`~efftheory.models.phases.PHASES`), with its share; step maps are medians over the seeds that
    reached the step. With one seed they are that seed's values.
    """

    grid: Grid
    settings: SweepSettings
    records: tuple
    computed: int
    reused: int
    dropped: int
    seconds: float
    shared: int = 0

    @property
    def seeds(self) -> tuple[int, ...]:
        return self.settings.network_seeds

    def record(self, ix: int, iy: int, seed: int) -> dict | None:
        """The result line of cell ``(ix, iy)`` with network seed ``seed`` (None: not run)."""
        k = (iy * self.grid.x.n + ix) * len(self.seeds) + self.seeds.index(seed)
        return self.records[k]

    def _by_seed(self, key: str, fill, dtype) -> np.ndarray:
        """(n_seeds, ny, nx) map of field ``key``; ``fill`` where not run or None."""
        out = np.full(len(self.records), fill, dtype=dtype)
        for k, rec in enumerate(self.records):
            if rec is not None and rec[key] is not None:
                out[k] = rec[key]
        ny, nx = self.grid.shape
        return out.reshape(ny, nx, len(self.seeds)).transpose(2, 0, 1)

    def phases_by_seed(self) -> np.ndarray:
        """(n_seeds, ny, nx) object array of each run's phase (None: not run)."""
        return self._by_seed("phase", None, object)

    def steps_by_seed(self, key: str) -> np.ndarray:
        """(n_seeds, ny, nx) float map of ``t_train``/``t_test``/``t_rqi``/``steps_run``/``gap``."""
        return self._by_seed(key, np.nan, float)

    @property
    def phase_counts(self) -> np.ndarray:
        """(ny, nx, len(PHASES)) int: finished runs of each cell in each phase."""
        runs = self.phases_by_seed()
        return np.stack([(runs == p).sum(axis=0) for p in PHASES], axis=-1)

    @property
    def phases(self) -> np.ndarray:
        """(ny, nx) object array of each cell's majority phase (None for cells not run)."""
        counts = self.phase_counts
        winner = np.array(PHASES, dtype=object)[counts.argmax(axis=-1)]
        return np.where(counts.sum(axis=-1) > 0, winner, None)

    @property
    def majority_share(self) -> np.ndarray:
        """(ny, nx) float: majority runs / finished runs of each cell (NaN for cells not run)."""
        counts = self.phase_counts
        total = counts.sum(axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(total > 0, counts.max(axis=-1) / total, np.nan)

    @property
    def phase_codes(self) -> np.ndarray:
        """(ny, nx) int: index of the majority phase into :data:`PHASES`, -1 for cells not run."""
        codes = np.array([-1 if p is None else PHASES.index(p) for p in self.phases.ravel()])
        return codes.reshape(self.grid.shape)

    def steps(self, key: str) -> np.ndarray:
        """(ny, nx) float median of ``t_train``/``t_test``/``t_rqi``/``steps_run``/``gap`` over the
        seeds that reached it; NaN = none did (or not run)."""
        values = self.steps_by_seed(key)
        reached = np.isfinite(values)
        filled = np.where(reached, values, 0.0)
        median = np.full(self.grid.shape, np.nan)
        for iy, ix in zip(*np.nonzero(reached.any(axis=0))):
            median[iy, ix] = np.median(filled[reached[:, iy, ix], iy, ix])
        return median

    @property
    def gaps(self) -> np.ndarray:
        """(ny, nx) float t_test - t_train in steps (median over seeds); NaN where never both."""
        return self.steps("gap")

    @property
    def counts(self) -> dict:
        """Finished runs per phase (every phase of :data:`PHASES` present); with one seed, cells."""
        return dict(zip(PHASES, (int(n) for n in self.phase_counts.sum(axis=(0, 1)))))

    @property
    def cell_counts(self) -> dict:
        """Cells per majority phase (every phase of :data:`PHASES` present)."""
        names = list(self.phases.ravel())
        return {p: names.count(p) for p in PHASES}

    @property
    def complete(self) -> bool:
        return all(r is not None for r in self.records)

    @property
    def arithmetics(self) -> dict:
        """``{arithmetic: runs}`` over the finished runs (:mod:`efftheory.runtime.arithmetic`); None
        counts the runs stored before records named it. More than one name means the runs
        are not bit-for-bit those one machine would give (docs/theory.md §10)."""
        names = [r.get("arithmetic") for r in self.records if r is not None]
        return {name: names.count(name) for name in sorted(set(names), key=lambda n: (n is None, n or ""))}

    def at_budget(self, steps: int) -> "SweepResult":
        """The sweep as a budget of ``steps`` (<= this sweep's) would have given it, read off
        these records with nothing run again.

        Exact because nothing in a run depends on its budget until it ends: the trajectory to
        step ``steps`` is the same, and so are the first crossings up to it. A run that ended by
        then (stopped early, or diverged) keeps its record; in any other, a step count beyond
        ``steps`` becomes None, ``steps_run`` becomes ``steps``, the phase and gap are
        recomputed, and the final accuracies and RQI (measured at the longer run's end) become
        None. ``seconds`` stays that of the longer run."""
        require(isinstance(steps, numbers.Integral) and 1 <= steps <= self.settings.steps,
                f"steps must be between 1 and the sweep's budget {self.settings.steps}, got {steps!r}")
        records = tuple(None if r is None else _record_at_budget(r, int(steps), self.settings.gap)
                        for r in self.records)
        settings = dataclasses.replace(self.settings, steps=int(steps))
        return SweepResult(self.grid, settings, records, 0, sum(r is not None for r in records), 0, 0.0)


def _record_at_budget(rec: dict, steps: int, gap: float) -> dict:
    """One result line read at the smaller budget ``steps`` (:meth:`SweepResult.at_budget`)."""
    if rec["steps_run"] <= steps:
        return rec
    out = dict(rec)
    for key in ("t_train", "t_test", "t_rqi"):
        if out[key] is not None and out[key] > steps:
            out[key] = None
    out.update(steps_run=steps, final_train_acc=None, final_test_acc=None, final_rqi=None)
    t_train, t_test = out["t_train"], out["t_test"]
    out["phase"] = phase_of(t_train, t_test, gap)
    out["gap"] = _delay(t_train, t_test)
    return out


# ---------------------------------------------------------------- engine


def manifest_for(grid: Grid, settings: SweepSettings, cell_fn) -> dict:
    """The part of the manifest a re-run must match exactly.

    A cell function may have a ``kernel`` attribute, ``kernel(fixed) -> str | None``: the
    version of the code behind its records for these settings (e.g. :data:`NETWORK_KERNEL`).
    It is recorded unless None, so a store written by a version whose records differ is
    refused as a different sweep instead of mixing records of two trajectories."""
    manifest = {"grid": grid.to_dict(), "fixed": settings.to_dict(), "cell": cell_name(cell_fn)}
    kernel = getattr(cell_fn, "kernel", None)
    kernel = kernel(settings.to_dict()) if kernel is not None else None
    if kernel is not None:
        manifest["kernel"] = str(kernel)
    return manifest


def runs_of(grid: Grid, settings: SweepSettings) -> list[tuple]:
    """``(ix, iy, seed, cell_settings)`` of every run, cell by cell, seed by seed."""
    return [(ix, iy, seed, cs) for ix, iy, cs in grid.cells() for seed in settings.network_seeds]


def check_size(grid: Grid, settings: SweepSettings) -> None:
    """Refuse a sweep of more than :data:`MAX_RUNS` runs (cells times seeds), before anything
    is allocated for it."""
    runs = grid.size * len(settings.network_seeds)
    require(runs <= MAX_RUNS, f"the sweep has {grid.size} cells x {len(settings.network_seeds)} seeds = {runs} runs, "
                              f"above the most a sweep may run ({MAX_RUNS})")


def run_sweep(
    grid: Grid,
    settings: SweepSettings,
    out,
    *,
    cell_fn=network_cell,
    executor: cf.Executor | None = None,
    jobs: int = 1,
    progress=None,
    wait: bool = False,
    compute: bool = True,
    share_from=(),
) -> SweepResult:
    """Run every unfinished (cell, seed) of the sweep and store it in directory ``out`` as it
    finishes.

    With ``compute=False`` nothing runs: the result holds the stored runs as they stand (None
    for the others), e.g. to draw a sweep that is being computed in pieces.
    ``share_from``: result directories of other sweeps; a run one of them already holds (the
    same resolved run, :mod:`efftheory.experiments.sweep.shared_runs`) is copied into this store instead of being
    computed again. ``progress(n)`` (optional) is called with the number of newly finished runs. Raises
    :class:`InputError` if ``out`` holds a different sweep, or is in use by another sweep
    (unless ``wait``: then it waits until that one ends). If a run raises (or on Ctrl-C), the
    runs not finished are cancelled, finished ones stay stored, and the error propagates.
    """
    from efftheory.runtime.store import ResultStore

    require(isinstance(jobs, numbers.Integral) and jobs >= 1, f"jobs must be >= 1, got {jobs!r}")
    settings = settings.for_grid(grid)
    check_size(grid, settings)
    settings.check_grid(grid)
    start = time.perf_counter()
    if hasattr(cell_fn, "check"):  # a cell function may validate the whole grid up front
        cell_fn.check(grid, settings.to_dict())
    runs = runs_of(grid, settings)
    expected = {(ix, iy, seed): {"settings": cs, "split_seed": settings.split_seed(seed)} for ix, iy, seed, cs in runs}
    manifest = manifest_for(grid, settings, cell_fn)
    with ResultStore.open(out, manifest, expected, settings.steps, wait=wait, gap=settings.gap) as store:
        done = store.finished
        pending = [r for r in runs if r[:3] not in done] if compute else []
        shared = {key: store.append(rec) for key, rec in
                  shared_records(pending, settings.run_fixed, settings.split_seed, cell_fn, manifest, share_from).items()}
        pending = [r for r in pending if r[:3] not in shared]
        tick = progress or (lambda n: None)
        computed = _compute(pending, settings, cell_fn, store, executor, jobs, tick, len(done) + len(shared))
    records = tuple(done.get(r[:3]) or shared.get(r[:3]) or computed.get(r[:3]) for r in runs)
    return SweepResult(grid, settings, records, len(computed), len(done), store.dropped,
                       time.perf_counter() - start, len(shared))


def _compute(pending, settings, cell_fn, store, executor, jobs, tick, already: int) -> dict:
    """Run ``pending`` runs, append each to ``store`` as it finishes; ``{key: record}``."""
    tasks = [(cell_fn, cs, settings.run_fixed(seed)) for _, _, seed, cs in pending]
    computed = {}
    tick(already)
    with contextlib.closing(_completed(tasks, executor, jobs)) as finished:
        for i, (out, seconds, arithmetic) in finished:
            run = pending[i]
            rec = _record(run, settings.split_seed(run[2]), out, seconds, settings.gap, arithmetic)
            computed[run[:3]] = store.append(rec)
            tick(1)
    return computed


def _completed(tasks, executor, jobs):
    """``(index, (output, seconds, arithmetic))`` of every task as it finishes, on the chosen executor."""
    if executor is not None:
        yield from as_finished(executor, _timed_call, tasks)
    elif jobs == 1 or len(tasks) <= 1:
        for i, task in enumerate(tasks):
            yield i, _timed_call(*task)
    else:
        with local_pool(min(jobs, len(tasks))) as pool:
            yield from as_finished(pool, _timed_call, tasks)


# ---------------------------------------------------------------- presets and seeds


@dataclass(frozen=True)
class Preset:
    """A panel of the paper's Fig 5: axis names, their ``LO:HI:N[:log]`` ranges (or value lists)
    and the loss; optionally the task, its split size (None: the sweep defaults) and further
    :class:`~efftheory.models.toy.kernels.NetworkConfig` fields."""

    x: str
    x_range: str
    y: str
    y_range: str
    loss: str
    task: str = "add"
    p: int | None = None
    n_train: int | None = None
    network: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))

    @property
    def grid(self) -> Grid:
        return Grid(Axis.parse(self.x, self.x_range), Axis.parse(self.y, self.y_range))


#: The paper's permutation toy (docs/theory.md §9): 3x3 matrix embeddings of S3 initialised in
#: [-0.05, 0.05), the L1 penalty 1e-3 mean |M|, the decoder and embedding lr of the additive toy.
MATRIX_TOY = MappingProxyType({"embed": "matrix", "dim": 9, "embed_l1": 1e-3, "init_scale": 0.1})

#: The paper's Fig 5 panels (weight-decay grid 0..10 in steps of 1; Fig 5d: the S3 matrix toy,
#: 24 of its 36 samples for training, weight decays 0..200 on the paper's irregular grid).
PRESETS = MappingProxyType({
    "fig5a": Preset("embed_lr", "1e-5:1e-2:10:log", "decoder_lr", "1e-5:1e-2:10:log", "mse"),
    "fig5b": Preset("decoder_lr", "1e-5:1e-2:10:log", "decoder_wd", "0:10:11", "mse"),
    "fig5c": Preset("decoder_lr", "1e-5:1e-2:10:log", "decoder_wd", "0:10:11", "ce"),
    "fig5d": Preset("decoder_lr", "1e-5:1e-2:10:log", "decoder_wd", "0,1,2,3,5,10,20,30,50,100,200", "mse",
                    task="s3", p=6, n_train=24, network=MATRIX_TOY),
})


def ideal_test_accuracy(p: int, *, n_train: int | None = None, frac: float | None = None, seed: int = 0,
                        task: str = "add") -> float:
    """The most test accuracy a representation can be expected to reach on
    ``make_task(task, p).split(n_train|frac, seed)``.

    Addition: the linear theory's ideal test accuracy, the share of test samples the training
    set's parallelograms imply. Other tasks (S3 and its matrix toy): the reachable test accuracy
    (:func:`efftheory.theories.linear.theory.reachable_test_accuracy`), the share of test samples whose label
    has a training sample and whose symbols both occur in training. For S3 there is no linear
    theory of the matrix representation (its constraints M_a M_b = M_c M_d are bilinear), and
    with the group's own matrices every equal-product pair holds, so this is exactly the
    matrix model's ideal predicted accuracy.
    """
    from efftheory.tasks import make_task
    from efftheory.theories.linear.theory import linear_theory, reachable_test_accuracy

    split = make_task(task, p).split(frac=frac, n_train=n_train, seed=seed)
    if task == "add":
        return linear_theory(split).ideal_test_accuracy or 0.0
    return reachable_test_accuracy(split)


def first_split_seed(p: int, *, n_train: int | None = None, frac: float | None = None, at_least: float = 1.0,
                     tries: int = 1000, task: str = "add") -> int | None:
    """The first split seed in ``0..tries-1`` whose :func:`ideal_test_accuracy` is at least
    ``at_least`` (1: every test sample can be got right), or None if there is none."""
    return next((s for s in range(tries)
                 if ideal_test_accuracy(p, n_train=n_train, frac=frac, seed=s, task=task) >= at_least), None)
