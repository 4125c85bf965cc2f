"""Where the README's test command spends its time with an empty numba cache: a pytest plugin
that charges every numba compilation (numba's ``numba:compile`` event, which fires only on a cache
miss) to the test running at the time, and writes two tables at the end of the session: the
tests by wall time with the compile seconds inside them, and every compiled specialisation
(kernel and argument types) with its compile seconds and the test that compiled it first.

Run (a cold run: an empty cache; ``nice`` because the machine is shared):

    NUMBA_CACHE_DIR=$(mktemp -d) nice -n 19 python -m pytest -q -p no:cacheprovider \\
        -p benchmarks.compile_profile

Options: ``EFFTHEORY_COMPILE_PROFILE=path.json`` also saves the raw records as JSON.

Numba compiles a kernel's callees inside the caller's compilation (their events nest): the
"self" seconds of a specialisation leave out the nested ones, so the self column adds up to the
total compile time. Compilations in child processes (tests running the CLI in a subprocess) are
not seen as events; their CPU seconds appear in the per-test "child CPU" column instead.
"""

from __future__ import annotations

import json
import os
import resource
import time

import pytest

_STATE = {"test": "<collection>", "stack": [], "records": [], "tests": []}


def _cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _install_listener() -> None:
    from numba.core import event

    class _Recorder(event.Listener):
        def on_start(self, ev):
            _STATE["stack"].append([time.process_time(), 0.0])

        def on_end(self, ev):
            start, nested = _STATE["stack"].pop()
            seconds = time.process_time() - start
            if _STATE["stack"]:
                _STATE["stack"][-1][1] += seconds
            dispatcher = ev.data.get("dispatcher")
            func = getattr(dispatcher, "py_func", None)
            name = f"{getattr(func, '__module__', '?')}.{getattr(func, '__qualname__', '?')}"
            args = ", ".join(str(a) for a in ev.data.get("args", ()))
            parallel = bool(getattr(dispatcher, "targetoptions", {}).get("parallel"))
            _STATE["records"].append(dict(kernel=name, args=args, parallel=parallel, test=_STATE["test"],
                                          seconds=seconds, self_seconds=seconds - nested,
                                          depth=len(_STATE["stack"])))

    event.register("numba:compile", _Recorder())


def pytest_configure(config):
    _install_listener()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    _STATE["test"] = item.nodeid
    start, cpu, child = time.perf_counter(), _cpu_self(), _cpu_children()
    first = len(_STATE["records"])
    yield
    compiled = sum(r["self_seconds"] for r in _STATE["records"][first:])
    _STATE["tests"].append(dict(test=item.nodeid, wall=time.perf_counter() - start, cpu=_cpu_self() - cpu,
                                child_cpu=_cpu_children() - child, compile=compiled))
    _STATE["test"] = "<between tests>"


def pytest_terminal_summary(terminalreporter):
    write = terminalreporter.write_line
    tests, records = _STATE["tests"], _STATE["records"]
    total_compile = sum(r["self_seconds"] for r in records)
    write("")
    write(f"compile profile: {len(records)} specialisations compiled, {total_compile:.1f} s; "
          f"tests {sum(t['wall'] for t in tests):.1f} s wall, {sum(t['cpu'] for t in tests):.1f} s CPU, "
          f"{sum(t['child_cpu'] for t in tests):.1f} s child CPU")
    write(f"{'wall':>7} {'cpu':>7} {'child':>7} {'compile':>7}  test")
    for t in sorted(tests, key=lambda t: -t["wall"])[:45]:
        write(f"{t['wall']:7.1f} {t['cpu']:7.1f} {t['child_cpu']:7.1f} {t['compile']:7.1f}  {t['test']}")
    write("")
    write(f"{'self':>6} {'incl':>6}  kernel [args] (first compiled by)")
    for r in sorted(records, key=lambda r: -r["self_seconds"]):
        if r["self_seconds"] < 0.3:
            continue
        flag = " parallel" if r["parallel"] else ""
        write(f"{r['self_seconds']:6.1f} {r['seconds']:6.1f}  {r['kernel']}{flag} [{r['args']}]  ({r['test']})")
    by_kernel: dict[str, list] = {}
    for r in records:
        by_kernel.setdefault(r["kernel"], []).append(r)
    write("")
    write("kernels compiled for more than one signature:")
    for name, rs in sorted(by_kernel.items(), key=lambda kv: -sum(r["self_seconds"] for r in kv[1])):
        if len(rs) > 1:
            write(f"  {sum(r['self_seconds'] for r in rs):6.1f} s  {name}  x{len(rs)}")
            for r in rs:
                write(f"           {r['self_seconds']:6.1f} [{r['args']}]  ({r['test']})")
    path = os.environ.get("EFFTHEORY_COMPILE_PROFILE")
    if path:
        with open(path, "w") as out:
            json.dump(dict(tests=tests, records=records), out, indent=1)
