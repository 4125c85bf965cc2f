"""Real networks against the theory, the neural-tangents way: a handful of fixed splits in the
`comprehension` preset (p = 10, 5000 steps at most), deterministic, a few seconds in all.

The splits are fixed, not typical: what the p = 10 grid of this preset (paper_repro/validation.py,
220 runs) says about the claims asserted here:
- Acc and Âcc within two samples of the table: 206 of 220 runs (at n >= 40 all but seed 14 at
  n = 50); elsewhere up to 8 samples apart.
- a unique split with n >= 45 forms its structure within 5000 steps: 58 of 60 (not seeds 14
  and 18 at n = 50); a split with dof > 0 never does: 0 of 81, in both presets.
- time: the time scale orders networks only weakly (Spearman 0.49 [0.32, 0.63]); e.g. seed 19
  at n = 40 (Z0/(2ηλ3) = 290 steps) forms its structure at step 236, before seed 12 at n = 54
  (46 steps; structure at step 250). So only a ten-fold contrast of time scales is asserted.
"""

import dataclasses

import numpy as np
import pytest

import efftheory as et

PRESET = et.COMPARE_PRESETS["comprehension"]


def _run(n_train: int, seed: int):
    split = et.Addition(10).split(n_train=n_train, seed=seed)
    run = et.train_network(split, dataclasses.replace(PRESET, seed=seed), steps=5000, eval_every=1)
    return split, et.linear_theory(split), run


@pytest.fixture(scope="module")
def runs():
    return {(n, s): _run(n, s) for n, s in ((54, 12), (45, 13), (30, 6), (45, 0), (20, 0))}


@pytest.mark.slow
def test_accuracy_matches_the_representation_to_two_test_samples(runs):
    for (n, seed), (split, theory, run) in runs.items():
        _, pred_full = et.predicted_accuracy(run.embeddings[-1], split)
        assert abs(run.final_full_acc - pred_full) <= 2 / split.task.n_samples + 1e-12, (n, seed)


@pytest.mark.slow
def test_unique_large_splits_form_the_structure_and_non_unique_ones_do_not(runs):
    for (n, seed), (split, theory, run) in runs.items():
        if n >= 45:
            assert theory.unique and run.steps_to_rqi is not None, (n, seed)
        if not theory.unique:
            assert run.steps_to_rqi is None, (n, seed)  # the data leave the structure free
    assert not runs[(20, 0)][1].unique


@pytest.mark.slow
def test_a_ten_times_longer_time_scale_takes_longer(runs):
    fast, slow = runs[(54, 12)], runs[(30, 6)]
    tau = [et.time_scale(r[1].grokking_rate, float(np.sum(r[2].E0 ** 2)), PRESET.embed_lr) for r in (fast, slow)]
    assert tau[1] > 10 * tau[0]
    assert fast[2].steps_to_rqi < slow[2].steps_to_rqi
