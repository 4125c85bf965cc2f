"""The embedding MLP's phase-sweep cell (:func:`embed_mlp_cell`): one run at one grid cell, as
the record the sweep stores (:data:`efftheory.models.base.CELL_KEYS` and the phase)."""

from __future__ import annotations

import dataclasses

from efftheory.errors import require
from efftheory.models.embed_mlp.training import EmbedMLPConfig, train_embed_mlp
from efftheory.tasks import make_task


def embed_mlp_cell(settings: dict, fixed: dict) -> dict:
    """Train the embedding MLP at one grid cell; the :data:`CELL_KEYS` and its phase.

    The split is ``make_task(task, p).split(n_train|frac, split_seed)`` (task ``fixed["task"]``);
    the config is ``replace(EmbedMLPConfig(**fixed["network"], seed=seed), **settings)``
    (``frac`` goes to the split). Test accuracy is evaluated every ``eval_every`` steps; with
    ``early_stop`` the run ends at the first evaluated step with train and test accuracy >= 0.9.
    """
    task = make_task(fixed.get("task", "modadd"), fixed["p"])
    frac = settings.get("frac", fixed.get("frac"))
    split_seed = fixed.get("split_seed", fixed["seed"])
    split = (task.split(frac=frac, seed=split_seed) if frac is not None
             else task.split(n_train=fixed["n_train"], seed=split_seed))
    overrides = {k: v for k, v in settings.items() if k != "frac"}
    config = dataclasses.replace(EmbedMLPConfig(**fixed["network"], seed=fixed["seed"]), **overrides)
    result = train_embed_mlp(split, config, fixed["steps"], eval_every=fixed["eval_every"], gap=fixed["gap"],
                             stop_at_test=fixed["early_stop"])
    return result.cell_record()


def _check_embed_mlp_cell(grid, fixed: dict) -> None:
    """Refuse axes and settings the embedding MLP does not have before any worker starts."""
    names = {f.name for f in dataclasses.fields(EmbedMLPConfig)} - {"seed"}
    for axis in (grid.x, grid.y):
        require(axis.name == "frac" or axis.name in names,
                f"the embedding MLP has no setting {axis.name!r} (axes: frac, {', '.join(sorted(names))})")
    bad = sorted(set(fixed["network"]) - names)
    require(not bad, f"unknown embedding-MLP setting {bad[0] if bad else ''!r}")
    base = EmbedMLPConfig(**fixed["network"], seed=fixed["seed"])
    for _, _, settings in grid.cells():
        dataclasses.replace(base, **{k: v for k, v in settings.items() if k != "frac"})


embed_mlp_cell.check = _check_embed_mlp_cell
