"""Shared timing helpers for the benchmark scripts."""

from __future__ import annotations

import statistics
import time


def median_time(fn, repeats: int = 5, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` in seconds over ``repeats`` calls, after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def print_rows(rows: list[dict]) -> None:
    """A small table: name, fast, naive, ratio, notes."""
    print(f"{'benchmark':<46} {'fast (s)':>10} {'naive (s)':>10} {'ratio':>9}  notes")
    for r in rows:
        naive = "" if r.get("naive_s") is None else f"{r['naive_s']:.4g}"
        ratio = "" if r.get("ratio") is None else f"{r['ratio']:.1f}x"
        print(f"{r['name']:<46} {r['fast_s']:>10.4g} {naive:>10} {ratio:>9}  {r.get('notes', '')}")
