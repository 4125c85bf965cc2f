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
import math
import numbers
import time

from efftheory.errors import require
from efftheory.experiments.sweep.cells import cell_name
from efftheory.experiments.sweep.grid import MAX_RUNS, Grid
from efftheory.experiments.sweep.result import SweepResult, _delay
from efftheory.experiments.sweep.settings import SweepSettings
from efftheory.experiments.sweep.shared_runs import shared_records
from efftheory.models.base import CELL_KEYS
from efftheory.phases import PHASES, phase_of
from efftheory.models.toy.cell import network_cell
from efftheory.runtime.parallel import as_finished, local_pool

# ---------------------------------------------------------------- cell functions


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


def _record(run: tuple, split_seed: int, out: dict, seconds: float, gap: float, arithmetic: str) -> dict:
    """One result line: the run (cell, seeds, settings), its step counts, phase, gap
    t_test - t_train, final metrics, the seconds it took and the arithmetic it ran with
    (:mod:`efftheory.runtime.arithmetic`). The phase is the cell function's ``"phase"`` if it
    returns one (e.g. "diverged"), else :func:`efftheory.phases.phase_of` of the step counts."""
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


