"""Key frequencies of trained embedding MLPs against the linear theory's prediction, and chance.

One run (:func:`run_frequency_one`): addition mod p (unordered pairs), a training split of
fraction ``frac`` drawn with ``seed``, the embedding MLP with the same network seed, trained for
``steps``. Its key frequencies and dominant frequency come from the final embedding
(:mod:`efftheory.theories.circle.fourier`); the prediction from the split and the network's own E0
(:func:`efftheory.theories.circle.frequencies.predict_frequencies`, at the fixed horizons).

The summary (:func:`summarise_frequencies`), per (p, frac, horizon), over the runs whose final
test accuracy is at least ``min_test_acc`` (0.9 by default: the networks that generalised; 0
takes every run):

- ``top1``: the network's dominant frequency is the predicted first; chance 1/K, K = (p - 1)/2;
- ``in_keys``: the predicted first is one of the network's key frequencies; chance the mean of
  |keys| / K over the runs (a frequency drawn uniformly from 1..K).

Counts, shares with Wilson 95% intervals, and the chance share beside each.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from efftheory.models.embed_mlp import EmbedMLPConfig, train_embed_mlp
from efftheory.phases import ACC_THRESHOLD
from efftheory.stats import wilson_interval
from efftheory.tasks import ModularAddition
from efftheory.theories.circle.fourier import fourier_spectrum
from efftheory.theories.circle.frequencies import HORIZONS, predict_frequencies


@dataclass(frozen=True)
class FrequencyRun:
    """One trained network and its prediction (JSON-ready fields).

    ``predicted`` holds one full ranking (K frequencies, strongest first) per horizon of
    ``horizons``; ``keys`` the network's key frequencies, strongest first.
    """

    p: int
    frac: float
    seed: int
    n_train: int
    steps: int
    phase: str
    steps_to_train: int | None
    steps_to_test: int | None
    final_train_acc: float
    final_test_acc: float
    keys: list
    dominant: int
    participation: float
    spread: float
    off_diagonal: float
    horizons: list
    predicted: list

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def run_frequency_one(p: int, frac: float, seed: int, steps: int, config: EmbedMLPConfig) -> FrequencyRun:
    """Train one network (split seed = network seed = ``seed``) and predict its frequencies."""
    split = ModularAddition(p).split(frac=frac, seed=seed)
    run = train_embed_mlp(split, dataclasses.replace(config, seed=seed), steps, eval_every=steps)
    spec = fourier_spectrum(run.E_final)
    pred = predict_frequencies(split, run.E0)
    return FrequencyRun(
        p=p, frac=float(frac), seed=seed, n_train=split.n_train, steps=steps, phase=run.phase,
        steps_to_train=run.steps_to_train, steps_to_test=run.steps_to_test,
        final_train_acc=float(run.train_acc[-1]), final_test_acc=float(run.test_acc[-1]),
        keys=spec.key_frequencies(), dominant=int(spec.dominant()), participation=float(spec.participation),
        spread=pred.spread, off_diagonal=pred.off_diagonal, horizons=[float(h) for h in pred.horizons],
        predicted=[[int(k) for k in row] for row in pred.ranked],
    )


@dataclass(frozen=True)
class FrequencyRow:
    """The comparison for one (p, frac, horizon): counts over the ``n`` of ``runs`` runs whose final
    test accuracy is at least ``min_test_acc``."""

    p: int
    frac: float
    horizon: float
    min_test_acc: float
    runs: int
    n: int
    top1: int
    top1_share: float | None
    top1_ci: tuple | None
    top1_chance: float
    in_keys: int
    in_keys_share: float | None
    in_keys_ci: tuple | None
    in_keys_chance: float | None
    mean_keys: float | None
    mean_spread: float
    mean_off_diagonal: float


def summarise_frequencies(runs: list[FrequencyRun], min_test_acc: float = ACC_THRESHOLD) -> list[FrequencyRow]:
    """One :class:`FrequencyRow` per (p, frac, horizon) present in ``runs`` (module docstring)."""
    rows = []
    for p, frac in sorted({(r.p, r.frac) for r in runs}):
        group = [r for r in runs if r.p == p and r.frac == frac]
        good = [r for r in group if r.final_test_acc >= min_test_acc]
        K = (p - 1) // 2
        for h, horizon in enumerate(group[0].horizons):
            top1 = sum(r.dominant == r.predicted[h][0] for r in good)
            in_keys = sum(r.predicted[h][0] in r.keys for r in good)
            n = len(good)
            mean_keys = float(np.mean([len(r.keys) for r in good])) if n else None
            rows.append(FrequencyRow(
                p=p, frac=frac, horizon=horizon, min_test_acc=float(min_test_acc), runs=len(group), n=n,
                top1=top1, top1_share=top1 / n if n else None, top1_ci=wilson_interval(top1, n) if n else None,
                top1_chance=1.0 / K,
                in_keys=in_keys, in_keys_share=in_keys / n if n else None,
                in_keys_ci=wilson_interval(in_keys, n) if n else None,
                in_keys_chance=mean_keys / K if n else None, mean_keys=mean_keys,
                mean_spread=float(np.mean([r.spread for r in group])),
                mean_off_diagonal=float(np.mean([r.off_diagonal for r in group])),
            ))
    return rows


__all__ = ["HORIZONS", "FrequencyRow", "FrequencyRun", "run_frequency_one", "summarise_frequencies"]
