"""Run every benchmark (each side by side with its naive twin) and write benchmarks/RESULTS.md.

Run: python -m benchmarks.run_all [--only critical,dynamics,...] [--out benchmarks/RESULTS.md]
       [--blas-threads N]

BLAS runs single-threaded by default (``--blas-threads``, unless OPENBLAS_NUM_THREADS etc. are
already set): the numba kernels bring their own threads, and on a shared 2-core machine a
multi-threaded OpenBLAS on the networks' tiny matrices was measured 18x slower than one thread.

Topics: critical, dynamics, network, phase, circle, group_flow (the matrix theory of S3:
``--only group_flow``), and any other ``benchmarks/bench_<topic>.py``.

Each ``benchmarks/bench_<topic>.py`` exposes ``run() -> list[dict]`` with rows
(name, fast_s, naive_s, ratio, notes); this script gathers them with the machine and versions.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import os
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def topics() -> list[str]:
    return sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))


def machine_lines(load: tuple | None = None) -> list[str]:
    import matplotlib
    import numba
    import numpy
    import scipy
    import sympy

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return [
        f"- date: {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- machine: {platform.system()} {platform.machine()}, {os.cpu_count()} cores, {cpu}",
        f"- Python {platform.python_version()}; numpy {numpy.__version__}, numba {numba.__version__}, "
        f"scipy {scipy.__version__}, sympy {sympy.__version__}, matplotlib {matplotlib.__version__}",
        f"- numba threads: {numba.config.NUMBA_NUM_THREADS}; BLAS threads (OPENBLAS_NUM_THREADS): "
        f"{os.environ.get('OPENBLAS_NUM_THREADS', 'library default')}",
        f"- load average (1, 5, 15 min) at the start: {' '.join(f'{x:.2f}' for x in (load or os.getloadavg()))}",
    ]


def fmt(value, spec: str) -> str:
    return "" if value is None else format(value, spec)


def render(results: dict[str, list[dict]], seconds: dict[str, float], load: tuple | None = None) -> str:
    out = ["# Benchmark results", "", "Written by `python -m benchmarks.run_all`. Times are medians of",
           "repeated runs after compilation unless a row's notes say otherwise; `ratio` = naive / fast.", ""]
    out += machine_lines(load) + [""]
    for topic, rows in results.items():
        out += [f"## {topic} ({seconds[topic]:.0f} s to run)", "",
                "| benchmark | fast (s) | naive (s) | ratio | notes |", "| --- | ---: | ---: | ---: | --- |"]
        for r in rows:
            ratio = "" if r.get("ratio") is None else f"{r['ratio']:.1f}x"
            out.append(f"| {r['name']} | {fmt(r.get('fast_s'), '.4g')} | {fmt(r.get('naive_s'), '.4g')} | "
                       f"{ratio} | {r.get('notes', '')} |")
        out.append("")
    return "\n".join(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated topics, from: " + ", ".join(topics()))
    parser.add_argument("--out", default=str(HERE / "RESULTS.md"))
    parser.add_argument("--blas-threads", type=int, default=1, help="BLAS threads (default 1; set before numpy loads)")
    args = parser.parse_args(argv)
    if "numpy" not in sys.modules:  # too late otherwise: the BLAS pool is sized at import
        for key in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(key, str(args.blas_threads))
    chosen = args.only.split(",") if args.only else topics()
    unknown = sorted(set(chosen) - set(topics()))
    if unknown:
        parser.error(f"unknown benchmark topic(s): {', '.join(unknown)}")
    results, seconds = {}, {}
    load = os.getloadavg()
    for topic in chosen:
        print(f"== {topic}", file=sys.stderr, flush=True)
        start = time.perf_counter()
        results[topic] = importlib.import_module(f"benchmarks.bench_{topic}").run()
        seconds[topic] = time.perf_counter() - start
    text = render(results, seconds, load)
    tmp = Path(args.out).with_suffix(".tmp")
    tmp.write_text(text + "\n")
    os.replace(tmp, args.out)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
