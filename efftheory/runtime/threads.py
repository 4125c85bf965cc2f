"""The thread policy for BLAS (one home for it): threads by problem size.

A training step is a chain of matrix products (BLAS, called from the numba kernels) and loops
between them (numba, one thread). Splitting a product over threads pays only when each thread
gets enough work to outweigh waking the others and waiting for the slowest; the decision is made
once per run, from the FLOPs of one step (the models' ``flops_per_step``):

- **small** steps, below :data:`PARALLEL_STEP_FLOPS`, run on one thread. The toy network
  (45 x 200 by 200 x 200 products, 14 MFLOP per step at p = 10) is slower on two (0.8x). The
  transformer gains from a second BLAS thread from its default size on (1.3x at 45 MFLOP per
  step), but a multi-threaded OpenBLAS adds a product's terms in another order, so a run's
  numbers would depend on how many cores the machine has (measured: the toy and the default
  transformer end with other losses on two threads than on one). Runs of this size take
  seconds to minutes; on one thread each is a function of its config and split alone, on any
  machine of one CPU type. ``threads=2`` buys the speed where that matters more.
- **large** steps run their products on every core the process may use (:func:`allowed_threads`):
  1.3x at 1.2 GFLOP per step, 1.6x at the paper's transformer (p = 59, d = 256, two blocks:
  22 GFLOP per step) on two cores. There a step takes 13 ms to 0.15 s, and a run of the paper's
  length hours.
- the workers of a sweep start with every thread pool at one (:func:`single_threaded_env`): the
  pool already fills the cores with processes, so each worker's :func:`allowed_threads` is 1.

The loops between the products stay on one thread: at the paper's size they are bound by memory
bandwidth, and numba's thread pool beside OpenBLAS's made a two-thread step slower than a
one-thread one (efftheory.models.transformer.ops; docs/performance.md).

The trainers take ``threads`` (``--threads`` on the command line) to override the policy.
docs/performance.md has the measurements behind the threshold.
"""

from __future__ import annotations

import contextlib
import numbers
import os
import threading

import numba
import scipy.linalg.cython_blas  # noqa: F401  numba's np.dot calls this BLAS: load it before limiting it
from threadpoolctl import ThreadpoolController

from efftheory.errors import require

#: environment variables that size the thread pools of BLAS / OpenMP / numba at start-up
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")
#: FLOPs of one training step (matrix products, forward + backward) from which it runs on every
#: allowed core; below, on one (module docstring; benchmarks/bench_threads.py measures both sides)
PARALLEL_STEP_FLOPS = 1_000_000_000


def allowed_threads() -> int:
    """The cores this process may use: its CPU affinity, capped by any of
    :data:`THREAD_VARIABLES` set in the environment (a sweep worker's are 1), and 1 off the main
    thread (a thread pool already runs its tasks side by side)."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        n = os.cpu_count() or 1
    for name in THREAD_VARIABLES:
        value = os.environ.get(name, "")
        if value.strip().isdigit() and int(value) >= 1:
            n = min(n, int(value))
    if threading.current_thread() is not threading.main_thread():
        n = 1
    return max(n, 1)


def check_threads(threads) -> None:
    """``threads`` is None (the policy) or an integer >= 1."""
    require(threads is None or (isinstance(threads, numbers.Integral) and not isinstance(threads, bool)
                                and threads >= 1), f"threads must be None or an integer >= 1, got {threads!r}")


def threads_for(flops_per_step: int, threads: int | None = None, allowed: int | None = None) -> int:
    """Threads for a run whose steps cost ``flops_per_step``: ``threads`` if given (an override),
    else 1 below :data:`PARALLEL_STEP_FLOPS` and ``allowed`` (default :func:`allowed_threads`)
    from it on."""
    check_threads(threads)
    if threads is not None:
        return int(threads)
    if flops_per_step < PARALLEL_STEP_FLOPS:
        return 1
    return allowed_threads() if allowed is None else max(int(allowed), 1)


_CONTROLLER: ThreadpoolController | None = None


def _controller() -> ThreadpoolController:
    """threadpoolctl's view of the loaded BLAS libraries, found once: finding them reads the
    process's memory map (about 1 ms, more than a short run's whole setup)."""
    global _CONTROLLER
    if _CONTROLLER is None:
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER


@contextlib.contextmanager
def compute_threads(n: int):
    """Context manager: BLAS and numba's parallel kernels limited to ``n`` threads inside (numba's
    to at most the pool it started with, NUMBA_NUM_THREADS)."""
    n = max(int(n), 1)
    saved = numba.get_num_threads()
    with _controller().limit(limits=n, user_api="blas"):
        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
        try:
            yield
        finally:
            numba.set_num_threads(saved)


def one_blas_thread():
    """Context manager: one thread for BLAS and numba inside (:func:`compute_threads` of 1)."""
    return compute_threads(1)


@contextlib.contextmanager
def single_threaded_env(variables=THREAD_VARIABLES):
    """Set ``variables`` to 1 in os.environ inside (so that processes spawned there start with
    single-threaded pools); restore them afterwards."""
    saved = {k: os.environ.get(k) for k in variables}
    os.environ.update({k: "1" for k in variables})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
