"""The package layout changes no result: a few command-line runs print, byte for byte, the JSON
they printed before the modules moved (tests/data/layout/*.json, written on the old layout).

Only what depends on the clock or the machine is dropped before comparing (``seconds``,
``steps_per_second``, the ``threads`` a run got from the machine's cores, the ``out`` directory
of a sweep). Everything else, every
float to the last bit, key order included, must match. Regenerate the fixtures only on purpose:
``python -m tests.test_layout_outputs`` (a changed result is a science change, not a layout one).
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import tempfile
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent / "data" / "layout"

#: fields that measure time, the machine's cores or name a temporary path; dropped at every depth
VOLATILE = {"seconds", "steps_per_second", "threads", "out"}

#: fixture name -> command-line arguments (small runs; ``{out}`` is a fresh directory)
RUNS = {
    "simulate_add": ["simulate", "--p", "11", "--frac", "0.6", "--critical-trials", "200"],
    "simulate_modadd": ["simulate", "--task", "modadd", "--p", "7", "--frac", "0.8", "--trials", "3",
                        "--steps", "300", "--critical-trials", "100"],
    "simulate_s3": ["simulate", "--task", "s3", "--frac", "0.7", "--trials", "2", "--steps", "50"],
    "critical_add": ["critical", "--p", "8", "--trials", "200"],
    "critical_s3": ["critical", "--task", "s3", "--trials", "50"],
    "train_toy": ["train", "--p", "10", "--frac", "0.8", "--steps", "300"],
    "train_toy_modadd": ["train", "--task", "modadd", "--p", "7", "--frac", "0.8", "--steps", "100", "--width", "16"],
    "train_transformer": ["train", "--model", "transformer", "--task", "modadd", "--p", "7", "--frac", "0.8",
                          "--steps", "60"],
    "phase_toy": ["phase", "--x", "embed_lr", "--x-range", "1e-3,1e-2", "--y", "decoder_wd", "--y-range", "0,1",
                  "--steps", "200", "--jobs", "1", "--width", "16", "--out", "{out}"],
}


def _strip(value):
    """``value`` without the :data:`VOLATILE` fields, at every depth."""
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def run_json(args: list[str]) -> str:
    """``efftheory ARGS --json`` in-process, as the canonical text compared byte for byte."""
    from efftheory.cli import main

    with tempfile.TemporaryDirectory() as tmp:
        argv = [a.replace("{out}", str(Path(tmp) / "sweep")) for a in args] + ["--json"]
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            status = main(argv)
    assert status == 0, (args, out.getvalue())
    return json.dumps(_strip(json.loads(out.getvalue())), indent=1, ensure_ascii=False) + "\n"


def _same_arithmetic() -> bool:
    """True on the arithmetic the fixtures were written with (results agree to the bit only
    within one: numba's target CPU and OpenBLAS's kernel, efftheory.runtime.arithmetic)."""
    from efftheory.runtime.arithmetic import arithmetic

    return (DATA / "arithmetic.txt").read_text(encoding="utf-8").strip() == arithmetic()


@pytest.mark.parametrize("name", sorted(RUNS))
def test_cli_output_unchanged(name):
    if not _same_arithmetic():
        pytest.skip("fixtures written with another arithmetic; bit-equality holds only within one")
    expected = (DATA / f"{name}.json").read_text(encoding="utf-8")
    assert run_json(RUNS[name]) == expected


def _write_all() -> None:
    from efftheory.runtime.arithmetic import arithmetic

    DATA.mkdir(parents=True, exist_ok=True)
    (DATA / "arithmetic.txt").write_text(arithmetic() + "\n", encoding="utf-8")
    for name in sorted(RUNS):
        (DATA / f"{name}.json").write_text(run_json(RUNS[name]), encoding="utf-8")
        sys.stderr.write(f"wrote {name}\n")


if __name__ == "__main__":
    _write_all()
