import operator
import os

from efftheory.parallel import THREAD_VARIABLES, pmap, single_threaded_children


def test_pmap_keeps_task_order_and_reports_progress():
    tasks = [(k, 10 * k) for k in range(7)]
    ticks = []
    assert pmap(operator.add, tasks, jobs=2, progress=ticks.append) == [11 * k for k in range(7)]
    assert ticks == [1] * 7
    assert pmap(operator.add, tasks, jobs=1) == [11 * k for k in range(7)]


def test_single_threaded_children_restores_the_environment(monkeypatch):
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "4")
    monkeypatch.delenv("NUMBA_NUM_THREADS", raising=False)
    with single_threaded_children():
        assert all(os.environ[k] == "1" for k in THREAD_VARIABLES)
    assert os.environ["OPENBLAS_NUM_THREADS"] == "4"
    assert "NUMBA_NUM_THREADS" not in os.environ
