"""A single run's verdict at its budget (efftheory.phases.verdict): "still rising" has an exact
oracle on linear curves, and memorization / confusion are not decided while the deciding accuracy
still rises or the theory predicts the structure later than the budget."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from efftheory.cli._wording import verdict_reason, verdict_text
from efftheory.phases import PHASES, RISE_MIN, RISE_WINDOW, SWING_MAX, late_gain, late_swing, verdict

STEPS = np.arange(0, 5001)


@given(slope=st.floats(-1e-3, 1e-3), offset=st.floats(-1, 1), every=st.sampled_from([1, 5, 20]))
def test_a_linear_curve_gains_slope_times_the_window(slope, offset, every):
    """Both averaging windows are symmetric about centres RISE_WINDOW * span apart."""
    steps = np.arange(0, 8001, every)
    gain = late_gain(steps, offset + slope * steps)
    assert gain == pytest.approx(slope * RISE_WINDOW * 8000, abs=1e-9 + abs(slope) * every)


def test_a_plateau_with_evaluation_noise_is_not_rising_but_swings():
    rng = np.random.default_rng(0)
    plateau = np.minimum(STEPS / 2000, 1) * 0.55 + rng.choice([-1 / 11, 0, 1 / 11], size=STEPS.size)
    assert abs(late_gain(STEPS, plateau)) < RISE_MIN
    assert late_swing(STEPS, plateau) == pytest.approx(2 / 11)
    v = verdict("memorization", STEPS, np.ones(STEPS.size), plateau, 5000)
    assert not v.decided and "test accuracy not settled (between 0.4" in v.reason


def test_late_swing_is_the_range_over_the_last_quarter():
    acc = np.where(STEPS < 3700, 0.0, 0.5)  # a jump before the last quarter (3750..5000) does not count
    acc[4500] = 0.3
    assert late_swing(STEPS, acc) == pytest.approx(0.2)
    assert late_swing(STEPS, np.full(STEPS.size, 0.545)) == 0.0


def test_late_gain_of_no_test_set_or_one_step_is_nan():
    assert np.isnan(late_gain(STEPS, np.full(STEPS.size, np.nan)))
    assert np.isnan(late_gain(STEPS[:1], np.array([0.5])))


def test_a_coarse_curve_takes_the_step_nearest_each_window():
    steps, acc = np.array([0, 2000, 4000]), np.array([0.1, 0.3, 0.6])
    # span 4000, w = 1000: end window (3500, 4000] holds 4000; start window (2500, 3000] is empty:
    # its centre 2750 is nearest to step 2000
    assert late_gain(steps, acc) == pytest.approx(0.6 - 0.3)


def _rising_test(final=0.5):
    return np.linspace(0, final, STEPS.size)


@pytest.mark.parametrize("phase", ["comprehension", "grokking", "diverged"])
def test_a_threshold_reached_or_a_divergence_is_decided(phase):
    v = verdict(phase, STEPS, np.ones(STEPS.size), _rising_test(), 5000, {"flow": 1e6})
    assert v.decided and v.reason is None and v.phase == phase


def test_memorization_with_test_accuracy_still_rising_is_not_decided():
    v = verdict("memorization", STEPS, np.ones(STEPS.size), _rising_test(0.8), 5000)
    assert not v.decided and v.phase == "memorization" and v.curve == "test accuracy"
    assert v.gain == pytest.approx(0.8 * RISE_WINDOW, abs=1e-3)
    assert "test accuracy still rising (+0.20 over the last quarter" in v.reason


def test_confusion_judges_train_accuracy():
    flat_test = np.full(STEPS.size, 0.1)
    v = verdict("confusion", STEPS, _rising_test(0.8), flat_test, 5000)
    assert not v.decided and v.curve == "train accuracy" and "train accuracy still rising" in v.reason
    assert verdict("confusion", STEPS, np.full(STEPS.size, 0.5), flat_test, 5000).decided


def test_a_swing_within_the_threshold_is_settled():
    acc = np.full(STEPS.size, 0.6)
    acc[-300:] = 0.6 - SWING_MAX * 0.99
    assert verdict("memorization", STEPS, np.ones(STEPS.size), acc, 5000).decided


def test_a_flat_memorization_is_decided_unless_the_theory_predicts_later():
    flat = np.full(STEPS.size, 0.545)
    assert verdict("memorization", STEPS, np.ones(STEPS.size), flat, 5000, {"flow": 4999.0, "adam": None}).decided
    v = verdict("memorization", STEPS, np.ones(STEPS.size), flat, 5000, {"flow": 7761.0, "adam": 1102.0})
    assert not v.decided and v.reason == "the theory (flow) predicts the structure at step 7761, after the budget"


def test_without_a_test_set_memorization_is_decided():
    no_test = np.full(STEPS.size, np.nan)
    assert verdict("memorization", STEPS, np.ones(STEPS.size), no_test, 5000, {"flow": 1e6}).decided


@given(st.sampled_from(PHASES), st.floats(-1, 1), st.one_of(st.none(), st.floats(0, 1e5)))
def test_the_rule_phase_is_kept_and_decided_runs_have_no_reason(phase, final, t_theory):
    v = verdict(phase, STEPS, np.linspace(0, 1, STEPS.size), _rising_test(final), 5000, {"flow": t_theory})
    assert v.phase == phase
    assert (v.reason is None) == v.decided
    d = v.to_dict()
    assert d["decided"] == v.decided and d["undecided_reason"] == v.reason
    assert (d["late_gain"] is None) == (d["late_swing"] is None) == (d["late_curve"] is None)


def test_the_wording_says_not_decided_and_why():
    o = {"phase": "memorization", "decided": False, "steps_budget": 1500,
         "undecided_reason": "test accuracy still rising (+0.31 over the last quarter of the run)"}
    assert verdict_text(o) == ("phase: not decided within 1500 steps (by the sweep's rule, which stops at the "
                               "budget: memorization)")
    assert verdict_reason(o) == ["  not decided because: test accuracy still rising (+0.31 over the last quarter "
                                 "of the run); run longer (--steps) to decide"]
    assert verdict_text({"phase": "grokking", "decided": True}) == "phase: grokking"
    assert verdict_reason({"phase": "grokking", "decided": True}) == []


def test_the_generic_report_judges_its_budget_too(cli_json):
    """The toy on S3 is reported by the generic report (efftheory.cli._train_generic): 200 steps
    leave it in confusion with train accuracy still climbing, which the verdict fields say; the
    same fields are recomputed here from the saved curves."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        npz = Path(tmp) / "run.npz"
        o = cli_json("train", "--task", "s3", "--frac", 0.7, "--steps", 200, "--save", npz)
        saved = np.load(npz)
        expected = verdict(o["phase"], saved["steps"], saved["train_acc"], saved["test_acc"], 200)
    assert o["steps_budget"] == 200 and o["decided"] == expected.decided
    assert o["undecided_reason"] == expected.reason and o["late_curve"] == expected.curve
    assert o["phase"] == "confusion" and o["decided"] is False and "still rising" in o["undecided_reason"]
