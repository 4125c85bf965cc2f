"""Shared test helpers: run the command line in a subprocess or in-process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# The line "compiling efftheory's kernels once ..." appears on stderr in whichever test first
# compiles a kernel into an empty cache: mark it as given, so tests that check stderr see what they
# check (tests/test_numba_cache.py checks the line itself, in a fresh environment).
os.environ["_EFFTHEORY_NUMBA_COMPILING_ANNOUNCED"] = "1"

#: A directory that does not exist (a fresh random name), for unwritable-output tests.
MISSING_DIR = str(Path(tempfile.gettempdir()) / f"efftheory-missing-{uuid.uuid4().hex}" / "dir")


def run_cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """``python -m efftheory ARGS`` in a subprocess on this source tree; text output."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, "-m", "efftheory", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    """Exit status 2, one line on stderr naming the bad value, no traceback, nothing on stdout."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


@pytest.fixture
def cli_json(capsys):
    """In-process ``efftheory ARGS --json``: assert exit 0 and return the parsed object."""
    from efftheory.cli import main

    def call(*args: str) -> dict:
        capsys.readouterr()
        status = main([*map(str, args), "--json"])
        out = capsys.readouterr().out
        assert status == 0, out
        return json.loads(out)

    return call


@pytest.fixture
def cli_run(capsys):
    """In-process ``efftheory ARGS``: a CompletedProcess (returncode, stdout, stderr) as from
    :func:`run_cli`, without the second or so a fresh interpreter costs; for runs whose output is
    checked but whose interpreter does not matter."""
    from efftheory.cli import main

    def call(*args) -> subprocess.CompletedProcess:
        argv = [str(a) for a in args]
        capsys.readouterr()
        try:
            status = main(argv)
        except SystemExit as exit_:  # argparse
            status = exit_.code
        captured = capsys.readouterr()
        return subprocess.CompletedProcess(["efftheory", *argv], status, captured.out, captured.err)

    return call


def _one_line_error(status, captured, needles) -> str:
    from efftheory.runtime.numba_cache import compiling_line

    # the line that announces numba's first compilation in a process may come first: whether it
    # does depends on which test happened to compile a kernel first, not on the error
    lines = [line for line in captured.err.strip().splitlines() if line != compiling_line().strip()]
    assert status == 2, (status, captured.err)
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err and captured.out == "", captured
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


@pytest.fixture
def cli_error(capsys):
    """In-process ``efftheory ARGS`` that must fail: exit 2, one line on stderr containing every
    needle, nothing on stdout, no traceback. Returns the line. Use a subprocess (:func:`run_cli`)
    only where a fresh interpreter matters."""
    from efftheory.cli import main

    def call(*args, needles=()) -> str:
        capsys.readouterr()
        try:
            status = main([str(a) for a in args])
        except SystemExit as exit_:  # argparse
            status = exit_.code
        return _one_line_error(status, capsys.readouterr(), needles)

    return call


def parse(*args):
    """The argparse namespace of ``efftheory ARGS`` (parsing only, nothing runs)."""
    from efftheory.cli import parse_args

    return parse_args([str(a) for a in args])


def cli_json_subprocess(*args: str, timeout: float = 600) -> dict:
    """Run ``efftheory ARGS --json`` in a subprocess; assert success; parse stdout."""
    proc = run_cli(*args, "--json", timeout=timeout)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


#: The floating-point types a model's kernel checks run in. The default run checks the kernels in
#: float32, the type every model trains in unless asked otherwise, so it compiles each model's
#: kernels once (the command-line tests need the float32 ones anyway); the same checks in float64,
#: to near rounding, run in the slow stage: most of their cost is compiling every kernel again.
FLOAT_TYPES = [pytest.param("float32", id="float32"), pytest.param("float64", id="float64", marks=pytest.mark.slow)]


def assert_close_in(dtype: str, got, want, rtol: float, atol: float = 0.0) -> None:
    """``got``, computed by a kernel in ``dtype``, against ``want``, computed in float64 from the
    same parameters: to ``rtol``/``atol`` in float64; in float32 to that type's precision, 1e-4
    relative plus 1e-5 of ``want``'s largest magnitude (rounding in float32, eps = 1.2e-7, adds up
    to about 3e-7 of it on these small networks; a wrong formula is off by the magnitude itself)."""
    import numpy as np

    if dtype == "float64":
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)
    else:
        scale = float(np.max(np.abs(want)))
        np.testing.assert_allclose(got, want, rtol=max(rtol, 1e-4), atol=max(atol, 1e-5 * scale))


# Property-based tests draw the same examples on every run (no flaky CI): hypothesis derives
# them from each test's name instead of a fresh random seed.
from hypothesis import settings as _hyp_settings  # noqa: E402

_hyp_settings.register_profile("deterministic", derandomize=True, deadline=None)
_hyp_settings.load_profile("deterministic")


def grid_run(**fields):
    """A :class:`efftheory.experiments.comparison.linear.GridRun` with neutral defaults, for summary tests."""
    from efftheory.experiments.comparison.linear import GridRun

    base = dict(n_train=4, seed=0, dof=0, ideal_test_acc=None, full_acc=0.5, final_test_acc=0.0,
                predicted_full_acc=0.5, predicted_test_acc=0.0, generalised=False, reached_ideal=False,
                steps_to_train=None, steps_to_test=None, steps_to_rqi=None, phase="confusion",
                diverged=False, tau=None, predicted_rqi_flow=None, predicted_rqi_adam=None, seconds=0.0)
    return GridRun(**{**base, **fields})
