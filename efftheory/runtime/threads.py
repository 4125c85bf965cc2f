"""The thread policy for BLAS and numba (one home for it).

The toy network multiplies matrices of at most N x width (55 x 200 at p = 10): a second BLAS
thread costs more than it gives, and on a busy machine it thrashes (measured: 34 against 1580
steps/s). So training runs with one BLAS thread (:func:`one_blas_thread`), and worker processes
that run many trainings side by side start with every thread pool at one
(:func:`single_threaded_env`), so that J workers use J cores.
"""

from __future__ import annotations

import contextlib
import os

import scipy.linalg.cython_blas  # noqa: F401  numba's np.dot calls this BLAS: load it before limiting it
from threadpoolctl import threadpool_limits

#: environment variables that size the thread pools of BLAS / OpenMP / numba at start-up
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


def one_blas_thread():
    """Context manager: BLAS limited to one thread inside it (the training loops use it)."""
    return threadpool_limits(limits=1, user_api="blas")


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
