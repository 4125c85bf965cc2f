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

:func:`dask_executor` connects to a Dask scheduler with a deadline and returns an executor that
gives up (cancels what is pending) once the scheduler has been unreachable for that long. The
scheduler must be trusted: tasks and results travel pickled, and unpickling runs code.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import multiprocessing.context
import os
import re
import signal
import threading
import time
from contextlib import contextmanager

from efftheory.errors import InputError
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


# ---------------------------------------------------------------- a Dask cluster, with deadlines

#: seconds a Dask scheduler has to answer (to the identity question, to the connection, and
#: again whenever the connection is lost during a sweep) before efftheory gives up on it
DASK_TIMEOUT = 20.0

# tcp://HOST:PORT or HOST:PORT, HOST a name, an IPv4 address or a bracketed IPv6 address
_DASK_ADDRESS = re.compile(r"^(tcp://)?([A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\]):(\d{1,5})$")


def dask_address(text: str, name: str = "--dask") -> str:
    """``text`` as ``tcp://HOST:PORT``, or a one-line InputError: only plain TCP is supported
    (tls:// needs certificates efftheory does not take, ucx:// an extra library), besides the
    ``inproc://`` address of a scheduler in this very process (a LocalCluster without processes)."""
    if text.startswith("inproc://"):
        return text
    match = _DASK_ADDRESS.match(text.strip())
    if not match or not 1 <= int(match.group(3)) <= 65535:
        raise InputError(f"{name} {text!r} is not a scheduler address tcp://HOST:PORT (only plain TCP is supported)")
    return "tcp://" + text.strip().removeprefix("tcp://")


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())[:120] or type(err).__name__


async def _scheduler_identity(address: str, timeout: float):
    """What the server at ``address`` says it is, asked the way a Dask client asks."""
    from distributed.comm import connect

    comm = await connect(address, timeout=timeout)
    try:
        await comm.write({"op": "identity"})
        return await comm.read()
    finally:
        comm.abort()


def check_scheduler(address: str, timeout: float, name: str = "--dask") -> None:
    """Refuse, within ``timeout`` seconds in all, a server that does not answer as a Dask
    scheduler: one that never answers, answers a byte at a time, refuses the connection, or
    speaks another protocol (whose bytes may read as a frame of exabytes, or not parse)."""
    import asyncio

    try:
        identity = asyncio.run(asyncio.wait_for(_scheduler_identity(address, timeout), timeout))
    except (asyncio.TimeoutError, TimeoutError):
        raise InputError(f"{name} {address!r}: no answer from a Dask scheduler within {timeout:g} s "
                         f"({name}-timeout)") from None
    except Exception as err:  # any failure to talk to it: refused, reset, garbage, a huge frame
        raise InputError(f"{name} {address!r}: cannot talk to a Dask scheduler there ({_one_line(err)})") from None
    if not (isinstance(identity, dict) and identity.get("type") == "Scheduler"):
        raise InputError(f"{name} {address!r}: the server there does not answer as a Dask scheduler")


class WatchedExecutor(cf.Executor):
    """An executor that passes tasks to ``inner`` and cancels every task not finished yet once
    ``client.status`` (a Dask client) has not been "running" for ``timeout`` seconds, so a sweep
    whose scheduler is gone ends (its consumer sees :class:`concurrent.futures.CancelledError`)
    instead of waiting for ever."""

    def __init__(self, inner: cf.Executor, client, timeout: float, period: float = 0.25):
        self.inner, self.client, self.timeout, self.period = inner, client, float(timeout), period
        self.lost = False
        self._futures: list[cf.Future] = []
        self._stop = threading.Event()
        threading.Thread(target=self._watch, name="efftheory-dask-watch", daemon=True).start()

    def submit(self, fn, /, *args, **kwargs) -> cf.Future:
        future = self.inner.submit(fn, *args, **kwargs)
        self._futures.append(future)
        return future

    def _watch(self) -> None:
        since = None
        while not self._stop.wait(self.period):
            if getattr(self.client, "status", "running") == "running":
                since = None
                continue
            since = time.monotonic() if since is None else since
            if time.monotonic() - since >= self.timeout:
                self.lost = True
                for future in self._futures:
                    if future.cancel():  # pending: wake whoever waits on it (as_completed)
                        future.set_running_or_notify_cancel()
                return

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._stop.set()


def dask_executor(address: str, timeout: float = DASK_TIMEOUT, name: str = "--dask"):
    """``(executor, close)`` for the Dask scheduler at ``address``, every step within ``timeout``
    seconds: the address is checked (:func:`dask_address`), the server asked who it is
    (:func:`check_scheduler`), then connected to, and a worker waited for; any failure is one
    InputError line. The
    executor is a :class:`WatchedExecutor`; ``close()`` ends the watch and the connection."""
    address = dask_address(address, name)
    try:
        from distributed import Client
    except ImportError:
        raise InputError(f"{name} needs dask[distributed] (pip install 'efftheory[cluster]')") from None
    if not address.startswith("inproc://"):  # nothing to ask of a scheduler in this process
        check_scheduler(address, timeout, name)
    try:
        client = Client(address, timeout=timeout)
    except Exception as err:
        raise InputError(f"{name} {address!r}: cannot connect ({_one_line(err)})") from None
    try:  # a scheduler without workers would hold every task for ever
        client.wait_for_workers(1, timeout=timeout)
    except Exception:  # noqa: BLE001  distributed raises TimeoutError (or its own) when none came
        client.close()
        raise InputError(f"{name} {address!r}: the scheduler has no workers (none joined within {timeout:g} s, "
                         f"{name}-timeout); start one with: dask worker {address}") from None
    executor = WatchedExecutor(client.get_executor(), client, timeout)

    def close() -> None:
        executor.shutdown()
        client.close()

    return executor, close
