"""Hostile input and a failing environment, beyond the store (issue 25, points 3, 4 and 8-10):
a Dask address that hangs, dribbles or speaks another protocol; a grid too large to allocate;
step and seed counts written oddly or beyond their caps; a result that cannot be printed; the
matrix theory's --k; the API checks of exact_structure_time and rqi."""

from __future__ import annotations

import math
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from efftheory.errors import InputError
from tests.conftest import ROOT, assert_one_line_error, run_cli

SYNTHETIC = ("phase", "--cell", "synthetic", "--x", "decoder_lr", "--x-range", "1e-5:1e-2:2:log", "--y", "decoder_wd",
             "--y-range", "0:1:2", "--jobs", "1")


# ---------------------------------------------------------------- --dask: one line within the deadline


def _server(behaviour):
    """A local TCP server whose every connection is handed to ``behaviour(conn)``; its address."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)

    def serve():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=behaviour, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    return listener, f"tcp://127.0.0.1:{listener.getsockname()[1]}"


def _silent(conn):
    time.sleep(30)


def _http(conn):
    conn.recv(1024)
    conn.sendall(b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/html\r\n\r\n<html>no</html>\r\n")
    conn.close()


def _dribble(conn):
    try:
        for _ in range(300):
            conn.send(b"\x01")
            time.sleep(0.1)
    except OSError:
        pass


@pytest.mark.parametrize("behaviour, needle", [(_silent, "no answer from a Dask scheduler within 1 s"),
                                               (_http, "cannot talk to a Dask scheduler"),
                                               (_dribble, "--dask")])
def test_a_server_that_is_no_scheduler_is_one_line_within_the_deadline(cli_error, tmp_path, behaviour, needle):
    listener, address = _server(behaviour)
    try:
        start = time.monotonic()
        cli_error(*SYNTHETIC, "--out", tmp_path / "out", "--dask", address, "--dask-timeout", "1",
                  needles=(needle, repr(address)))
        assert time.monotonic() - start < 10  # 1 s to ask, at most 1 s more to connect
    finally:
        listener.close()
    assert not (tmp_path / "out").exists()  # refused before the store was made


@pytest.mark.parametrize("address, needle", [("ucx://127.0.0.1:8786", "only plain TCP"),
                                             ("tls://127.0.0.1:8786", "only plain TCP"),
                                             ("", "only plain TCP"), ("host:99999", "only plain TCP")])
def test_unsupported_dask_addresses_are_one_line(cli_error, tmp_path, address, needle):
    cli_error(*SYNTHETIC, "--out", tmp_path / "out", "--dask", address, needles=(needle, repr(address)))


def test_a_closed_port_is_one_line(cli_error, tmp_path):
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    line = cli_error(*SYNTHETIC, "--out", tmp_path / "out", "--dask", f"127.0.0.1:{port}", "--dask-timeout", "1",
                     needles=("Dask scheduler", str(port)))
    # distributed retries a refused connection until its own timeout, which races the deadline's
    assert "cannot talk to a Dask scheduler there" in line or "no answer from a Dask scheduler within 1 s" in line


def test_a_real_tcp_scheduler_answers_the_identity_check():
    distributed = pytest.importorskip("distributed")
    from efftheory.runtime.parallel import check_scheduler

    with distributed.LocalCluster(n_workers=0, processes=False, protocol="tcp", dashboard_address=None) as cluster:
        assert cluster.scheduler_address.startswith("tcp://")
        check_scheduler(cluster.scheduler_address, 10.0)  # raises InputError unless it answers as a scheduler


def test_a_scheduler_without_workers_is_refused_within_the_deadline(cli_error, tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=0, processes=False, protocol="tcp", dashboard_address=None) as cluster:
        start = time.monotonic()
        cli_error(*SYNTHETIC, "--out", tmp_path / "out", "--dask", cluster.scheduler_address, "--dask-timeout", "2",
                  needles=("no workers", "within 2 s", "dask worker", cluster.scheduler_address))
        assert time.monotonic() - start < 30


def test_the_docs_say_a_scheduler_must_be_trusted():
    for page in ("README.md", "docs/sweeps.md"):
        text = (ROOT / page).read_text()
        assert "--dask" in text and "trusted" in text and "pickle" in text, page


# ---------------------------------------------------------------- sizes refused before any allocation


def test_a_huge_grid_is_refused_at_once(tmp_path):
    start = time.monotonic()
    proc = run_cli("phase", "--cell", "synthetic", "--x", "embed_lr", "--x-range", "1e-4:1e-2:100000000:log",
                   "--y", "frac", "--y-range", "0.5:0.9:3", "--out", tmp_path / "xr", timeout=60)
    assert_one_line_error(proc, "embed_lr", "100000000", "100000 runs")
    assert time.monotonic() - start < 30 and not (tmp_path / "xr").exists()
    from efftheory.experiments.sweep.grid import MAX_RUNS, Axis, Grid
    from efftheory.experiments.sweep.settings import SweepSettings
    from efftheory.experiments.sweep.engine import check_size

    with pytest.raises(InputError, match="cells"):
        Grid(Axis.parse("embed_lr", "1e-4:1e-2:1000:log"), Axis.parse("decoder_lr", "1e-4:1e-2:1000:log"))
    grid = Grid(Axis.parse("embed_lr", "1e-4:1e-2:1000:log"), Axis.parse("decoder_lr", "1e-4:1e-2:100:log"))
    assert grid.size == MAX_RUNS
    with pytest.raises(InputError, match="2 seeds = 200000 runs"):
        check_size(grid, SweepSettings(seeds=(0, 1)))


@pytest.mark.parametrize("steps, needle", [("inf", "'inf' is not a positive whole number"),
                                           ("1e400", "'1e400' is not a positive whole number"),
                                           ("nan", "'nan' is not a positive whole number"),
                                           ("1e12", "'1e12' is above the largest budget, 1e+11 steps per cell"),
                                           ("2.5", "'2.5' is not a positive whole number")])
def test_phase_steps_messages(cli_error, tmp_path, steps, needle):
    cli_error(*SYNTHETIC, "--out", tmp_path / "o", "--steps", steps, needles=("--steps", needle))


def test_phase_seeds_take_scientific_notation_and_have_a_cap(cli_json, cli_error, tmp_path):
    from efftheory.cli.phase import _seeds

    assert _seeds("1e2") == tuple(range(100)) and _seeds("0,1e1") == (0, 10)
    out = cli_json(*SYNTHETIC, "--out", tmp_path / "o", "--seeds", "2e0")
    assert out["seeds"] == [0, 1] and out["computed"] == 8
    cli_error(*SYNTHETIC, "--out", tmp_path / "p", "--seeds", "1e9", needles=("--seeds", "100000 runs"))


def test_plot_may_not_be_a_file_of_the_store(cli_error, tmp_path):
    cli_error(*SYNTHETIC, "--out", tmp_path, "--plot", tmp_path / "results.jsonl", needles=("--plot", "results.jsonl"))
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- simulate


def test_simulate_huge_lr_runs_or_says_why(cli_json, cli_error):
    fast = ("simulate", "--p", "11", "--frac", "0.6", "--trials", "1", "--critical-trials", "10", "--times", "10")
    small = cli_json(*fast, "--lr", "1e-3")
    out = cli_json(*fast, "--lr", "1e200")  # was "times must be non-decreasing"
    assert out["lr"] == 1e200 and out["steps"] == pytest.approx(small["steps"] * 1e-203, rel=1e-9)  # time ~ 1/lr
    assert out["predicted_steps_to_rqi"] == pytest.approx(out["steps_to_rqi"], rel=0.05)
    for lr in ("1e300", "1e308"):  # horizons below 1e-290 steps cannot be resolved in float64
        cli_error(*fast, "--lr", lr, needles=(f"lr = {float(lr)!r} is too large", "default horizon"))


@pytest.mark.parametrize("redirect, needle", [(">/dev/full", "No space left on device"),
                                              (">&-", "standard output is closed")])
def test_a_result_that_cannot_be_printed_is_one_line(redirect, needle):
    # every command prints through the same code (efftheory.cli.main); critical is the cheapest
    command = f"exec {sys.executable} -m efftheory critical --p 5 --trials 10 --json {redirect}"
    proc = subprocess.run(["sh", "-c", command], capture_output=False, stderr=subprocess.PIPE, text=True,
                          cwd=ROOT, timeout=300)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith("efftheory critical: error: could not write the result to standard output")
    assert needle in lines[0]


def test_simulate_k_has_a_cap(cli_error):
    cli_error("simulate", "--task", "s3", "--k", "3000", "--trials", "1", "--steps", "1", "--frac", "0.7",
              needles=("--k 3000 is too large", "max 64"))


def test_the_matrix_flow_reports_progress_and_gives_the_same_result():
    from efftheory.theories.group.simulation import simulate_group
    from efftheory.tasks import make_task

    split = make_task("s3").split(frac=0.7, seed=0)
    ticks = []
    with_progress = simulate_group(split, trials=5, seed=1, k=3, max_steps=300, progress=ticks.append)
    plain = simulate_group(split, trials=5, seed=1, k=3, max_steps=300)
    assert sum(ticks) == 5 and len(ticks) == 5  # one piece per start (5 < 20 pieces)
    np.testing.assert_array_equal(with_progress.flow.M, plain.flow.M)
    np.testing.assert_array_equal(with_progress.flow.loss_history, plain.flow.loss_history)
    assert list(with_progress.outcomes) == list(plain.outcomes)


# ---------------------------------------------------------------- API checks


@pytest.mark.parametrize("horizon", [math.inf, -1.0, 0.0, math.nan, "10"])
def test_exact_structure_time_refuses_a_bad_horizon(horizon):
    from efftheory.theories.linear.simulation import exact_structure_time
    from efftheory.tasks import Addition
    from efftheory.theories.linear.theory import linear_theory

    th = linear_theory(Addition(10).split(frac=0.8, seed=0))
    E0 = np.random.default_rng(0).uniform(-0.5, 0.5, (10, 1))
    with pytest.raises(InputError, match="horizon must be a positive number"):
        exact_structure_time(th.H_hat, E0, 1e-3, horizon)


@pytest.mark.parametrize("delta", [-1.0, 0.0, math.nan, math.inf])
def test_rqi_refuses_a_bad_delta(delta):
    from efftheory.theories.linear.metrics import rqi

    E = np.random.default_rng(0).normal(size=(10, 1))
    with pytest.raises(InputError, match="delta must be a positive number"):
        rqi(E, delta=delta)


def test_a_scheduler_lost_during_the_sweep_ends_it_within_the_deadline(tmp_path):
    """The watch cancels what is pending once the client has not been running for the timeout
    (a fake client and a thread pool stand in for a cluster whose scheduler went away)."""
    import concurrent.futures as cf

    from efftheory.runtime.parallel import WatchedExecutor
    from efftheory.experiments.sweep.grid import Axis, Grid
    from efftheory.experiments.sweep.settings import SweepSettings
    from efftheory.experiments.sweep.engine import run_sweep
    from efftheory.experiments.sweep.cells import synthetic_cell

    class Client:
        status = "running"

    client, done = Client(), []
    grid = Grid(Axis.parse("decoder_lr", "1e-5:1e-2:4:log"), Axis.parse("decoder_wd", "0:10:3"))
    slow = SweepSettings(steps=10_000, seed=3, network={"sleep": 0.3})

    def tick(n):
        done.append(n)
        if len(done) == 3:  # two runs stored: the scheduler goes away
            client.status = "connecting"

    with cf.ThreadPoolExecutor(1) as pool:
        watched = WatchedExecutor(pool, client, timeout=0.5, period=0.05)
        start = time.monotonic()
        with pytest.raises(cf.CancelledError):
            run_sweep(grid, slow, tmp_path, cell_fn=synthetic_cell, executor=watched, progress=tick)
        assert watched.lost and time.monotonic() - start < 3.5  # 12 runs would take 3.6 s
        watched.shutdown()
    kept = run_sweep(grid, slow, tmp_path, cell_fn=synthetic_cell, compute=False)
    assert 2 <= sum(r is not None for r in kept.records) < 12  # the finished runs are stored
