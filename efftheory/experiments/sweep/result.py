"""A finished (or partly finished) sweep read back (:class:`SweepResult`): phases per cell and
seed, majority phases, step maps, and any shorter budget's records recomputed from a longer one."""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass

import numpy as np

from efftheory.errors import require
from efftheory.experiments.sweep.grid import Grid
from efftheory.experiments.sweep.settings import SweepSettings
from efftheory.phases import PHASES, phase_of


def _delay(t_train, t_test):
    """The grokking delay t_test - t_train of a result line (None unless both were reached)."""
    return None if (t_train is None or t_test is None) else t_test - t_train


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
    :data:`~efftheory.phases.PHASES`), with its share; step maps are medians over the seeds that
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
