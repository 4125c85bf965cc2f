"""Image classification tasks from real data: scikit-learn's 8x8 digits and MNIST (IDX files),
registered as ``digits`` and ``mnist`` (kind ``images``, :mod:`efftheory.tasks.registry`).

A task here is a labelled pool of training images and a fixed test set; it is not an operation
table, so it has no symbols, no parallelograms and no linear theory. A split is a seeded subset
of ``train_num`` images of the training pool, tested against the whole test set.

- ``digits``: the 1,797 8x8 handwritten digits bundled with scikit-learn (no network needed; the
  optional extra ``efftheory[data]``). They come without a train/test division, so this module
  fixes one that never depends on a seed: the first 1,297 images are the training pool, the last
  500 the test set (every split of every seed is tested on the same 500 images). Pixels 0..16 are
  divided by 16.
- ``mnist``: the four standard IDX files (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
  ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, each optionally gzipped with a ``.gz``
  suffix) in a directory: 60,000 training and 10,000 test images of 28x28 pixels, divided by 255.

Images enter a model flattened: inputs (n, n_inputs) float32 in [0, 1], labels (n,) int64 in
0..9.
"""

from __future__ import annotations

import functools
import gzip
import numbers
from dataclasses import dataclass, field
from typing import ClassVar
from pathlib import Path

import numpy as np

from efftheory.errors import InputError, require
from efftheory.tasks.registry import register_task

#: images 0..1296 of scikit-learn's digits are the training pool, 1297..1796 the test set
DIGITS_POOL = 1297
N_CLASSES = 10

# IDX element types: the third byte of the magic number
_IDX_TYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
              0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_GZIP_MAGIC = b"\x1f\x8b"
#: the four MNIST files: (role, base name)
MNIST_FILES = (("train images", "train-images-idx3-ubyte"), ("train labels", "train-labels-idx1-ubyte"),
               ("test images", "t10k-images-idx3-ubyte"), ("test labels", "t10k-labels-idx1-ubyte"))


# ------------------------------------------------------------------ the task and its splits


@dataclass(frozen=True, eq=False)
class ImageTask:
    """A labelled training pool and a fixed test set.

    Attributes:
        name: "digits" or "mnist".
        train_x: (N_pool, n_inputs) float32 pixels in [0, 1], images flattened row-major.
        train_y: (N_pool,) int64 labels in 0..n_classes-1.
        test_x: (N_test, n_inputs) float32; test_y: (N_test,) int64.
        side: images are side x side pixels (n_inputs = side²).
    """

    name: str
    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    side: int
    n_classes: int = N_CLASSES

    #: no theory of :mod:`efftheory.theories` describes an image set (no symbols, no
    #: parallelograms): :func:`efftheory.theories.theory_for` gives None for it
    theory: ClassVar[str | None] = None
    #: an image set has no symbols
    p: ClassVar[None] = None

    @property
    def n_samples(self) -> int:
        """The training pool a split draws from (as an operation table's N samples)."""
        return self.n_pool

    def describe(self) -> str:
        """A short human description, e.g. ``digits (8x8 images, 10 classes)``."""
        return f"{self.name} ({self.side}x{self.side} images, {self.n_classes} classes)"

    @property
    def n_inputs(self) -> int:
        return int(self.train_x.shape[1])

    @property
    def n_pool(self) -> int:
        return int(self.train_x.shape[0])

    @property
    def n_test(self) -> int:
        return int(self.test_x.shape[0])

    def n_train_for(self, frac=None, n_train=None) -> int:
        """Training-set size from exactly one of ``frac`` (of the pool, rounded, at least 1) or
        ``n_train`` (as :meth:`efftheory.tasks.Task.n_train_for`)."""
        require((frac is None) != (n_train is None), "give exactly one of frac or n_train")
        return self.split(frac=frac, n_train=n_train).n_train

    def n_test_for(self, n_train: int) -> int:
        """The fixed test set, whatever the training size."""
        return self.n_test

    def split(self, train_num: int | None = None, seed: int = 0, *, n_train: int | None = None,
              frac: float | None = None) -> "ImageSplit":
        """``train_num`` images of the training pool drawn without replacement by ``seed``.

        ``n_train`` is the same count under the name the operation tables use, ``frac`` a
        fraction of the pool (rounded, at least 1): give exactly one of the three.
        """
        given = [v for v in (train_num, n_train, frac) if v is not None]
        require(len(given) == 1, "give exactly one of train_num, n_train and frac")
        if frac is not None:
            require(isinstance(frac, numbers.Real) and 0 < frac <= 1, f"frac must be in (0, 1], got {frac!r}")
            train_num = max(1, round(frac * self.n_pool))
        elif n_train is not None:
            train_num = n_train
        require(isinstance(train_num, numbers.Integral) and not isinstance(train_num, bool)
                and 1 <= train_num <= self.n_pool,
                f"train_num must be an integer in 1..{self.n_pool} ({self.name} has {self.n_pool} training "
                f"images), got {train_num!r}")
        require(isinstance(seed, numbers.Integral) and not isinstance(seed, bool) and seed >= 0,
                f"seed must be a non-negative integer, got {seed!r}")
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), 27]))
        train = np.sort(rng.choice(self.n_pool, size=int(train_num), replace=False)).astype(np.int64)
        return ImageSplit(self, train, int(seed))


