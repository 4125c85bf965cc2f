"""Which float arithmetic a run had, named so that stores can say it.

A training run is a pure function of its config and split *on one kind of CPU*. Its float32
sums are done in an order that two things fix: the CPU that numba compiles the kernels for
(LLVM's host CPU name, e.g. ``znver4``), and the matrix kernel OpenBLAS picks for that CPU
(e.g. ``SkylakeX`` or ``Haswell``; ``OPENBLAS_CORETYPE`` overrides it). Where both agreed, the
runs we compared agreed to the bit; where they differ, a run can end at other step counts and
now and then in another phase (docs/theory.md §10, measured). Every sweep record carries this name as
``arithmetic``.
"""

from __future__ import annotations

import functools


@functools.cache
def arithmetic() -> str:
    """``"<numba's target CPU>/<OpenBLAS kernel>"`` of this process, e.g. ``"znver4/SkylakeX"``.

    Several OpenBLAS copies (numpy's, scipy's) that chose different kernels are joined with
    ``+``; ``unknown`` stands for a part that cannot be read."""
    return f"{_numba_cpu()}/{_blas_kernel()}"


def _numba_cpu() -> str:
    from numba.core import config

    if config.CPU_NAME:  # NUMBA_CPU_NAME: numba compiles for this CPU instead of the host
        return str(config.CPU_NAME)
    try:
        import llvmlite.binding as llvm

        return llvm.get_host_cpu_name() or "unknown"
    except Exception:  # an llvmlite without the call: say so rather than fail a run
        return "unknown"


def _blas_kernel() -> str:
    import scipy.linalg.cython_blas  # noqa: F401  numba's np.dot calls this BLAS: have it loaded
    from threadpoolctl import threadpool_info

    kernels = sorted({str(info["architecture"]) for info in threadpool_info()
                      if info.get("internal_api") == "openblas" and info.get("architecture")})
    return "+".join(kernels) or "unknown"
