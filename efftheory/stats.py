"""Small statistics helpers."""

from __future__ import annotations

import math

import numpy as np


def wilson_interval(k, n, z: float = 1.959963984540054):
    """Wilson score interval of a binomial proportion k / n (95% for the default z).

    Args:
        k: successes, scalar or array.
        n: trials (> 0), scalar or array broadcastable with k.

    Returns:
        (low, high) arrays (or floats) in [0, 1].
    """
    k = np.asarray(k, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    phat = k / n
    denom = 1.0 + z * z / n
    centre = (phat + z * z / (2 * n)) / denom
    half = z * np.sqrt(phat * (1 - phat) / n + z * z / (4 * n * n)) / denom
    low = np.clip(centre - half, 0.0, 1.0)
    high = np.clip(centre + half, 0.0, 1.0)
    # At k = 0 (k = n) the exact lower (upper) bound is 0 (1); remove round-off.
    low = np.where(k == 0, 0.0, low)
    high = np.where(k == n, 1.0, high)
    if low.ndim == 0:
        return float(low), float(high)
    return low, high


def crossing(x: np.ndarray, y: np.ndarray, level: float = 0.5) -> float | None:
    """First x at which a non-decreasing curve y reaches ``level``, by linear interpolation.

    Returns None when y never reaches the level.
    """
    above = np.flatnonzero(np.asarray(y) >= level)
    if above.size == 0:
        return None
    k = int(above[0])
    if k == 0 or y[k] == level:
        return float(x[k])
    x0, x1, y0, y1 = float(x[k - 1]), float(x[k]), float(y[k - 1]), float(y[k])
    return x0 + (level - y0) * (x1 - x0) / (y1 - y0)


def first_at_or_above(times, values, level: float):
    """First ``times[k]`` with ``values[k] >= level``, along the first axis; inf if never.

    Args: times (T,); values (T, ...). Returns: float for values (T,), else a (...) array.
    """
    times = np.asarray(times, dtype=np.float64)
    hit = np.asarray(values) >= level
    out = np.where(hit.any(axis=0), times[np.argmax(hit, axis=0)], np.inf)
    return float(out) if out.ndim == 0 else out


def step_or_none(t: float) -> int | None:
    """A first-crossing time as a whole step, None for never (inf)."""
    return None if math.isinf(t) else int(t)


def bootstrap_interval(statistic, samples, *, resamples: int = 2000, level: float = 0.95,
                       seed: int = 0) -> tuple[float, float] | None:
    """Percentile bootstrap interval of ``statistic(*columns)`` over the rows of ``samples``.

    ``samples`` is a sequence of equal-length arrays (the columns); rows are resampled with
    replacement ``resamples`` times from ``default_rng(seed)``; resamples on which the statistic
    is undefined (None or NaN) are dropped. None when fewer than 2 rows or no defined resample.
    """
    cols = [np.asarray(c, dtype=np.float64) for c in samples]
    n = cols[0].size
    if n < 2:
        return None
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(resamples):
        idx = rng.integers(0, n, n)
        v = statistic(*(c[idx] for c in cols))
        if v is not None and math.isfinite(v):
            values.append(v)
    if not values:
        return None
    tail = (1.0 - level) / 2.0
    lo, hi = np.quantile(values, [tail, 1.0 - tail])
    return float(lo), float(hi)
