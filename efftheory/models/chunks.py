"""How every model's trainer drives its numba training loop: the buffers the loop records into
(:class:`Records`) and the calls of the loop over chunks of steps (:func:`run_in_chunks`).

A model's loop kernel runs steps t0 <= t < t1 of a run of ``steps`` updates (step t = the
parameters after t updates; step ``steps`` is evaluated, not updated), writes each evaluated
step into the next row of the record buffers, and returns ``RAN`` or the outcome that stopped
it (``DIVERGED``, or the model's own stop). Calling it in chunks costs nothing measurable and
lets the trainer report progress and stop between chunks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from efftheory.errors import require
from efftheory.models.shared_kernels import RAN

#: the most memory the record buffers of one run may take (bytes): beyond it a run is refused
#: before it starts, rather than failing for want of memory hours into it
MAX_RECORD_BYTES = 4 * 2**30


@dataclass(frozen=True)
class Records:
    """Buffers a loop kernel writes its evaluated steps into.

    Attributes:
        f: (n, fields) float64, one row per evaluated step, column 0 its step, NaN until written.
        emb: (n, *emb_shape) float64 copies of the embeddings at those steps ((n, 0) without).
        pos: (1,) int64, the next row to write (the number written).
        first: (n_first,) int64, the first steps at which thresholds were reached (-1: not yet).
    """

    f: np.ndarray
    emb: np.ndarray
    pos: np.ndarray
    first: np.ndarray

    @classmethod
    def allocate(cls, steps: int, eval_every: int, fields: int, emb_shape: tuple = (), n_first: int = 0) -> "Records":
        """Rows for steps 0, k, 2k, ... (k = ``eval_every``), the last step and a stopping step;
        refused (one line naming eval_every) when they would take more than
        :data:`MAX_RECORD_BYTES`."""
        n = steps // eval_every + 3
        row = 8 * (fields + math.prod(emb_shape))
        if n * row > MAX_RECORD_BYTES:
            least = steps // (MAX_RECORD_BYTES // row - 3) + 1
            require(False, f"recording every {eval_every} of {steps} steps keeps {n} records of {row} bytes "
                           f"({n * row / 2**30:.1f} GiB, more than {MAX_RECORD_BYTES / 2**30:.0f}); "
                           f"evaluate every {least} steps or more (eval_every, --eval-every)")
        emb = np.zeros((n, *emb_shape)) if emb_shape else np.zeros((n, 0))
        return cls(np.full((n, fields), np.nan), emb, np.zeros(1, np.int64), np.full(n_first, -1, np.int64))

    @property
    def rows(self) -> int:
        """The number of rows written."""
        return int(self.pos[0])

    def last_step(self) -> int:
        """The step of the last row written."""
        return int(self.f[self.rows - 1, 0])

    def firsts(self) -> tuple:
        """:attr:`first` with None for a threshold never reached."""
        return tuple(None if f < 0 else int(f) for f in self.first)


def run_in_chunks(run_chunk, steps: int, chunk: int, records: Records, progress=None, until=None) -> tuple[int, int]:
    """Call ``run_chunk(t0, t1)`` on t0 = 0, chunk, 2 chunk, ... (t1 = min(t0 + chunk, steps + 1))
    until every step ran or a chunk returned an outcome other than RAN.

    ``progress(n)``, if given, is called after each chunk with the number of steps done since the
    last call; ``until()``, if given, is asked after each chunk that ran through whether to stop
    there. Returns (outcome, steps done): the steps done are the last recorded step when a chunk
    stopped the run, else the updates applied.
    """
    t, done, outcome = 0, 0, RAN
    while t <= steps and outcome == RAN:
        t1 = min(t + chunk, steps + 1)
        outcome = run_chunk(t, t1)
        now = records.last_step() if outcome != RAN else min(t1, steps)
        if progress is not None and now > done:
            progress(now - done)
        t, done = t1, now
        if until is not None and outcome == RAN and until():
            break
    return outcome, done
