"""Image tasks: the IDX reader on files the tests write (plain, gzipped, truncated, wrong magic),
MNIST from a directory, and scikit-learn's digits (skipped without scikit-learn)."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from efftheory.errors import InputError
from efftheory.tasks import make_task
from efftheory.tasks.images import DIGITS_POOL, MNIST_FILES, load_mnist_task, read_idx


def idx_bytes(array: np.ndarray, type_code: int = 0x08) -> bytes:
    """An IDX file's bytes: magic 00 00 TYPE NDIM, big-endian uint32 sizes, big-endian data."""
    dtype = {0x08: ">u1", 0x0B: ">i2", 0x0D: ">f4"}[type_code]
    head = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return head + np.asarray(array, dtype=dtype).tobytes()


@pytest.mark.parametrize("code", [0x08, 0x0B, 0x0D])
@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_round_trip(tmp_path, code, gz):
    a = (np.arange(2 * 3 * 4).reshape(2, 3, 4) * 7 % 200).astype(np.float64)
    raw = idx_bytes(a, code)
    path = tmp_path / "a.idx"
    path.write_bytes(gzip.compress(raw) if gz else raw)
    got = read_idx(path)
    assert got.shape == (2, 3, 4) and got.dtype.isnative
    np.testing.assert_array_equal(got, a)


def test_read_idx_refuses_bad_files(tmp_path):
    a = np.arange(24, dtype=np.uint8).reshape(2, 12)
    good = idx_bytes(a)
    cases = {
        "truncated.idx": (good[:-5], "truncated IDX file"),
        "header.idx": (good[:6], "truncated IDX file"),
        "magic.idx": (b"\x12\x34" + good[2:], "not an IDX file"),
        "type.idx": (good[:2] + b"\x07" + good[3:], "unknown element type"),
        "long.idx": (good + b"\x00", "bytes after its data"),
        "badgz.idx.gz": (gzip.compress(good)[:-8], "damaged gzip"),
        "empty.idx": (b"", "not an IDX file"),
    }
    for name, (data, message) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(InputError, match=message) as err:
            read_idx(tmp_path / name)
        assert name in str(err.value) and "\n" not in str(err.value)


def write_mnist(directory, n_train=12, n_test=5, side=4, gz=(False, True, False, True)):
    rng = np.random.default_rng(0)
    arrays = [rng.integers(0, 256, (n_train, side, side)), rng.integers(0, 10, n_train),
              rng.integers(0, 256, (n_test, side, side)), rng.integers(0, 10, n_test)]
    for (_, base), array, z in zip(MNIST_FILES, arrays, gz):
        raw = idx_bytes(array)
        (directory / (base + (".gz" if z else ""))).write_bytes(gzip.compress(raw) if z else raw)
    return arrays


def test_mnist_from_a_directory(tmp_path):
    arrays = write_mnist(tmp_path)
    task = load_mnist_task(tmp_path)
    assert (task.n_pool, task.n_test, task.n_inputs, task.side) == (12, 5, 16, 4)
    np.testing.assert_allclose(task.train_x * 255, arrays[0].reshape(12, 16), atol=1e-4)
    np.testing.assert_array_equal(task.test_y, arrays[3])
    split = task.split(7, seed=3)
    assert split.n_train == 7 and len(set(split.train.tolist())) == 7
    np.testing.assert_array_equal(split.train, task.split(7, seed=3).train)
    # the operation tables' spelling gives the same split; a fraction of the pool rounds
    np.testing.assert_array_equal(task.split(n_train=7, seed=3).train, split.train)
    assert task.split(frac=0.5, seed=0).n_train == 6
    with pytest.raises(InputError, match="exactly one"):
        task.split(7, n_train=7)


def test_mnist_errors_name_what_is_wrong(tmp_path):
    with pytest.raises(InputError, match="--data-dir"):
        load_mnist_task(None)
    with pytest.raises(InputError, match="not a directory"):
        load_mnist_task(tmp_path / "nowhere")
    write_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(InputError, match=r"missing t10k-labels-idx1-ubyte\[\.gz\]"):
        load_mnist_task(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(4, np.uint8)))
    with pytest.raises(InputError, match="5 images .* but 4 labels"):
        load_mnist_task(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.full(5, 11, np.uint8)))
    with pytest.raises(InputError, match="labels outside"):
        load_mnist_task(tmp_path)


def test_digits_fixed_division_and_seeded_splits():
    pytest.importorskip("sklearn")
    task = make_task("digits")
    assert (task.n_pool, task.n_test, task.n_inputs) == (DIGITS_POOL, 1797 - DIGITS_POOL, 64)
    assert task.train_x.dtype == np.float32 and 0.0 <= task.train_x.min() and task.train_x.max() == 1.0
    assert set(np.unique(task.test_y)) == set(range(10))
    a, b, c = task.split(100, seed=0), task.split(100, seed=0), task.split(100, seed=1)
    np.testing.assert_array_equal(a.train, b.train)
    assert not np.array_equal(a.train, c.train)
    assert a.test_x is c.test_x  # every split is tested on the same held-out images
    with pytest.raises(InputError, match="train_num"):
        task.split(DIGITS_POOL + 1)


def test_image_tasks_are_registered_apart_from_the_tables():
    from efftheory.tasks import TASKS, task_names

    assert task_names("images") == ("digits", "mnist") and "digits" not in task_names("table")
    assert TASKS["mnist"].kind == "images" and TASKS["add"].kind == "table"
    with pytest.raises(InputError, match="task must be one of"):
        make_task("cifar")
    with pytest.raises(InputError, match="has no p"):
        make_task("digits", 10)
    with pytest.raises(InputError, match="--data-dir applies only to --task mnist"):
        make_task("digits", data_dir="/tmp")
    with pytest.raises(InputError, match="takes no data_dir"):
        make_task("add", 5, data_dir="/tmp")
