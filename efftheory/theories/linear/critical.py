"""The critical training-set size (docs/theory.md §6).

``P_unique(n)`` is the probability that a uniformly random training set of n samples fixes the
linear structure (dof = 0, i.e. rank H = p - 2). Uniqueness is monotone in D, and a uniformly
random n-subset is the first n elements of a uniformly random permutation, so one pass per
trial gives the whole curve: shuffle the N samples, add them one at a time and record ``n*``,
the first size at which rank H = p - 2; then ``P_unique(n) = mean(n* <= n)``.

Adding a sample x of sum s adds at most one new direction to the row space of H,
``u_x - u_r(s)`` with r(s) the first sample of sum s seen so far (every other difference is
already spanned). The rank is tracked with an orthonormal basis: since each candidate vector
has at most four non-zero entries, testing it costs O(rank) and only accepted directions pay
O(p * rank) for Gram–Schmidt (applied twice, for orthogonality to round-off).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from numba import njit, prange

from efftheory.stats import crossing, wilson_interval
from efftheory.tasks import Addition, Task, as_int

#: A candidate direction is new when its squared residual exceeds this fraction of its norm².
_NEW_DIRECTION_RTOL = 1e-9


@njit(cache=True)
def _add_sample(x, pairs, labels, p, first_of_sum, Q, rank, v):
    """Add sample x to the running row space; return the new rank.

    first_of_sum: (n_classes,) int64, -1 until a label is seen. Q: (p, p), its first `rank` rows an orthonormal basis.
    v: (p,) float64 scratch, all zero on entry and on exit.
    """
    i, j = pairs[x, 0], pairs[x, 1]
    s = labels[x]
    r = first_of_sum[s]
    if r < 0:
        first_of_sum[s] = x
        return rank
    m, n = pairs[r, 0], pairs[r, 1]
    if (i == m and j == n) or (i == n and j == m):  # (a, b) and (b, a): no constraint
        return rank
    # v = u_x - u_r as at most four (index, value) entries; coefficients c = Q v.
    v[i] += 1.0
    v[j] += 1.0
    v[m] -= 1.0
    v[n] -= 1.0
    norm2 = v[i] * v[i]
    if j != i:
        norm2 += v[j] * v[j]
    if m != i and m != j:
        norm2 += v[m] * v[m]
    if n != i and n != j and n != m:
        norm2 += v[n] * v[n]
    proj2 = 0.0
    for k in range(rank):
        c = Q[k, i] * v[i] + Q[k, m] * v[m]
        if j != i:
            c += Q[k, j] * v[j]
        if n != m:
            c += Q[k, n] * v[n]
        # (i,j) and (m,n) are samples of one label with different symbol multisets, so (for
        # addition and modular addition) {i,j} and {m,n} are disjoint.
        proj2 += c * c
    if norm2 - proj2 > _NEW_DIRECTION_RTOL * norm2:
        w = v.copy()
        for _ in range(2):  # classical Gram–Schmidt, twice
            for k in range(rank):
                c = 0.0
                for l in range(p):
                    c += Q[k, l] * w[l]
                for l in range(p):
                    w[l] -= c * Q[k, l]
        nrm = np.sqrt(np.sum(w * w))
        for l in range(p):
            Q[rank, l] = w[l] / nrm
        rank += 1
    v[i] = 0.0
    v[j] = 0.0
    v[m] = 0.0
    v[n] = 0.0
    return rank


@njit(cache=True)
def _prefix_ranks(order, pairs, labels, n_cls, p):
    """rank H of every prefix of ``order``: (len(order),) int64 (no early stop; for tests)."""
    first = -np.ones(n_cls, np.int64)
    Q = np.zeros((p, p))
    v = np.zeros(p)
    out = np.empty(order.size, np.int64)
    rank = 0
    for t in range(order.size):
        rank = _add_sample(order[t], pairs, labels, p, first, Q, rank, v)
        out[t] = rank
    return out


@njit(cache=True)
def _shuffle(a):
    """Fisher–Yates with numba's per-thread generator (seeded by the caller)."""
    for k in range(a.size - 1, 0, -1):
        r = np.random.randint(0, k + 1)
        a[k], a[r] = a[r], a[k]


@njit(cache=True, parallel=True)
def _n_star_kernel(pairs, labels, n_cls, p, target, seeds):
    """n* for each trial: first prefix size of a random permutation with rank H = target.

    Each trial seeds the generator of the thread that runs it, so trial t depends on
    seeds[t] only, whatever the number of threads.
    """
    N = pairs.shape[0]
    out = np.empty(seeds.size, np.int64)
    for t in prange(seeds.size):
        np.random.seed(seeds[t])
        order = np.arange(N)
        _shuffle(order)
        first = -np.ones(n_cls, np.int64)
        Q = np.zeros((p, p))
        v = np.zeros(p)
        rank = 0
        n_star = N
        for k in range(N):
            rank = _add_sample(order[k], pairs, labels, p, first, Q, rank, v)
            if rank >= target:
                n_star = k + 1
                break
        out[t] = n_star
    return out


