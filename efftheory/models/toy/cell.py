"""The toy network's phase-sweep cell (:func:`network_cell`): one run at one grid cell, as the
record the sweep stores (:data:`efftheory.models.base.CELL_KEYS` and the phase)."""

from __future__ import annotations

import dataclasses

from efftheory.errors import InputError, require
from efftheory.models.base import stored_as
from efftheory.models.toy.config import NetworkConfig
from efftheory.models.toy.training import train_network
from efftheory.tasks import make_task

#: the training kernel behind :func:`network_cell`'s records. Version 2 forwards all samples at
#: every step and measures the crossings at every step, whatever ``eval_every``. Version 1 (no
#: field in the manifest) forwarded all samples only on evaluated steps and the training rows
#: alone on the others, so at ``eval_every`` > 1 its trajectories (and its step counts, multiples
#: of eval_every) differ; at ``eval_every`` = 1 it did exactly what version 2 does.
NETWORK_KERNEL = "efftheory.network/2"


def _network_kernel(fixed: dict) -> str | None:
    """The kernel field of a :func:`network_cell` sweep's manifest: None (no field) where
    version 1 wrote the same records (``eval_every`` = 1, so its stores stay resumable),
    :data:`NETWORK_KERNEL` otherwise (so a version-1 store is refused as a different sweep)."""
    return None if fixed["eval_every"] == 1 else NETWORK_KERNEL


@stored_as("network_cell")
def network_cell(settings: dict, fixed: dict) -> dict:
    """Train the toy network (docs/theory.md §9) at one grid cell; return the :data:`CELL_KEYS` and its phase.

    The split is ``make_task(task, p).split(n_train|frac, split_seed)`` (task ``fixed["task"]``,
    default ``"add"``); the network config is
    ``replace(NetworkConfig(**fixed["network"], seed=seed), **settings)`` (``frac`` goes to the
    split instead). With ``early_stop`` the run ends once train and test accuracy have both
    reached 0.9. The phase is the network run's own (see :mod:`efftheory.phases`).

    The cheap path: t_train, t_test and t_rqi are exact first steps (train_network tracks the
    crossings at every step) and only step 0 and the last step are recorded, so the RQI is
    computed only until it crosses and nothing else is stored per step. The records equal those
    of the plain loop (every step recorded) up to where early stopping ends the run.
    """
    split, config = _network_run(settings, fixed)
    result = train_network(
        split,
        config,
        steps=fixed["steps"],
        eval_every=fixed["steps"],  # only the last record is kept; crossings are exact anyway
        delta=fixed["delta"],
        gap=fixed["gap"],
        stop_at_test=fixed["early_stop"],
    )
    return result.cell_record()


def _network_run(settings: dict, fixed: dict):
    """``(split, config)`` of one :func:`network_cell` run: what it trains on and with what."""
    task = make_task(fixed.get("task", "add"), fixed["p"])
    frac = settings.get("frac", fixed.get("frac"))
    split_seed = fixed.get("split_seed", fixed["seed"])
    if frac is not None:
        split = task.split(frac=frac, seed=split_seed)
    else:
        split = task.split(n_train=fixed["n_train"], seed=split_seed)
    overrides = {k: v for k, v in settings.items() if k != "frac"}
    config = dataclasses.replace(NetworkConfig(**fixed["network"], seed=fixed["seed"]), **overrides)
    return split, config


def _network_identity(settings: dict, fixed: dict) -> dict:
    """Everything a :func:`network_cell` record depends on, resolved: the task, the training
    and test indices in the order the kernel sees them, every field of the network config (seed
    included), the budget, the RQI threshold, the phase gap, early stopping and ``eval_every``
    (kept although version 2 of the kernel ignores it, because version 1 did not). Two runs
    with the same identity have the same record (:mod:`efftheory.experiments.sweep.shared_runs`)."""
    split, config = _network_run(settings, fixed)
    return {
        "task": fixed.get("task", "add"), "p": int(fixed["p"]),
        "train": split.train.tolist(), "test": split.test.tolist(),
        "network": dataclasses.asdict(config),
        "steps": int(fixed["steps"]), "delta": float(fixed["delta"]), "gap": float(fixed["gap"]),
        "early_stop": bool(fixed["early_stop"]), "eval_every": int(fixed["eval_every"]),
    }


def _check_network_cell(grid, fixed: dict) -> None:
    """Build every cell's NetworkConfig here, so bad settings fail before any worker starts."""

    names = {f.name for f in dataclasses.fields(NetworkConfig)}
    for axis in (grid.x, grid.y):
        require(axis.name == "frac" or axis.name in names, f"the toy network has no setting {axis.name!r}")
    try:
        base = NetworkConfig(**fixed["network"], seed=fixed["seed"])
    except TypeError:
        bad = sorted(set(fixed["network"]) - names)
        raise InputError(f"unknown network setting {bad[0] if bad else fixed['network']!r}") from None
    for _, _, settings in grid.cells():
        dataclasses.replace(base, **{k: v for k, v in settings.items() if k != "frac"})


network_cell.check = _check_network_cell
#: recorded in the manifest: records of another version of the training kernel are not resumed
network_cell.kernel = _network_kernel
#: the resolved run behind a record, so that another sweep holding the same run can take it
network_cell.identity = _network_identity
