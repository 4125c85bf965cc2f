import numpy as np
import pytest

from efftheory.errors import InputError
from efftheory.tasks import Addition, Split


@pytest.mark.parametrize("p", [2, 3, 10, 59])
def test_samples_are_unordered_pairs_with_integer_sums(p):
    task = Addition(p)
    assert task.n_samples == p * (p + 1) // 2 == len(task.pairs)
    assert np.all(task.pairs[:, 0] <= task.pairs[:, 1])
    assert len({tuple(r) for r in task.pairs}) == task.n_samples
    assert np.array_equal(task.sums, task.pairs.sum(axis=1))
    assert task.sums.max() == 2 * p - 2 and task.n_classes == 2 * p - 1


def test_paper_sizes():
    assert Addition(10).n_samples == 55
    assert Addition(59).n_samples == 1770


def test_split_by_fraction_is_seeded_and_disjoint():
    task = Addition(10)
    a = task.split(frac=0.8, seed=3)
    b = task.split(frac=0.8, seed=3)
    c = task.split(frac=0.8, seed=4)
    assert a.n_train == round(0.8 * 55) == 44
    assert np.array_equal(a.train, b.train) and not np.array_equal(a.train, c.train)
    assert np.intersect1d(a.train, a.test).size == 0
    assert np.array_equal(np.union1d(a.train, a.test), np.arange(55))


def test_split_matches_default_rng_choice():
    task = Addition(7)
    split = task.split(n_train=11, seed=5)
    expected = np.sort(np.random.default_rng(5).choice(28, size=11, replace=False))
    assert np.array_equal(split.train, expected)


def test_full_split_has_empty_test_set():
    split = Addition(5).split(frac=1.0)
    assert split.n_train == 15 and split.test.size == 0


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        (dict(frac=0.0), "frac"),
        (dict(frac=1.5), "frac"),
        (dict(frac=-0.1), "frac"),
        (dict(n_train=0), "n_train"),
        (dict(n_train=56), "n_train"),
        (dict(), "exactly one"),
        (dict(frac=0.5, n_train=3), "exactly one"),
        (dict(frac=0.001), "no training sample"),
        (dict(frac=0.5, seed=-1), "seed"),
    ],
)
def test_bad_splits_raise_input_error(kwargs, needle):
    with pytest.raises(InputError, match=needle):
        Addition(10).split(**kwargs)


@pytest.mark.parametrize("p", [1, 0, -3, 2.5, "10", True])
def test_bad_p(p):
    with pytest.raises(InputError, match="p"):
        Addition(p)


def test_split_from_indices():
    task = Addition(4)
    split = Split.from_indices(task, [3, 1, 1, 0])
    assert split.train.tolist() == [0, 1, 3]
    assert split.test.tolist() == [2, 4, 5, 6, 7, 8, 9]
    with pytest.raises(InputError):
        Split.from_indices(task, [10])
