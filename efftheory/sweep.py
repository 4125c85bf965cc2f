"""Phase-diagram sweeps: a two-axis grid of toy-network runs (paper Fig 5, docs/theory.md §10).

A :class:`Grid` crosses two :class:`Axis` objects over training hyper-parameters; every cell
is one run of a *cell function* ``cell_fn(settings, fixed) -> dict`` with ``settings`` the
cell's two values (``{"embed_lr": 1e-3, "decoder_lr": 1e-4}``) and ``fixed`` the plain-dict
form of :class:`SweepSettings`. :func:`run_sweep` maps the unfinished cells through any
:class:`concurrent.futures.Executor` and appends each finished cell to a resumable
:class:`~efftheory.store.ResultStore` as it arrives, so an interrupted sweep loses at most
the cells in flight.

Execution
---------
- ``jobs=1`` (and no executor): cells run one after the other in this process.
- ``jobs=J > 1``: a local :class:`concurrent.futures.ProcessPoolExecutor` with ``J`` workers
  started with the ``spawn`` method (safe after numba's thread pools have started), each
  worker limited to one numba thread. Scripts that call :func:`run_sweep` with ``jobs > 1``
  need the usual ``if __name__ == "__main__":`` guard (the ``efftheory`` command has it).
- ``executor=...``: any ``concurrent.futures.Executor``; it is used as given and not shut
  down. A Dask cluster works out of the box (``pip install efftheory[cluster]``)::

      from dask.distributed import Client
      client = Client("tcp://scheduler:8786")          # or Client(LocalCluster(...))
      run_sweep(grid, settings, "runs/fig5b", executor=client.get_executor())

  The cell function and its arguments are pickled by reference, so the workers need
  efftheory importable (same version). Results do not depend on the executor: every cell is
  a pure function of its settings and the fixed seed.

Cell functions must be top-level (picklable) and deterministic. :func:`network_cell` trains
the real toy network; :func:`synthetic_cell` is a cheap deterministic stand-in with the same
output keys, for exercising the machinery (tests, benchmarks of the engine itself).
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import math
import multiprocessing
import numbers
import time
import zlib
from dataclasses import dataclass, field

import numpy as np

from efftheory.errors import InputError, require
from efftheory.parallel import single_threaded_children
from efftheory.phases import PHASES, phase_of

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
}

# the keys every cell function returns (step counts are None when never reached)
CELL_KEYS = ("t_train", "t_test", "t_rqi", "steps_run", "final_train_acc", "final_test_acc", "final_rqi")


# ---------------------------------------------------------------- axes and grid


@dataclass(frozen=True)
class Axis:
    """``n`` values of hyper-parameter ``name`` from ``lo`` to ``hi`` (inclusive), linear or log.

    ``values`` is a tuple of ``n`` increasing Python numbers (ints for ``width``/``dim``); log
    axes space ``log10`` evenly and hit both ends exactly.
    """

    name: str
    lo: float
    hi: float
    n: int
    log: bool = False

    def __post_init__(self) -> None:
        require(self.name in AXES, f"unknown axis {self.name!r} (choose from {', '.join(AXES)})")
        require(isinstance(self.n, numbers.Integral) and self.n >= 1, f"{self.name}: N must be >= 1, got {self.n!r}")
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

    @classmethod
    def parse(cls, name: str, text: str) -> "Axis":
        """``"1e-5:1e-2:10:log"`` or ``"0:10:11"`` -> Axis."""
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
        return f"{self.lo!r}:{self.hi!r}:{self.n}" + (":log" if self.log else "")

    @property
    def label(self) -> str:
        return AXES[self.name][0]

    @property
    def values(self) -> tuple:
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
        return {"name": self.name, "lo": float(self.lo), "hi": float(self.hi), "n": int(self.n), "log": bool(self.log)}


@dataclass(frozen=True)
class Grid:
    """The cells ``(ix, iy)`` of ``x`` crossed with ``y``; shape ``(ny, nx)`` (rows are y)."""

    x: Axis
    y: Axis

    def __post_init__(self) -> None:
        require(self.x.name != self.y.name, f"--x and --y are both {self.x.name!r}")

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

    ``p``/``n_train`` (or ``frac``) define the split (seed ``seed``; a ``frac`` axis overrides
    them per cell); ``steps`` is the budget, ``gap`` the phase gap G in steps, ``delta`` the RQI
    threshold; ``eval_every`` the evaluation stride (step counts are multiples of it; 1 = exact);
    ``early_stop`` ends a run once both accuracies reached 0.9 (its phase is then
    decided); ``network`` holds further :class:`efftheory.network.NetworkConfig` fields fixed
    for every cell (e.g. ``{"loss": "ce"}``); the network seed is ``seed`` as well.
    Defaults are the paper's toy: p = 10, n_train = 45 of N = 55, budget 1e4 steps.
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

    def __post_init__(self) -> None:
        require(isinstance(self.p, numbers.Integral) and self.p >= 2, f"p must be >= 2, got {self.p!r}")
        require(isinstance(self.steps, numbers.Integral) and self.steps >= 1, f"steps must be >= 1, got {self.steps!r}")
        require(math.isfinite(self.gap) and self.gap >= 0, f"gap must be >= 0, got {self.gap!r}")
        require(self.delta > 0, f"delta must be > 0, got {self.delta!r}")
        require(isinstance(self.eval_every, numbers.Integral) and self.eval_every >= 1,
                f"eval_every must be >= 1, got {self.eval_every!r}")
        if self.frac is not None:  # a training fraction replaces the default n_train
            object.__setattr__(self, "n_train", None)
        clash = sorted(set(self.network) & {"seed"})
        require(not clash, "the network seed is the sweep seed; do not set network['seed']")

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
        from efftheory.tasks import Addition

        task = Addition(self.p)
        if "frac" in (grid.x.name, grid.y.name):
            axis = grid.x if grid.x.name == "frac" else grid.y
            for f in axis.values:
                n = task.n_train_for(frac=f)
                require(n < task.n_samples, f"frac={f!r} leaves no test sample at p={self.p}")
        else:
            n = task.n_train_for(frac=self.frac, n_train=None) if self.frac is not None else task.n_train_for(n_train=self.n_train)
            require(n < task.n_samples, f"n_train={n} leaves no test sample at p={self.p}")

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
        }


# ---------------------------------------------------------------- cell functions


def network_cell(settings: dict, fixed: dict) -> dict:
    """Train the toy network (docs/theory.md §9) at one grid cell; return the :data:`CELL_KEYS`.

    The split is ``Addition(p).split(n_train|frac, seed)``; the network config is
    ``replace(NetworkConfig(**fixed["network"], seed=seed), **settings)`` (``frac`` goes to the
    split instead). With ``early_stop`` the run ends once train and test accuracy have both
    reached 0.9.
    """
    from efftheory.network import NetworkConfig, train_network
    from efftheory.tasks import Addition

    task = Addition(fixed["p"])
    frac = settings.get("frac", fixed.get("frac"))
    if frac is not None:
        split = task.split(frac=frac, seed=fixed["seed"])
    else:
        split = task.split(n_train=fixed["n_train"], seed=fixed["seed"])
    overrides = {k: v for k, v in settings.items() if k != "frac"}
    config = dataclasses.replace(NetworkConfig(**fixed["network"], seed=fixed["seed"]), **overrides)
    result = train_network(
        split,
        config,
        steps=fixed["steps"],
        eval_every=fixed["eval_every"],
        delta=fixed["delta"],
        gap=fixed["gap"],
        stop_at_test=fixed["early_stop"],
    )
    return {
        "t_train": result.steps_to_train,
        "t_test": result.steps_to_test,
        "t_rqi": result.steps_to_rqi,
        "steps_run": int(result.steps_run),
        "final_train_acc": float(result.train_acc[-1]),
        "final_test_acc": float(result.test_acc[-1]),
        "final_rqi": float(result.rqi[-1]),
    }


def _check_network_cell(grid: Grid, fixed: dict) -> None:
    """Build every cell's NetworkConfig here, so bad settings fail before any worker starts."""
    from efftheory.network import NetworkConfig

    try:
        base = NetworkConfig(**fixed["network"], seed=fixed["seed"])
    except TypeError:
        bad = sorted(set(fixed["network"]) - {f.name for f in dataclasses.fields(NetworkConfig)})
        raise InputError(f"unknown network setting {bad[0] if bad else fixed['network']!r}") from None
    for _, _, settings in grid.cells():
        dataclasses.replace(base, **{k: v for k, v in settings.items() if k != "frac"})


