"""Every sweep record names the arithmetic it ran with (numba's target CPU and OpenBLAS's matrix
kernel), and a store whose runs came from more than one is pointed out (docs/theory.md §10)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

from efftheory.runtime.arithmetic import arithmetic
from efftheory.runtime.store import RESULTS
from efftheory.experiments.sweep.grid import Axis, Grid
from efftheory.experiments.sweep.settings import SweepSettings
from efftheory.experiments.sweep.engine import run_sweep
from efftheory.experiments.sweep.cells import synthetic_cell
from tests.conftest import ROOT

GRID = Grid(Axis.parse("decoder_lr", "1e-4:1e-2:3:log"), Axis.parse("decoder_wd", "0:1:2"))
SMALL = ("--x", "decoder_lr", "--x-range", "1e-4:1e-2:3:log", "--y", "decoder_wd", "--y-range", "0:1:2",
         "--cell", "synthetic", "--jobs", "1")


def _in_fresh_interpreter(**env) -> str:
    code = "from efftheory.runtime.arithmetic import arithmetic; print(arithmetic())"
    full = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""), **env}
    done = subprocess.run([sys.executable, "-c", code], env=full, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_name_is_the_numba_cpu_and_the_blas_kernel():
    cpu, kernel = arithmetic().split("/")
    assert cpu and kernel and " " not in arithmetic()
    from numba.core import config

    assert cpu == (config.CPU_NAME or __import__("llvmlite.binding", fromlist=["x"]).get_host_cpu_name())


def test_the_name_follows_what_the_arithmetic_is_chosen_to_be():
    # numba compiles for NUMBA_CPU_NAME when it is set
    assert _in_fresh_interpreter(NUMBA_CPU_NAME="generic").startswith("generic/")


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="OpenBLAS's Haswell kernel is x86-64's")
def test_the_name_follows_openblas_coretype():
    assert _in_fresh_interpreter(OPENBLAS_CORETYPE="Haswell").endswith("/Haswell")


@pytest.mark.parametrize("jobs", [1, 2])
def test_every_record_names_the_arithmetic_of_its_worker(tmp_path, jobs):
    fixed = SweepSettings(steps=500, seeds=(0, 1))
    result = run_sweep(GRID, fixed, tmp_path / "s", cell_fn=synthetic_cell, jobs=jobs)
    assert {r["arithmetic"] for r in result.records} == {arithmetic()}
    assert result.arithmetics == {arithmetic(): 12}
    stored = [json.loads(line) for line in (tmp_path / "s" / RESULTS).read_text().splitlines()]
    assert {r["arithmetic"] for r in stored} == {arithmetic()}


def test_older_records_without_a_name_still_resume_and_count_as_none(tmp_path):
    fixed = SweepSettings(steps=500)
    run_sweep(GRID, fixed, tmp_path / "s", cell_fn=synthetic_cell)
    path = tmp_path / "s" / RESULTS
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    for rec in lines[:2]:
        del rec["arithmetic"]  # as a store written before records named it
    path.write_text("".join(json.dumps(rec) + "\n" for rec in lines))
    again = run_sweep(GRID, fixed, tmp_path / "s", cell_fn=synthetic_cell)
    assert again.computed == 0 and again.reused == 6
    assert again.arithmetics == {arithmetic(): 4, None: 2}


def test_the_cli_points_out_a_store_of_two_arithmetics(cli_json, capsys, tmp_path):
    from efftheory.cli import main

    out = tmp_path / "run"
    first = cli_json("phase", *SMALL, "--out", out)
    assert first["arithmetics"] == [[arithmetic(), 6]]
    assert main(["phase", *SMALL, "--out", str(out)]) == 0
    assert "arithmetic" not in capsys.readouterr().err  # one arithmetic: nothing to say
    path = out / RESULTS
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    lines[0]["arithmetic"] = "elsewhere/Haswell"  # as if resumed on another kind of machine
    path.write_text("".join(json.dumps(rec) + "\n" for rec in lines))
    assert main(["phase", *SMALL, "--out", str(out)]) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if "arithmetic" in line]
    assert len(notes) == 1 and "2 arithmetics" in notes[0] and "1 on elsewhere/Haswell" in notes[0]
    again = cli_json("phase", *SMALL, "--out", out)
    assert again["computed"] == 0
    assert sorted(again["arithmetics"]) == sorted([[arithmetic(), 5], ["elsewhere/Haswell", 1]])
