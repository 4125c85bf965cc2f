"""Cell functions and their names: a cheap deterministic stand-in for a model's cell
(:func:`synthetic_cell`, for testing the machinery) and the name a manifest records
(:func:`cell_name`). A model's own cell is part of the model (:attr:`efftheory.models.Model.cell`)."""

from __future__ import annotations

import time
import zlib

import numpy as np

from efftheory.models.base import stored_as


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


def cell_name(cell_fn) -> str:
    """The name of a cell function recorded in the manifest: ``module:qualname``, or the
    function's ``stored_name`` when it has one. The built-in cells keep the names they had when
    they lived in ``efftheory/sweep.py`` (``efftheory.sweep:network_cell``, ...), so the stores
    written then stay the same sweeps (resumable, shareable) after the module moved."""
    return getattr(cell_fn, "stored_name", None) or f"{cell_fn.__module__}:{cell_fn.__qualname__}"
