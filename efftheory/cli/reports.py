"""How ``efftheory train`` reports a run: one :class:`Report` per theory a model's runs are read
with (a model's command-line module lists them in ``REPORTS``, by theory name)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


def _nothing(*args) -> None:
    return None


@dataclass(frozen=True)
class Report:
    """The pieces of one report.

    Attributes:
        run: ``run(args, split, config, result, plot_path, save_path) -> (json object, text)``:
            the run beside its theory, and the files asked for.
        check: ``check(args, task)``, before anything is built: refuse (InputError) a task the
            report cannot read (e.g. a ring needs p >= 3).
        check_config: ``check_config(args, config)``, before training: refuse a config it cannot
            read (e.g. a ring needs 2-d embeddings).
    """

    run: Callable
    check: Callable = _nothing
    check_config: Callable = _nothing
