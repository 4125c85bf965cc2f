"""The one local process pool of efftheory: spawned, single-threaded, orphan-proof workers.

:func:`process_pool` builds a :class:`concurrent.futures.ProcessPoolExecutor` whose workers

- are spawned (no fork: numba and BLAS thread pools do not survive a fork safely);
- get one BLAS, OpenMP and numba thread each: the pool already fills the cores, and nested
  thread pools would oversubscribe them (on a busy 2-core machine a two-thread OpenBLAS made
  the toy network 18x slower). The variables are set only while a worker is being spawned;
- ignore SIGINT: Ctrl-C reaches the parent, which cancels what is pending and ends the workers
  (:func:`stop`), instead of every worker dying in the middle of a task;
- exit on their own when the parent dies, even by SIGKILL: a daemon thread in each worker
  polls ``os.getppid()`` and calls ``os._exit`` once the parent is gone.

:func:`local_pool` is the context manager around it (stop at once on any error or Ctrl-C, wait
for the workers otherwise); :func:`as_finished` feeds tasks through any executor and yields
results as they complete; :func:`pmap` is the ordered map built from the two. The phase sweep
(:mod:`efftheory.experiments.sweep.engine`) uses the same three.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import multiprocessing.context
import os
import signal
import threading
import time
from contextlib import contextmanager

from efftheory.runtime.threads import single_threaded_env

#: seconds between two checks of the parent's pid in a worker
WATCHDOG_PERIOD = 0.5


class _SingleThreadedProcess(multiprocessing.context.SpawnProcess):
    """A spawned process that starts with THREAD_VARIABLES = 1 (the parent's are restored)."""

    @staticmethod
    def _Popen(process_obj):
        with single_threaded_env():  # spawned interpreters read these before numpy or numba
            return multiprocessing.context.SpawnProcess._Popen(process_obj)


class _SingleThreadedContext(multiprocessing.context.SpawnContext):
    Process = _SingleThreadedProcess


def _watch_parent(parent_pid: int) -> None:
    """End this process as soon as its parent is no longer ``parent_pid`` (it died)."""
    while True:
        if os.getppid() != parent_pid:
            os._exit(1)
        time.sleep(WATCHDOG_PERIOD)


def _worker_init(parent_pid: int) -> None:
    """Runs first in every worker: ignore Ctrl-C, start the parent-death watchdog."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_watch_parent, args=(parent_pid,), name="efftheory-watchdog", daemon=True).start()


def process_pool(jobs: int) -> cf.ProcessPoolExecutor:
    """A new local pool of at most ``jobs`` workers as described in the module docstring.

    Workers start when tasks are submitted. Prefer :func:`local_pool`, which also stops them.
    """
    return cf.ProcessPoolExecutor(max_workers=jobs, mp_context=_SingleThreadedContext(),
                                  initializer=_worker_init, initargs=(os.getpid(),))


def worker_pids(pool: cf.ProcessPoolExecutor) -> list[int]:
    """The pids of the pool's worker processes started so far."""
    return list(getattr(pool, "_processes", None) or {})


def stop(pool: cf.ProcessPoolExecutor, timeout: float = 5.0) -> None:
    """Cancel every pending task and end the workers now (running tasks are lost)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in processes:
        if proc.is_alive():
            proc.terminate()
    deadline = time.monotonic() + timeout
    for proc in processes:
        proc.join(max(0.0, deadline - time.monotonic()))


@contextmanager
def local_pool(jobs: int):
    """``with local_pool(J) as pool:`` a :func:`process_pool`; on leaving, wait for the workers,
    or, on any exception (KeyboardInterrupt included), :func:`stop` them at once and re-raise."""
    pool = process_pool(jobs)
    try:
        yield pool
    except BaseException:
        stop(pool)
        raise
    pool.shutdown(wait=True)


def as_finished(executor: cf.Executor, fn, tasks: list[tuple]):
    """Submit ``fn(*t)`` for every task; yield ``(index, result)`` in completion order.

    Any executor works (process or thread pool, a Dask ``client.get_executor()``). If a task
    raises, or the consumer stops early (an exception, Ctrl-C, ``close()``), the tasks not
    started yet are cancelled; the task's exception propagates.
    """
    futures = {executor.submit(fn, *t): i for i, t in enumerate(tasks)}
    try:
        for fut in cf.as_completed(futures):
            yield futures[fut], fut.result()
    finally:
        for fut in futures:
            fut.cancel()


def pmap(fn, tasks: list[tuple], jobs: int, progress=None) -> list:
    """``[fn(*t) for t in tasks]``, in task order, on ``jobs`` spawned worker processes.

    ``fn`` must be a picklable top-level function. ``progress(1)``, if given, is called as each
    task finishes. ``jobs == 1`` (or a single task) runs in this process.
    """
    tick = progress or (lambda n: None)
    if jobs == 1 or len(tasks) <= 1:
        out = []
        for t in tasks:
            out.append(fn(*t))
            tick(1)
        return out
    out = [None] * len(tasks)
    with local_pool(min(jobs, len(tasks))) as pool:
        for i, value in as_finished(pool, fn, tasks):
            out[i] = value
            tick(1)
    return out
