"""The transformer's phase-sweep cell (:func:`transformer_cell`): one run at one grid cell, as
the record the sweep stores (:data:`efftheory.models.base.CELL_KEYS` and the phase)."""

from __future__ import annotations

import dataclasses

from efftheory.errors import require
from efftheory.models.base import stored_as
from efftheory.models.transformer.config import TransformerConfig
from efftheory.models.transformer.training import train_transformer
from efftheory.tasks import ModularAddition

#: the transformer's config fields a sweep axis may be (named in the refusal of any other)
SWEEPABLE = frozenset({"embed_lr", "decoder_lr", "embed_wd", "decoder_wd", "width", "dim", "dropout"})

@stored_as("transformer_cell")
def transformer_cell(settings: dict, fixed: dict) -> dict:
    """Train the paper's transformer (docs/theory.md §15) at one grid cell; the :data:`CELL_KEYS`
    and its phase, like :func:`network_cell`.

    The split is ``ModularAddition(p, ordered=True).split(n_train|frac, split_seed)`` (the
    transformer reads ordered pairs); the config is ``replace(TransformerConfig(**fixed["network"],
    seed=seed), **settings)``. Accuracies are evaluated every ``eval_every`` steps (step counts
    are multiples of it); with ``early_stop`` the run ends once train and test accuracy have both
    reached 0.99 (after both crossed 0.9, so the phase is decided). ``final_rqi`` is the circle
    RQI of the ring fitted to the token embeddings.
    """
    task = ModularAddition(fixed["p"], ordered=True)
    frac = settings.get("frac", fixed.get("frac"))
    split_seed = fixed.get("split_seed", fixed["seed"])
    split = (task.split(frac=frac, seed=split_seed) if frac is not None
             else task.split(n_train=fixed["n_train"], seed=split_seed))
    overrides = {k: v for k, v in settings.items() if k != "frac"}
    config = dataclasses.replace(TransformerConfig(**fixed["network"], seed=fixed["seed"]), **overrides)
    result = train_transformer(split, config, fixed["steps"], eval_every=fixed["eval_every"], gap=fixed["gap"],
                               stop_at_full=fixed["early_stop"])
    return result.cell_record()


def _check_transformer_cell(grid, fixed: dict) -> None:
    """Refuse axes and settings the transformer does not have before any worker starts."""
    names = {f.name for f in dataclasses.fields(TransformerConfig)}
    for axis in (grid.x, grid.y):
        require(axis.name == "frac" or axis.name in names,
                f"the transformer has no setting {axis.name!r} (axes: frac, {', '.join(sorted(names & SWEEPABLE))})")
    bad = sorted(set(fixed["network"]) - names)
    require(not bad, f"unknown transformer setting {bad[0] if bad else ''!r}")
    require(fixed.get("task", "add") == "modadd", "the transformer is trained on modular addition (--task modadd)")
    base = TransformerConfig(**fixed["network"], seed=fixed["seed"])
    for _, _, settings in grid.cells():
        dataclasses.replace(base, **{k: v for k, v in settings.items() if k != "frac"})


transformer_cell.check = _check_transformer_cell
