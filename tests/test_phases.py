"""The phase rule (docs/theory.md §10) on every combination of reached / never and gap below / at / above G."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from efftheory.phases import PHASES, phase_of

G = 1000.0
T_TRAIN = 500


def _expected(t_train, t_test, gap):
    """The rule written out case by case, independently of phase_of's control flow."""
    if t_train is None and t_test is None:
        return "confusion"
    if t_train is None:
        return "confusion"  # test reached, train never: still confusion
    if t_test is None:
        return "memorization"
    delta = t_test - t_train
    return "grokking" if delta > gap else "comprehension"


# t_test relative to t_train: far below (negative gap), just below, exactly at G, just above, far above
OFFSETS = {"negative": -400, "zero": 0, "below": int(G) - 1, "at": int(G), "above": int(G) + 1, "far": 50 * int(G)}


@pytest.mark.parametrize(
    "train_reached,test_case",
    list(itertools.product([True, False], [None, *OFFSETS])),
)
def test_every_combination(train_reached, test_case):
    t_train = T_TRAIN if train_reached else None
    t_test = None if test_case is None else T_TRAIN + OFFSETS[test_case]
    got = phase_of(t_train, t_test, gap=G)
    assert got == _expected(t_train, t_test, G)
    table = {
        (True, None): "memorization",
        (True, "negative"): "comprehension",
        (True, "zero"): "comprehension",
        (True, "below"): "comprehension",
        (True, "at"): "comprehension",  # t_test - t_train <= G is comprehension
        (True, "above"): "grokking",
        (True, "far"): "grokking",
    }
    assert got == table.get((train_reached, test_case), "confusion")


def test_default_gap_is_1e3():
    assert phase_of(0, 1000) == "comprehension"
    assert phase_of(0, 1001) == "grokking"


def test_gap_zero_and_fractional_gap():
    assert phase_of(10, 10, gap=0) == "comprehension"
    assert phase_of(10, 11, gap=0) == "grokking"
    assert phase_of(10, 11, gap=0.5) == "grokking"
    assert phase_of(10, 11, gap=1.5) == "comprehension"


@given(
    t_train=st.one_of(st.none(), st.integers(0, 10**6)),
    t_test=st.one_of(st.none(), st.integers(0, 10**6)),
    gap=st.floats(0, 1e6, allow_nan=False),
)
def test_exactly_one_phase_and_monotone_in_gap(t_train, t_test, gap):
    got = phase_of(t_train, t_test, gap)
    assert got in PHASES
    assert got == _expected(t_train, t_test, gap)
    if got == "grokking":  # a larger G can only turn grokking into comprehension
        assert phase_of(t_train, t_test, gap + (t_test - t_train)) == "comprehension"
