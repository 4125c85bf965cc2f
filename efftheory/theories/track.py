"""The structure of a representation over training steps, as one type for every theory.

A theory reads a stack of embeddings (T records of one representation, e.g. a network's
embedding matrix saved every k steps) and scores each record with its own structure metric
(RQI for addition, circle RQI for modular addition, matrix RQI for a group) and the predicted
accuracy that metric implies (docs/theory.md §7: a test sample counts when a parallelogram with
some training sample of its label holds). :class:`StructureTrack` holds those curves and the
theory's extra columns (ring frequency and coherence, homomorphism error, ...), so
``efftheory analyse`` and the PyTorch probe present every theory the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from efftheory.errors import require


def first_step_at(steps, values, level: float) -> int | None:
    """The first step whose value is >= ``level`` (NaN never is), None if none is."""
    hit = np.flatnonzero(np.nan_to_num(np.asarray(values, dtype=np.float64), nan=-np.inf) >= level)
    return int(np.asarray(steps)[hit[0]]) if hit.size else None


@dataclass(frozen=True)
class StructureTrack:
    """A theory's reading of T records of one representation.

    Attributes:
        theory: the theory's name ("linear", "circle", "matrix").
        metric_name: what ``metric`` is ("RQI", "circle RQI", "matrix RQI").
        metric: (T,) the structure metric of each record, in [0, 1] (NaN: no reading possible,
            e.g. a record with no ring plane).
        threshold: ``metric`` at and above which the structure counts as formed (0.95).
        predicted_test_acc, predicted_full_acc: (T,) predicted accuracy on the test set (NaN
            without one) and on the whole table (training samples counted as fitted).
        columns: the theory's extra per-record curves by name, each (T,) (e.g. ``frequency``).
        final: the theory's description of the last record (JSON-ready scalars and short lists,
            e.g. its key Fourier frequencies).
        shares: the names of the columns that are shares in [0, 1] (drawn beside the metric).
    """

    theory: str
    metric_name: str
    metric: np.ndarray = field(repr=False)
    threshold: float
    predicted_test_acc: np.ndarray = field(repr=False)
    predicted_full_acc: np.ndarray = field(repr=False)
    columns: dict = field(default_factory=dict, repr=False)
    final: dict = field(default_factory=dict)
    shares: tuple = ()

    def __post_init__(self) -> None:
        require(set(self.shares) <= set(self.columns), f"shares {self.shares} must name columns")
        T = np.shape(self.metric)[0]
        for name, values in (("predicted_test_acc", self.predicted_test_acc),
                             ("predicted_full_acc", self.predicted_full_acc), *self.columns.items()):
            require(np.shape(values) == (T,), f"{name} must have shape ({T},), got {np.shape(values)}")

    @property
    def n_records(self) -> int:
        return int(np.shape(self.metric)[0])

    def formed_at(self, steps) -> int | None:
        """The first of ``steps`` (T,) at which the metric reaches the threshold, None if never."""
        return first_step_at(steps, self.metric, self.threshold)

    def to_json(self) -> dict:
        """Every curve and the final description, JSON-ready (NaN stays NaN; the CLI writes null)."""
        return {"theory": self.theory, "metric_name": self.metric_name, "threshold": self.threshold,
                "metric": self.metric, "predicted_test_acc": self.predicted_test_acc,
                "predicted_full_acc": self.predicted_full_acc, "columns": dict(self.columns),
                "final": dict(self.final)}


def full_accuracy(test, split) -> np.ndarray:
    """Predicted accuracy over the whole table, (|D| + implied) / N, from the predicted test
    accuracy ``test`` (...) = implied / |test| (NaN without a test set, then implied = 0); the
    training samples count as fitted (docs/theory.md §7)."""
    test = np.asarray(test, dtype=np.float64)
    implied = np.round(np.nan_to_num(test, nan=0.0) * split.n_test)
    return (split.n_train + implied) / split.task.n_samples


def vector_stack(E, p: int) -> np.ndarray:
    """Embeddings as a (T, p, d) float64 stack: one matrix (p, d) becomes T = 1; a stack
    (T, p, d) stays. Refuses other shapes, a row count other than ``p`` and non-finite entries
    (one line naming the record), so a theory's metric never reads a broken record."""
    E = np.asarray(E)
    require(E.dtype.kind in "fiub", f"embeddings must be numbers, got dtype {E.dtype}")
    require(E.ndim in (2, 3), f"embeddings must be one matrix (p, d) or a stack (T, p, d), got shape {E.shape}")
    E = np.asarray(E[None] if E.ndim == 2 else E, dtype=np.float64)
    require(E.shape[0] >= 1 and E.shape[2] >= 1, f"embeddings must not be empty, got shape {E.shape}")
    require(E.shape[1] == p, f"embeddings have {E.shape[1]} rows (symbols), the task has p = {p}: "
                             f"shape {E.shape}")
    check_finite(E)
    return E


def check_finite(stack: np.ndarray) -> None:
    """Refuse a stack (T, ...) with NaN or inf, naming the first bad record."""
    bad = ~np.all(np.isfinite(stack.reshape(stack.shape[0], -1)), axis=1)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        require(False, f"the embeddings hold NaN or inf in record {k} (of {stack.shape[0]}); "
                       f"{int(bad.sum())} record(s) are not finite")


#: How a network reads its embeddings: "raw" (as given) or "layernorm" (each token's embedding
#: standardised over its d components first, what a LayerNorm in front of the network sees).
READINGS = ("raw", "layernorm")


def standardise_tokens(E: np.ndarray) -> np.ndarray:
    """Each token's embedding standardised over its d components (mean 0, std 1, biased): what
    a LayerNorm sees before its gain and bias. (..., p, d) -> same shape, float64; a token whose
    components are all equal has no standardised form and comes out NaN."""
    E = np.asarray(E, dtype=np.float64)
    c = E - E.mean(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return c / np.sqrt(np.mean(c * c, axis=-1, keepdims=True))


def read_tokens(stack: np.ndarray, reading: str) -> np.ndarray:
    """``stack`` (T, p, d) as the network reads it (:data:`READINGS`). A token whose components
    are all equal has no standardised form: with "layernorm" it is refused, naming it."""
    require(reading in READINGS, f"reading must be one of {', '.join(READINGS)}, got {reading!r}")
    if reading == "raw":
        return stack
    require(stack.shape[2] >= 2, f"a LayerNorm reading needs d >= 2 components, got d = {stack.shape[2]}")
    flat = np.flatnonzero(np.ptp(stack, axis=2).ravel() == 0)
    if flat.size:
        record, symbol = divmod(int(flat[0]), stack.shape[1])
        require(False, f"a token's embedding has all components equal (record {record}, symbol {symbol}): "
                       "it has no LayerNorm reading")
    return standardise_tokens(stack)
