"""The frequency survey: one run's record, and the counts of the summary on hand-made runs."""

from __future__ import annotations

import pytest

from efftheory.experiments.frequency_survey import FrequencyRun, run_frequency_one, summarise_frequencies
from efftheory.models.embed_mlp import EmbedMLPConfig


def _run(seed, dominant, keys, predicted_first, test_acc=1.0, p=11):
    K = (p - 1) // 2
    rest = [k for k in range(1, K + 1) if k != predicted_first]
    ranking = [predicted_first] + rest
    return FrequencyRun(p=p, frac=0.5, seed=seed, n_train=33, steps=10, phase="grokking", steps_to_train=1,
                        steps_to_test=5, final_train_acc=1.0, final_test_acc=test_acc, keys=keys, dominant=dominant,
                        participation=2.0, spread=0.1, off_diagonal=0.2, horizons=[0.0], predicted=[ranking])


def test_summary_counts_hits_over_generalised_runs_only():
    runs = [_run(0, 3, [3, 1], 3), _run(1, 2, [2, 4], 4), _run(2, 5, [5], 1), _run(3, 1, [1], 1, test_acc=0.5)]
    (row,) = summarise_frequencies(runs)
    assert (row.runs, row.n) == (4, 3)
    assert row.top1 == 1 and row.in_keys == 2
    assert row.top1_chance == pytest.approx(1 / 5)
    assert row.mean_keys == pytest.approx(5 / 3)
    assert row.in_keys_chance == pytest.approx(5 / 3 / 5)
    assert row.top1_ci[0] < 1 / 3 < row.top1_ci[1]


def test_one_run_is_consistent():
    r = run_frequency_one(11, 0.5, 1, 50, EmbedMLPConfig(dim=6, lr=1e-2))
    assert r.p == 11 and r.seed == 1 and r.steps == 50
    assert sorted(r.predicted[0]) == [1, 2, 3, 4, 5] and len(r.predicted) == 3
    assert r.dominant == r.keys[0] and 1 <= len(r.keys) <= 5
    assert 1.0 <= r.participation <= 5.0
    assert r.to_dict()["keys"] == r.keys


def test_summary_over_every_run():
    runs = [_run(0, 3, [3, 1], 3), _run(1, 1, [1], 1, test_acc=0.5)]
    (row,) = summarise_frequencies(runs, min_test_acc=0.0)
    assert (row.n, row.top1, row.in_keys) == (2, 2, 2)