network_cell.check = _check_network_cell


def synthetic_cell(settings: dict, fixed: dict) -> dict:
    """A cheap, deterministic stand-in for :func:`network_cell` (same keys; not physics).

    Step counts are drawn from a generator seeded by a CRC of the cell's settings and the
    sweep seed, so they are identical in every process and cover all four phases.
    ``fixed["network"]["sleep"]`` (seconds, optional) makes each cell take that long.
    """
    key = repr((sorted(settings.items()), fixed["seed"], fixed["p"])).encode()
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


def _timed_call(cell_fn, settings: dict, fixed: dict) -> tuple[dict, float]:
    """Run one cell in a worker and time it there (top-level, so it pickles)."""
    start = time.perf_counter()
    out = cell_fn(settings, fixed)
    return out, time.perf_counter() - start


def _record(ix: int, iy: int, settings: dict, out: dict, seconds: float, gap: float) -> dict:
    """One result line: the cell, its step counts, phase, gap t_test - t_train and final metrics."""
    missing = [k for k in CELL_KEYS if k not in out]
    if missing:
        raise RuntimeError(f"cell function returned no {missing[0]!r}")
    t_train, t_test = out["t_train"], out["t_test"]
    rec = {"ix": ix, "iy": iy, "settings": settings}
    rec.update({k: out[k] for k in CELL_KEYS})
    rec["phase"] = phase_of(t_train, t_test, gap)
    rec["gap"] = None if (t_train is None or t_test is None) else t_test - t_train
    rec["seconds"] = round(float(seconds), 4)
    return rec


