"""Running independent jobs (network runs) in a local process pool.

Workers are spawned (no fork: numba and BLAS thread pools do not survive a fork safely) and each
gets one BLAS, OpenMP and numba thread: the pool already fills the cores, and nested thread
pools would oversubscribe them (on a busy 2-core machine a two-thread OpenBLAS made the toy
network 18x slower).
"""

from __future__ import annotations

import os
from contextlib import contextmanager

THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


@contextmanager
def single_threaded_children():
    """Set every THREAD_VARIABLES to 1 while workers are spawned; restore them afterwards.

    Spawned interpreters read these variables before they import numpy or numba.
    """
    saved = {k: os.environ.get(k) for k in THREAD_VARIABLES}
    os.environ.update({k: "1" for k in THREAD_VARIABLES})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def pmap(fn, tasks: list[tuple], jobs: int, progress=None) -> list:
    """``[fn(*t) for t in tasks]``, in task order, on ``jobs`` spawned worker processes.

    ``fn`` must be a picklable top-level function. ``progress(1)``, if given, is called as each
    task finishes. ``jobs == 1`` (or a single task) runs in this process.
    """
    if jobs == 1 or len(tasks) <= 1:
        out = []
        for t in tasks:
            out.append(fn(*t))
            if progress is not None:
                progress(1)
        return out
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with single_threaded_children():
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(jobs, len(tasks)), mp_context=ctx) as pool:
            futures = {pool.submit(fn, *t): i for i, t in enumerate(tasks)}
            out = [None] * len(tasks)
            for fut in as_completed(futures):
                out[futures[fut]] = fut.result()
                if progress is not None:
                    progress(1)
    return out
