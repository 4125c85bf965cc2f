"""The Omnigrok MLP's phase-sweep cell (:func:`omnigrok_cell`): one run at one grid cell of an
image task, as the record the sweep stores (:data:`efftheory.models.base.CELL_KEYS` and the
phase), so that ``efftheory phase --model omnigrok --task digits`` maps the phases over, e.g.,
(alpha, train_num) or (alpha, wd)."""

from __future__ import annotations

import dataclasses
import math

from efftheory.errors import require
from efftheory.models.omnigrok.training import OmnigrokConfig, train_omnigrok

#: grid axes that set the split rather than the config
SPLIT_AXES = ("frac", "train_num")


def _split(settings: dict, fixed: dict):
    """The split of this cell: the sweep's task, ``train_num`` (or ``frac``) from the cell's axis
    or else the sweep's ``n_train`` (``frac``), drawn by the run's split seed."""
    from efftheory.tasks import make_task

    task = make_task(fixed["task"])
    seed = fixed.get("split_seed", fixed["seed"])
    n = settings.get("train_num", None if "frac" in settings else fixed.get("n_train"))
    frac = settings.get("frac", fixed.get("frac")) if n is None else None
    return task.split(frac=frac, seed=seed) if n is None else task.split(n_train=int(n), seed=seed)


def _config(settings: dict, fixed: dict) -> OmnigrokConfig:
    base = OmnigrokConfig(**fixed["network"], seed=fixed["seed"])
    return dataclasses.replace(base, **{k: v for k, v in settings.items() if k not in SPLIT_AXES})


def omnigrok_cell(settings: dict, fixed: dict) -> dict:
    """Train the Omnigrok MLP (docs/theory.md §16) at one grid cell; the :data:`CELL_KEYS` and
    its phase, like the toy's :func:`~efftheory.models.toy.cell.network_cell`.

    The config is ``replace(OmnigrokConfig(**fixed["network"], seed=seed), **settings)`` without
    the split axes. Accuracies are evaluated every ``eval_every`` steps, so the step counts are
    multiples of it. Every cell runs its whole budget (``early_stop`` is not applied: the run's
    stopping hook sees the test accuracy only, and the phase needs both step counts). There are
    no embeddings, so ``final_rqi`` and ``t_rqi`` are None.
    """
    result = train_omnigrok(_split(settings, fixed), _config(settings, fixed), fixed["steps"],
                            eval_every=fixed["eval_every"], gap=fixed["gap"])
    record = result.cell_record()
    record["final_rqi"] = None if math.isnan(record["final_rqi"]) else record["final_rqi"]
    for key in ("final_train_acc", "final_test_acc"):  # a diverged run's last record may be NaN
        record[key] = None if math.isnan(record[key]) else record[key]
    return record


def _check_omnigrok_cell(grid, fixed: dict) -> None:
    """Refuse axes, settings and tasks the Omnigrok MLP does not have before any worker starts."""
    from efftheory.experiments.sweep.grid import AXES
    from efftheory.tasks import TASKS

    names = {f.name for f in dataclasses.fields(OmnigrokConfig)} - {"seed"}
    for axis in (grid.x, grid.y):
        require(axis.name in SPLIT_AXES or axis.name in names,
                f"the omnigrok model has no setting {axis.name!r} (axes: {', '.join(SPLIT_AXES)}, "
                f"{', '.join(sorted(names & set(AXES)))})")
    bad = sorted(set(fixed["network"]) - names)
    require(not bad, f"unknown omnigrok setting {bad[0] if bad else ''!r}")
    task = fixed.get("task", "add")
    require(task in TASKS and not TASKS[task].takes_p,
            f"the omnigrok model trains on image tasks (--task digits), not --task {task}")
    for _, _, settings in grid.cells():
        _config(settings, fixed)


omnigrok_cell.check = _check_omnigrok_cell