def cell_name(cell_fn) -> str:
    """``module:qualname`` of a cell function; recorded in the manifest."""
    return f"{cell_fn.__module__}:{cell_fn.__qualname__}"


# ---------------------------------------------------------------- results


@dataclass(frozen=True)
class SweepResult:
    """A finished (or partly finished) sweep.

    ``records``: tuple of length ``grid.size`` in :meth:`Grid.cells` order; each is a result
    line (dict) or ``None`` for a cell not run yet. ``computed``/``reused``: cells run now /
    taken from the store; ``dropped``: unreadable lines found in the store and recomputed.
    """

    grid: Grid
    settings: SweepSettings
    records: tuple
    computed: int
    reused: int
    dropped: int
    seconds: float

    def _map(self, key: str, fill, dtype) -> np.ndarray:
        out = np.full(self.grid.size, fill, dtype=dtype)
        for k, rec in enumerate(self.records):
            if rec is not None and rec[key] is not None:
                out[k] = rec[key]
        return out.reshape(self.grid.shape)

    @property
    def phases(self) -> np.ndarray:
        """(ny, nx) object array of phase names (None for cells not run)."""
        return self._map("phase", None, object)

    @property
    def phase_codes(self) -> np.ndarray:
        """(ny, nx) int: index into :data:`PHASES`, -1 for cells not run."""
        codes = np.array([-1 if p is None else PHASES.index(p) for p in self.phases.ravel()])
        return codes.reshape(self.grid.shape)

    @property
    def gaps(self) -> np.ndarray:
        """(ny, nx) float t_test - t_train in steps; NaN where either was never reached."""
        return self._map("gap", np.nan, float)

    def steps(self, key: str) -> np.ndarray:
        """(ny, nx) float map of ``t_train``/``t_test``/``t_rqi``/``steps_run``; NaN = never."""
        return self._map(key, np.nan, float)

    @property
    def counts(self) -> dict:
        """Number of cells per phase (all four keys present)."""
        names = [r["phase"] for r in self.records if r is not None]
        return {p: names.count(p) for p in PHASES}

    @property
    def complete(self) -> bool:
        return all(r is not None for r in self.records)


