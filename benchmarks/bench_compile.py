"""How long numba takes to compile efftheory's kernels: the first run of a command in an empty
cache against the same command again with the cache warm (the difference is compilation, the
figure quoted by efftheory.runtime.numba_cache.COMPILE_SECONDS and the line the CLI prints). Compilation
runs on one thread, so its CPU time is its wall time on an idle machine; the wall times show what
the load of the moment added.

Run: python -m benchmarks.bench_compile   (or through benchmarks.run_all --only compile)

Each command runs in its own process (``python -m efftheory ...``) with ``NUMBA_CACHE_DIR`` set to a
fresh temporary directory shared by the rows, in the Quick start's order: ``simulate`` first, then
``train`` (which compiles the network's kernels and reuses the ones simulate compiled).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time

COMMANDS = [
    ["simulate", "--p", "59", "--frac", "0.4"],
    ["train", "--p", "10", "--frac", "0.8"],
]


def _timed(args: list[str], env: dict) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one command in a child process. Compilation is
    single-threaded, so its CPU time is what it takes on an idle machine, whatever the load now."""
    before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    subprocess.run([sys.executable, "-m", "efftheory", *args], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def run() -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="efftheory-numba-") as cache:
        env = {k: v for k, v in os.environ.items() if not k.startswith("_EFFTHEORY_")}
        env["NUMBA_CACHE_DIR"] = cache
        cold = [_timed(c, env) for c in COMMANDS]
        warm = [_timed(c, env) for c in COMMANDS]
    for args, (c, c_cpu), (w, w_cpu) in zip(COMMANDS, cold, warm):
        rows.append(dict(name="efftheory " + " ".join(args), fast_s=w, naive_s=c, ratio=c / w,
                         notes=f"warm vs empty cache: compilation {c - w:.0f} s wall, {c_cpu - w_cpu:.0f} s CPU"))
    compile_cpu = sum(c[1] for c in cold) - sum(w[1] for w in warm)
    rows.append(dict(name="both commands", fast_s=sum(w[0] for w in warm), naive_s=sum(c[0] for c in cold),
                     ratio=sum(c[0] for c in cold) / sum(w[0] for w in warm),
                     notes=f"compilation {compile_cpu:.0f} s CPU in all"))
    return rows


if __name__ == "__main__":
    from benchmarks.timing import print_rows

    print_rows(run())
