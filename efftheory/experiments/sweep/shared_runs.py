"""Runs one sweep takes from the stores of other sweeps instead of computing them again.

A run's record is a pure function of what its cell function reads. When a cell function says
what that is, as ``cell_fn.identity(settings, fixed) -> dict`` (for the toy network: the task,
the training and test indices, every field of the network config with its seed, the budget,
the RQI threshold, the phase gap, early stopping, ``eval_every``), two sweeps that hold the same
run need to compute it once. The panels of the paper's Fig 5 share runs: Fig 5a's column at
embedding lr 1e-3 is Fig 5b's row at decoder weight decay 0 (both MSE, no weight decay,
the same decoder learning rates), cell for cell and seed for seed.

A record is taken only if the other sweep's manifest names the same cell function and the same
kernel version (:func:`efftheory.experiments.sweep.engine.manifest_for`), the identities are equal to the last bit
of every float, and its line passes every check a resume makes in the other sweep's own store
(:func:`efftheory.runtime.store.read_sweep`: bounded parse, no repeated key, types and ranges, the phase
recomputed from its step counts and the other sweep's gap). A damaged manifest there is a
one-line refusal; a damaged line is not shared. The copy keeps the other run's step counts, final
metrics, phase, gap, seconds (the compute the record cost) and arithmetic (None where the other
record names none: :mod:`efftheory.runtime.arithmetic`), takes this sweep's cell, seed and
settings, and names where it came from in ``shared_from`` (the other manifest's digest).
"""

from __future__ import annotations

import json
from pathlib import Path

from efftheory.runtime.store import read_sweep

#: the fields a shared record keeps from the record it copies
RESULT_FIELDS = ("t_train", "t_test", "t_rqi", "steps_run", "final_train_acc", "final_test_acc",
                 "final_rqi", "phase", "gap", "seconds", "arithmetic")


def identity_text(cell_fn, sweep: dict, settings: dict, fixed: dict) -> str | None:
    """The canonical JSON of one run's identity within ``sweep`` (a manifest's ``sweep`` part),
    or None if ``cell_fn`` has no ``identity``. The cell function's name and the manifest's
    kernel field are part of it, so records of another kernel version never match."""
    identity = getattr(cell_fn, "identity", None)
    if identity is None:
        return None
    whole = {"cell": sweep["cell"], "kernel": sweep.get("kernel"), "run": identity(settings, fixed)}
    return json.dumps(whole, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _source_records(directory, cell_fn, sweep: dict) -> dict:
    """``{identity text: record}`` of the first possible record of every run stored in
    ``directory`` whose manifest has this sweep's cell function and kernel."""
    other, records = read_sweep(directory)
    if other.get("cell") != sweep["cell"] or other.get("kernel") != sweep.get("kernel"):
        return {}
    found = {}
    for rec in records:  # read_sweep kept only the lines that pass the store's checks
        fixed = {**other["fixed"], "seed": rec["seed"], "split_seed": rec["split_seed"]}
        try:
            text = identity_text(cell_fn, other, rec["settings"], fixed)
        except (KeyError, TypeError, ValueError):  # a run this code cannot rebuild is not shared
            continue
        found.setdefault(text, rec)
    return found


def shared_records(pending, run_fixed, split_seed, cell_fn, sweep: dict, sources) -> dict:
    """``{(ix, iy, seed): record}`` for the runs of ``pending`` (``(ix, iy, seed, settings)``
    tuples) that one of the result directories ``sources`` already holds.

    ``run_fixed(seed)`` and ``split_seed(seed)`` give a run's ``fixed`` dict and split seed in
    this sweep (:class:`efftheory.experiments.sweep.settings.SweepSettings`); ``sweep`` is this sweep's manifest part.
    Sources are searched in order; the records are not yet stamped or stored."""
    if not pending or not sources or getattr(cell_fn, "identity", None) is None:
        return {}
    known = {}
    for directory in sources:
        for text, rec in _source_records(Path(directory), cell_fn, sweep).items():
            known.setdefault(text, rec)
    shared = {}
    for ix, iy, seed, cs in pending:
        rec = known.get(identity_text(cell_fn, sweep, cs, run_fixed(seed)))
        if rec is not None:
            shared[(ix, iy, seed)] = {
                "ix": ix, "iy": iy, "seed": seed, "split_seed": split_seed(seed), "settings": cs,
                **{k: rec.get(k) for k in RESULT_FIELDS}, "shared_from": rec["digest"],
            }
    return shared
