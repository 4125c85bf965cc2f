"""The theory applied to embeddings from any network: ``efftheory analyse`` and the PyTorch probe.

Given a task, a training split and T records of a network's embeddings (one matrix (p, d), or
a stack saved over training steps with their step numbers), :func:`analyse` reports

- the split's theory: its structure (parallelograms, dof, rate, ideal accuracy), the critical
  fraction of the task and the side of it the split lies on, and the time scale at which the
  theory expects the structure (τ = Z0 / (2 η λ3) for addition with Z0 = ‖E‖²_F of the first
  record; 1 / (η λ_min) for a ring; none for matrices), with η the network's embedding
  learning rate;
- the representation's structure at every record, read by the task's theory
  (:class:`efftheory.theories.track.StructureTrack`): RQI and predicted accuracy for addition;
  ring frequency, coherence, circle RQI, key Fourier frequencies and predicted accuracy for
  modular addition; matrix RQI, predicted accuracy and the representation scores for a group;
- the first recorded step at which the structure has formed (metric >= 0.95).

Steps are whatever the caller's records mean (the optimiser steps after which each record was
taken); they are only reported and used for the formation step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from efftheory.errors import require
from efftheory.tasks import Split, Task
from efftheory.theories import theory_for
from efftheory.theories.track import StructureTrack, read_tokens

#: The learning rate η of the time scale when none is given: efftheory's embedding default.
DEFAULT_LR = 1e-3


@dataclass(frozen=True)
class Analysis:
    """A theory's reading of one network's embeddings on one split.

    Attributes:
        split: the training split.
        steps: (T,) int64 step of each record (0..T-1 when none were given).
        theory: the split's theory, JSON-ready: the theory's
            :class:`~efftheory.theories.base.Structure` (``theory``, ``n_constraints``, ``dof``,
            ``rate``, ``ideal_test_accuracy``, ``unique``; None where the theory has no such
            number), ``rate_name``, and ``critical_fraction``, ``critical_trials``,
            ``critical_side`` (the side of r_c the split lies on; None when not estimated or
            not reached).
        track: the representation's structure at every record.
        formed_at: first step whose metric reaches the threshold (None if none does).
        lr: η of the time scale; time_scale: in steps at η (None without a rate).
        reading: how the embeddings were read ("raw" or "layernorm").
        last: (p, D) the last record as read (a group's k x k matrices flattened, D = k²).
    """

    split: Split = field(repr=False)
    steps: np.ndarray = field(repr=False)
    theory: dict
    track: StructureTrack
    formed_at: int | None
    lr: float
    time_scale: float | None
    reading: str
    last: np.ndarray = field(repr=False)

    def to_json(self) -> dict:
        s = self.split
        return {"task": s.task.name, "task_description": s.task.describe(), "p": s.p, "ordered": s.task.ordered,
                "n_samples": s.task.n_samples, "n_train": s.n_train, "frac": s.frac, "reading": self.reading,
                "records": self.track.n_records, "steps": self.steps, "theory": self.theory, "lr": self.lr,
                "time_scale": self.time_scale, "formed_at": self.formed_at, "structure": self.track.to_json()}


def check_steps(steps, T: int) -> np.ndarray:
    """(T,) int64 step numbers: whole, >= 0 and strictly increasing; 0..T-1 when None."""
    if steps is None:
        return np.arange(T, dtype=np.int64)
    raw = np.asarray(steps).ravel()
    require(raw.size == T, f"{T} embedding record(s) but {raw.size} step number(s)")
    require(raw.dtype.kind in "iuf" and bool(np.all(np.isfinite(raw))) and bool(np.all(raw == np.round(raw))),
            "step numbers must be whole numbers")
    out = raw.astype(np.int64)
    require(bool(np.all(out >= 0)), f"step numbers must be >= 0, got {int(out.min())}")
    require(bool(np.all(np.diff(out) > 0)), "step numbers must be strictly increasing")
    return out


def analyse(embeddings, split: Split, steps=None, *, reading: str = "raw", lr: float = DEFAULT_LR,
            critical_trials: int = 2000, progress=None) -> Analysis:
    """Read ``embeddings`` ((p, d) or (T, p, d); for a group also (p, k, k) or (T, p, k, k)) with
    the theory of ``split``'s task (module docstring). ``critical_trials`` random orders estimate
    the critical fraction (0: skip it); ``progress(k)`` is called as they finish."""
    require(isinstance(split, Split), f"split must be a Split, got {type(split).__name__}")
    require(isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0, f"lr must be positive, got {lr!r}")
    theory = theory_for(split.task)
    track = theory.track(embeddings, split, reading)
    steps = check_steps(steps, track.n_records)
    structure = theory.structure(split)
    summary = {**structure.to_json(), "rate_name": theory.rate_name,
               **critical_side(theory, split, critical_trials, progress)}
    flat = np.asarray(embeddings, dtype=np.float64).reshape(track.n_records, split.p, -1)
    return Analysis(split=split, steps=steps, theory=summary, track=track, formed_at=track.formed_at(steps),
                    lr=float(lr), time_scale=theory.time_scale(structure, embeddings, lr), reading=reading,
                    last=read_tokens(flat[-1:], reading)[0])


def critical_side(theory, split: Split, trials: int, progress=None) -> dict:
    """r_c of the split's task by the theory's critical-size curve from ``trials`` random
    orders, and the side of it the split lies on ("above", "below", "at"; None when r_c is not
    reached or ``trials`` is 0, which skips the estimate)."""
    if not trials:
        return {"critical_fraction": None, "critical_trials": 0, "critical_side": None}
    r_c = theory.critical(split.task, trials, 0, progress).r_c
    side = None if r_c is None else "above" if split.frac > r_c else "below" if split.frac < r_c else "at"
    return {"critical_fraction": r_c, "critical_trials": int(trials), "critical_side": side}


def split_from_pairs(task: Task, pairs) -> Split:
    """The split whose training set is the samples ``pairs`` (n, 2) of ``task`` (symbols
    0..p-1; for unordered tasks (a, b) and (b, a) are the same sample). Refuses symbols out of
    range and, for an unordered task, nothing else: repeats are merged."""
    pairs = np.asarray(pairs)
    require(pairs.ndim == 2 and pairs.shape[1] == 2 and pairs.shape[0] >= 1,
            f"training pairs must be an (n, 2) array, got shape {pairs.shape}")
    require(pairs.dtype.kind in "iuf" and bool(np.all(np.isfinite(pairs))) and bool(np.all(pairs == np.round(pairs))),
            "training pairs must be whole numbers")
    a, b = pairs[:, 0].astype(np.int64), pairs[:, 1].astype(np.int64)
    bad = (a < 0) | (a >= task.p) | (b < 0) | (b >= task.p)
    if bad.any():
        require(False, f"training pairs must hold symbols in [0, {task.p}), got {pairs[bad][0].tolist()}")
    if task.ordered:
        return Split.from_indices(task, a * task.p + b)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    # index of (lo, hi) among the unordered pairs in lexicographic order (numpy's triu_indices)
    index = lo * task.p - lo * (lo - 1) // 2 + (hi - lo)
    return Split.from_indices(task, index)
