"""Parallelograms are enumerated class by class: memory O(|P0| + N), never O(N²)."""

import tracemalloc

import numpy as np

from efftheory.theories.linear.metrics import rqi
from efftheory.tasks import Addition
from efftheory.tasks.parallelograms import count_parallelograms, parallelograms
from efftheory.theories.linear.theory import linear_theory


def _peak(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_enumeration_at_p100_is_within_a_small_factor_of_its_output():
    task = Addition(100)
    task.pairs, task.labels  # cached inputs, not part of the enumeration
    m = count_parallelograms(task, np.arange(task.n_samples))
    peak = _peak(lambda: parallelograms(task))
    # output: m rows of two int64 = 16 m bytes; the old all-pairs code asked for N² = 2.6e7
    # index pairs (400 MB) here
    assert peak < 8 * 16 * m, (peak, 16 * m)


def test_rqi_and_linear_theory_at_p100_need_no_parallelogram_list():
    task = Addition(100)
    m = count_parallelograms(task, np.arange(task.n_samples))
    E = np.arange(100, dtype=float)[:, None]
    rqi(E)  # compile and cache outside the measurement
    assert _peak(lambda: rqi(E)) < 16 * m / 4
    split = task.split(frac=0.3, seed=0)
    assert _peak(lambda: linear_theory(split)) < 16 * m


def test_simulate_refuses_trial_counts_beyond_the_memory_budget_before_allocating():
    import pytest

    from efftheory.errors import InputError
    from efftheory.theories.linear.simulation import MEMORY_BUDGET, memory_estimate, simulate

    th = linear_theory(Addition(59).split(frac=0.4, seed=0))
    assert memory_estimate(59, 1, 100_000, 200) > MEMORY_BUDGET
    tracemalloc.start()
    try:
        with pytest.raises(InputError, match="trials=100000"):
            simulate(th, trials=100_000)
        assert tracemalloc.get_traced_memory()[1] < 50 * 2**20  # refused up front
    finally:
        tracemalloc.stop()
