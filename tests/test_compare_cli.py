"""``efftheory compare``: bad input exits 2 with one line, in-process (one subprocess smoke test)."""

from __future__ import annotations

import pytest

from tests.conftest import MISSING_DIR, assert_one_line_error, run_cli


@pytest.mark.parametrize(
    "args, needle",
    [(["--p", "5", "--train-nums", "0,5"], "0 is outside [1, 15]"),
     (["--p", "5", "--train-nums", "16"], "16 is outside"),
     (["--p", "5", "--train-nums", "5,7.5"], "--train-nums must be a comma-separated list of whole numbers, got '5,7.5'"),
     (["--p", "5", "--seeds", "-1"], "-1 is negative"),
     (["--p", "5", "--jobs", "0"], "--jobs must be a positive integer, got 0"),
     (["--p", "401"], "--p 401 is too large"),
     (["--p", "5", "--plot", f"{MISSING_DIR}/c.png"], MISSING_DIR)],
)
def test_bad_input_exits_2_with_one_line(cli_error, args, needle):
    cli_error("compare", *args, needles=[needle])


def test_bad_input_in_a_subprocess():
    assert_one_line_error(run_cli("compare", "--p", "5", "--jobs", "0"), "--jobs must be a positive integer, got 0")
