"""The 1s-and-0s task: a seeded pool of distinct strings, parity labels, token lists, splits."""

from __future__ import annotations

import numpy as np
import pytest

from efftheory.errors import InputError
from efftheory.models.embed_mlp import EmbedMLPConfig, token_lists, train_embed_mlp
from efftheory.tasks import TASKS, ParityTask, make_task


def test_pool_is_distinct_seeded_and_in_range():
    t = ParityTask(n_bits=30, pool=5000, pool_seed=3)
    s = t.strings
    assert s.size == 5000 and np.unique(s).size == 5000
    assert s.min() >= 0 and s.max() < 2**30
    np.testing.assert_array_equal(s, ParityTask(n_bits=30, pool=5000, pool_seed=3).strings)
    assert not np.array_equal(s, ParityTask(n_bits=30, pool=5000, pool_seed=4).strings)


def test_a_small_space_is_filled_without_repeats():
    t = ParityTask(n_bits=4, k=2, pool=16)
    np.testing.assert_array_equal(np.sort(t.strings), np.arange(16))


def test_labels_are_the_parity_of_the_first_k_bits():
    t = ParityTask(n_bits=12, k=3, pool=500, pool_seed=1)
    bits = t.bits()
    np.testing.assert_array_equal(t.labels, bits[:, :3].sum(axis=1) % 2)
    np.testing.assert_array_equal((bits * (1 << np.arange(12))).sum(axis=1), t.strings)
    assert 0.4 < t.labels.mean() < 0.6


def test_token_lists_are_the_positions_of_the_ones():
    t = ParityTask(n_bits=10, pool=50)
    order = np.arange(49, -1, -1)
    ptr, idx = t.token_lists(order)
    bits = t.bits(order)
    for r in range(50):
        np.testing.assert_array_equal(idx[ptr[r]:ptr[r + 1]], np.flatnonzero(bits[r]))


def test_split_and_model_input():
    task = make_task("parity", 30)
    assert "parity" in TASKS and task.n_bits == 30 and task.n_samples == 10_000
    split = task.split(n_train=300, seed=2)
    assert split.n_train == 300 and split.n_test == 9700
    ptr, idx, labels, n_tok, n_classes = token_lists(split)
    assert (n_tok, n_classes) == (30, 2)
    np.testing.assert_array_equal(labels[:300], task.labels[split.train])


def test_the_embedding_mlp_learns_a_small_parity():
    split = ParityTask(n_bits=8, k=2, pool=200).split(n_train=150, seed=0)
    # float32, the type the model trains in by default (the same accuracies as float64, whose
    # kernels the default run does not compile)
    run = train_embed_mlp(split, EmbedMLPConfig(dim=16, bias=True, lr=1e-2, wd=0.1), 600, eval_every=50)
    assert run.train_acc[-1] == 1.0 and run.test_acc[-1] >= 0.9
    assert np.all(np.isnan(run.rqi))  # no theory reads bit embeddings


@pytest.mark.parametrize("kw", [dict(n_bits=0), dict(n_bits=63), dict(k=31), dict(pool=2**4 + 1, n_bits=4),
                                dict(pool=1)])
def test_bad_parity_tasks_are_refused(kw):
    with pytest.raises(InputError):
        ParityTask(**kw)