@dataclass(frozen=True, eq=False)
class ImageSplit:
    """``train`` (n_train,) int64: sorted indices into the task's training pool; the test set is
    the task's whole test set."""

    task: ImageTask
    train: np.ndarray
    seed: int = 0
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def n_train(self) -> int:
        return int(self.train.size)

    @property
    def n_test(self) -> int:
        return self.task.n_test

    @property
    def p(self) -> None:
        """An image set has no symbols."""
        return None

    @property
    def frac(self) -> float:
        """The share of the training pool in training."""
        return self.n_train / self.task.n_pool

    @property
    def test_labels(self) -> np.ndarray:
        """(n_test,) int64 labels of the test set."""
        return self.task.test_y

    @property
    def train_x(self) -> np.ndarray:
        """(n_train, n_inputs) float32, C-contiguous."""
        if "x" not in self._cache:
            self._cache["x"] = np.ascontiguousarray(self.task.train_x[self.train])
        return self._cache["x"]

    @property
    def train_y(self) -> np.ndarray:
        return self.task.train_y[self.train]

    @property
    def test_x(self) -> np.ndarray:
        return self.task.test_x

    @property
    def test_y(self) -> np.ndarray:
        return self.task.test_y


# ------------------------------------------------------------------ scikit-learn's digits