# ---------------------------------------------------------------- engine


def manifest_for(grid: Grid, settings: SweepSettings, cell_fn) -> dict:
    """The part of the manifest a re-run must match exactly."""
    return {"grid": grid.to_dict(), "fixed": settings.to_dict(), "cell": cell_name(cell_fn)}


def run_sweep(
    grid: Grid,
    settings: SweepSettings,
    out,
    *,
    cell_fn=network_cell,
    executor: cf.Executor | None = None,
    jobs: int = 1,
    progress=None,
) -> SweepResult:
    """Run every unfinished cell of ``grid`` and store it in directory ``out`` as it finishes.

    ``progress(n)`` (optional) is called with the number of newly finished cells. Raises
    :class:`InputError` if ``out`` holds a different sweep. If a cell raises, the cells not
    started are cancelled, finished ones stay stored, and the error propagates.
    """
    from efftheory.store import ResultStore

    require(isinstance(jobs, numbers.Integral) and jobs >= 1, f"jobs must be >= 1, got {jobs!r}")
    settings = settings.for_grid(grid)
    settings.check_grid(grid)
    start = time.perf_counter()
    fixed = settings.to_dict()
    if hasattr(cell_fn, "check"):  # a cell function may validate the whole grid up front
        cell_fn.check(grid, fixed)
    store = ResultStore.open(out, manifest_for(grid, settings, cell_fn), grid)
    done = store.finished
    pending = [c for c in grid.cells() if (c[0], c[1]) not in done]
    computed = {}
    tick = progress or (lambda n=1: None)
    tick(len(done))

    def finish(cell, out_seconds):
        ix, iy, cell_settings = cell
        rec = _record(ix, iy, cell_settings, out_seconds[0], out_seconds[1], settings.gap)
        store.append(rec)
        computed[(ix, iy)] = rec
        tick(1)

    if pending and executor is None and jobs == 1:
        for cell in pending:
            finish(cell, _timed_call(cell_fn, cell[2], fixed))
    elif executor is not None:
        _drain(executor, pending, cell_fn, fixed, finish)
    elif pending:
        # Workers are spawned while cells are submitted: one BLAS / numba thread each.
        with single_threaded_children():
            ctx = multiprocessing.get_context("spawn")
            with cf.ProcessPoolExecutor(max_workers=min(jobs, len(pending)), mp_context=ctx) as pool:
                try:
                    _drain(pool, pending, cell_fn, fixed, finish)
                finally:
                    pool.shutdown(wait=True, cancel_futures=True)
    records = tuple(done.get((ix, iy)) or computed.get((ix, iy)) for ix, iy, _ in grid.cells())
    return SweepResult(grid, settings, records, len(computed), len(done), store.dropped, time.perf_counter() - start)


def _drain(executor, pending, cell_fn, fixed, finish) -> None:
    """Submit every pending cell, store each as it completes; cancel the rest on any error."""
    futures = {executor.submit(_timed_call, cell_fn, cell[2], fixed): cell for cell in pending}
    try:
        for fut in cf.as_completed(futures):
            finish(futures[fut], fut.result())
    except BaseException:
        for fut in futures:
            fut.cancel()
        raise
