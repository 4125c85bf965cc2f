"""The embedding MLP's paper_repro scripts in --quick mode: each writes its PNG and the JSON of
the numbers it plotted, and the numbers agree with what they summarise."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _read(out, name):
    assert (out / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return json.loads((out / f"{name}.json").read_text())


def test_mlp_modadd_quick(tmp_path):
    from paper_repro import mlp_modadd

    assert mlp_modadd.main(["--quick", "--out", str(tmp_path)]) == 0
    d = _read(tmp_path, "mlp_modadd_quick")["data"]
    assert len(d["steps"]) == len(d["test_acc"]) == len(d["participation"])
    assert abs(sum(d["final_share"]) - 1) < 1e-9
    assert 1 <= d["final_participation"] <= (23 - 1) // 2 and d["key_frequencies"]


def test_mlp_frequencies_quick(tmp_path):
    from paper_repro import mlp_frequencies

    assert mlp_frequencies.main(["--quick", "--out", str(tmp_path), "--jobs", "1"]) == 0
    d = _read(tmp_path, "mlp_frequencies_quick")["data"]
    runs = d["runs"]
    for row in d["rows_all"]:
        h = [r["horizons"] for r in runs][0].index(row["horizon"])
        assert row["n"] == len(runs)
        assert row["top1"] == sum(r["dominant"] == r["predicted"][h][0] for r in runs)


def test_parity_phase_quick(tmp_path):
    from paper_repro import parity_phase

    assert parity_phase.main(["--quick", "--out", str(tmp_path), "--jobs", "1"]) == 0
    d = _read(tmp_path, "parity_phase_quick")["data"]
    assert sum(d["runs_per_phase"].values()) == 2 * 2 * 2  # cells x seeds


@pytest.mark.slow
def test_mlp_width_decoder_quick(tmp_path):
    from paper_repro import mlp_width_decoder

    assert mlp_width_decoder.main(["--quick", "--out", str(tmp_path), "--jobs", "1"]) == 0
    d = _read(tmp_path, "mlp_width_decoder_quick")["data"]
    assert len(d["runs"]) == 3 * 2 * 1
    assert d["table"]["generalised"][0][0] == sum(r["final_test_acc"] >= 0.9 for r in d["runs"]
                                                 if r["decoder"] == "relu" and r["dim"] == 2)