@functools.lru_cache(maxsize=1)
def load_digits_task() -> ImageTask:
    """The 8x8 digits with the fixed division of the module docstring (needs scikit-learn); read
    once per process."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise InputError("the digits task needs scikit-learn: pip install 'efftheory[data]'") from None
    bunch = load_digits()
    x = (np.asarray(bunch.data, dtype=np.float64) / 16.0).astype(np.float32)
    y = np.asarray(bunch.target, dtype=np.int64)
    return ImageTask("digits", np.ascontiguousarray(x[:DIGITS_POOL]), y[:DIGITS_POOL],
                     np.ascontiguousarray(x[DIGITS_POOL:]), y[DIGITS_POOL:], side=8)


# ------------------------------------------------------------------ IDX files (MNIST)


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, decompressed when it starts with the gzip magic."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise InputError(f"{path}: cannot read ({err.strerror or err})") from None
    if raw[:2] != _GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError) as err:
        raise InputError(f"{path}: damaged gzip file ({err})") from None


def read_idx(path) -> np.ndarray:
    """An IDX array: magic ``0x00 0x00 TYPE NDIM``, NDIM big-endian uint32 sizes, then the
    elements big-endian in row-major order. Returns it in native byte order.

    A file that does not start with that magic, names an unknown type, or holds fewer or more
    bytes than its sizes promise raises :class:`InputError` naming the file.
    """
    path = Path(path)
    data = _read_bytes(path)
    require(len(data) >= 4 and data[0] == 0 and data[1] == 0,
            f"{path}: not an IDX file (magic {data[:4].hex() or 'missing'}, expected 0000TTNN)")
    dtype = _IDX_TYPES.get(data[2])
    require(dtype is not None, f"{path}: not an IDX file (unknown element type 0x{data[2]:02x})")
    ndim = data[3]
    require(ndim >= 1, f"{path}: IDX file with no dimensions")
    head = 4 + 4 * ndim
    require(len(data) >= head, f"{path}: truncated IDX file (header needs {head} bytes, found {len(data)})")
    shape = tuple(int(s) for s in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    need = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    have = len(data) - head
    require(have >= need, f"{path}: truncated IDX file (sizes {shape} need {need} bytes of data, found {have})")
    require(have == need, f"{path}: IDX file with {have - need} bytes after its data (sizes {shape})")
    return np.frombuffer(data, dtype=dtype, count=need // dtype.itemsize, offset=head).reshape(shape).astype(
        dtype.newbyteorder("="))


def _find(data_dir: Path, base: str) -> Path | None:
    for name in (base, base + ".gz"):
        if (data_dir / name).is_file():
            return data_dir / name
    return None


def _images_and_labels(images_path: Path, labels_path: Path, role: str) -> tuple[np.ndarray, np.ndarray, int]:
    images, labels = read_idx(images_path), read_idx(labels_path)
    require(images.ndim == 3 and images.shape[1] == images.shape[2],
            f"{images_path}: expected square images (n, side, side), got sizes {images.shape}")
    require(labels.ndim == 1, f"{labels_path}: expected labels (n,), got sizes {labels.shape}")
    require(images.shape[0] == labels.shape[0],
            f"{role}: {images.shape[0]} images in {images_path.name} but {labels.shape[0]} labels in {labels_path.name}")
    require(labels.size == 0 or (labels.min() >= 0 and labels.max() < N_CLASSES),
            f"{labels_path}: labels outside 0..{N_CLASSES - 1}")
    scale = 255.0 if images.dtype == np.uint8 else 1.0
    x = (images.reshape(images.shape[0], -1).astype(np.float64) / scale).astype(np.float32)
    return np.ascontiguousarray(x), labels.astype(np.int64), int(images.shape[1])


def load_mnist_task(data_dir) -> ImageTask:
    """MNIST from the four IDX files in ``data_dir`` (gzipped or not; module docstring)."""
    require(data_dir is not None, "the mnist task needs --data-dir DIR holding the four MNIST IDX files")
    data_dir = Path(data_dir)
    require(data_dir.is_dir(), f"--data-dir {data_dir}: not a directory")
    paths = [_find(data_dir, base) for _, base in MNIST_FILES]
    missing = [f"{base}[.gz]" for (_, base), path in zip(MNIST_FILES, paths) if path is None]
    require(not missing, f"--data-dir {data_dir}: missing {', '.join(missing)}")
    tr_x, tr_y, side = _images_and_labels(paths[0], paths[1], "training set")
    te_x, te_y, te_side = _images_and_labels(paths[2], paths[3], "test set")
    require(side == te_side, f"training images are {side}x{side} but test images {te_side}x{te_side}")
    require(tr_y.size > 0 and te_y.size > 0, f"--data-dir {data_dir}: empty training or test set")
    return ImageTask("mnist", tr_x, tr_y, te_x, te_y, side=side)


def _digits(data_dir=None) -> ImageTask:
    require(data_dir is None, "--data-dir applies only to --task mnist (digits ship with scikit-learn)")
    return load_digits_task()


register_task("digits", _digits, "scikit-learn's 8x8 handwritten digits (1297 training "
              "images, 500 test; needs efftheory[data])", kind="images")
register_task("mnist", lambda data_dir=None: load_mnist_task(data_dir), "MNIST from its four IDX files (--data-dir)",
              kind="images", needs_files=True)
