import operator
import os

from efftheory.runtime.parallel import pmap
from efftheory.runtime.threads import THREAD_VARIABLES, single_threaded_env


def test_pmap_keeps_task_order_and_reports_progress():
    tasks = [(k, 10 * k) for k in range(7)]
    ticks = []
    assert pmap(operator.add, tasks, jobs=2, progress=ticks.append) == [11 * k for k in range(7)]
    assert ticks == [1] * 7
    assert pmap(operator.add, tasks, jobs=1) == [11 * k for k in range(7)]


def test_single_threaded_env_restores_the_environment(monkeypatch):
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "4")
    monkeypatch.delenv("NUMBA_NUM_THREADS", raising=False)
    with single_threaded_env():
        assert all(os.environ[k] == "1" for k in THREAD_VARIABLES)
    assert os.environ["OPENBLAS_NUM_THREADS"] == "4"
    assert "NUMBA_NUM_THREADS" not in os.environ


# ---------------------------------------------------------------- process hygiene

import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import textwrap  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting for its new parent to reap it counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: fall back on signal 0
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


def _wait_gone(pids, timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    return [p for p in pids if _alive(p)]


PARENT = textwrap.dedent("""
    import sys, time
    from efftheory.runtime.parallel import local_pool, worker_pids
    if __name__ == "__main__":
        with local_pool(2) as pool:
            futures = [pool.submit(time.sleep, 60) for _ in range(4)]
            while len(worker_pids(pool)) < 2:
                time.sleep(0.05)
            print(*worker_pids(pool), flush=True)
            time.sleep(120)
""")


def _start_parent(tmp_path):
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=env)
    pids = [int(p) for p in proc.stdout.readline().split()]
    assert len(pids) == 2 and all(_alive(p) for p in pids)
    return proc, pids


def test_workers_exit_when_the_parent_is_killed(tmp_path):
    proc, pids = _start_parent(tmp_path)
    time.sleep(0.5)  # the workers are busy with their 60 s tasks
    proc.kill()  # SIGKILL: no cleanup code runs in the parent
    proc.wait()
    assert _wait_gone(pids, 10.0) == []


def test_ctrl_c_in_the_parent_ends_the_workers_promptly(tmp_path):
    proc, pids = _start_parent(tmp_path)
    start = time.monotonic()
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=40)
    assert proc.returncode != 0  # KeyboardInterrupt
    assert _wait_gone(pids, 5.0) == []
    assert time.monotonic() - start < 25  # not the 60 s the tasks would take (seconds on a busy machine)