def trial_seeds(seed: int, trials: int) -> np.ndarray:
    """(trials,) int64 seeds for the per-trial generators, drawn from ``default_rng(seed)``."""
    return np.random.default_rng(seed).integers(0, 2**31 - 1, size=trials, dtype=np.int64)


def _as_task(task) -> Task:
    """A Task, or ``Addition(p)`` for a plain symbol count ``p``."""
    return task if isinstance(task, Task) else Addition(task)


def n_star_samples(task, trials: int, seed: int = 0, progress=None, chunk: int = 1000) -> np.ndarray:
    """(trials,) int64: for each random order of D0, the first size n with dof = 0.

    ``task`` is a :class:`Task` or a symbol count p (addition). The target rank is
    ``p - task.structural_nullity``. Trials run in chunks of ``chunk`` so that ``progress(k)``
    can report k finished trials; each trial depends only on its own seed, so chunking does not
    change the result.
    """
    task = _as_task(task)
    trials = as_int(trials, "trials", 1)
    seeds = trial_seeds(seed, trials)
    pairs = np.ascontiguousarray(task.pairs)
    labels = np.ascontiguousarray(task.labels)
    target = task.p - task.structural_nullity
    out = np.empty(seeds.size, np.int64)
    for lo in range(0, seeds.size, chunk):
        out[lo : lo + chunk] = _n_star_kernel(pairs, labels, task.n_classes, task.p, target, seeds[lo : lo + chunk])
        if progress is not None:
            progress(min(chunk, seeds.size - lo))
    return out


@dataclass(frozen=True)
class CriticalCurve:
    """P_unique(n) for n = 1..N with Wilson 95% intervals.

    Attributes:
        p, n_samples (N), trials, seed.
        n: (N,) int64, 1..N.
        p_unique: (N,) float64, fraction of trials with n* <= n (non-decreasing, 1 at n = N).
        ci_low, ci_high: (N,) float64 Wilson 95% bounds.
        n_c: training-set size where P_unique crosses 1/2 (linear interpolation).
        r_c: n_c / N.
        n_star: (trials,) int64, the per-trial first unique size.
        seconds: wall time of the computation.
        task: the task's description (e.g. "addition on p = 10 symbols").
    """

    p: int
    n_samples: int
    trials: int
    seed: int
    n: np.ndarray = field(repr=False)
    p_unique: np.ndarray = field(repr=False)
    ci_low: np.ndarray = field(repr=False)
    ci_high: np.ndarray = field(repr=False)
    n_c: float | None
    r_c: float | None
    n_star: np.ndarray = field(repr=False)
    seconds: float = 0.0
    task: str = "addition"

    @property
    def fractions(self) -> np.ndarray:
        """(N,) training fractions n / N."""
        return self.n / self.n_samples

    def at(self, n: int) -> tuple[float, float, float]:
        """(P_unique, ci_low, ci_high) at training-set size n."""
        k = int(n) - 1
        return float(self.p_unique[k]), float(self.ci_low[k]), float(self.ci_high[k])


def critical_curve(task, trials: int = 2000, seed: int = 0, progress=None) -> CriticalCurve:
    """Estimate P_unique(n), n = 1..N, and the critical size n_c from ``trials`` random orders.

    ``task`` is a :class:`Task` or a symbol count p (addition). ``progress(k)``, if given, is
    called as trials finish (k at a time).
    """
    task = _as_task(task)
    seed = as_int(seed, "seed", 0)
    trials = as_int(trials, "trials", 1)
    start = time.perf_counter()
    n_star = n_star_samples(task, trials, seed, progress)
    N = task.n_samples
    n = np.arange(1, N + 1)
    counts = np.searchsorted(np.sort(n_star), n, side="right")  # trials with n* <= n
    p_unique = counts / trials
    low, high = wilson_interval(counts, trials)
    n_c = crossing(n, p_unique, 0.5)
    return CriticalCurve(
        p=task.p,
        n_samples=N,
        trials=int(trials),
        seed=int(seed),
        n=n,
        p_unique=p_unique,
        ci_low=low,
        ci_high=high,
        n_c=n_c,
        r_c=None if n_c is None else n_c / N,
        n_star=n_star,
        seconds=time.perf_counter() - start,
        task=task.describe(),
    )
