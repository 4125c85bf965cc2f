"""Smoke test: every paper_repro script in --quick mode into a temporary directory.

The scripts run through paper_repro/all.py in one subprocess (as a user would, from a path,
without the repository on sys.path), and one script on its own; the checks are on the JSON of
numbers each figure plotted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ("fig3_accuracy", "fig4a_uniqueness", "fig4b_time_to_structure", "fig4cd_trajectories")


def _script(*args, cwd):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=600)


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("figures")
    proc = _script(ROOT / "paper_repro" / "all.py", "--quick", "--out", out, "--jobs", "1", cwd=out)
    assert proc.returncode == 0, proc.stderr
    return out


def _data(out, name):
    return json.loads((out / f"{name}_quick.json").read_text())


@pytest.mark.slow
def test_every_figure_writes_png_and_json(quick):
    for name in FIGURES:
        png = quick / f"{name}_quick.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        obj = _data(quick, name)
        assert obj["figure"] == f"{name}_quick" and obj["seconds"] >= 0 and obj["settings"]
    assert set(json.loads((quick / "runtimes_quick.json").read_text())["seconds"]) >= {"fig3", "fig4a", "fig4b", "fig4cd"}


@pytest.mark.slow
def test_fig3_plots_the_grid_runs(quick):
    grid = json.loads((quick / "grid_p10_quick.json").read_text())
    d = _data(quick, "fig3_accuracy")["data"]
    assert d["real_full_acc"] == [r["full_acc"] for r in grid["runs"]]
    assert d["predicted_full_acc"] == [r["predicted_full_acc"] for r in grid["runs"]]
    assert d["train_fraction"] == [r["n_train"] / 55 for r in grid["runs"]]
    assert d["mean_abs_diff"] == pytest.approx(np.mean(np.abs(np.subtract(d["real_full_acc"], d["predicted_full_acc"]))))
    # the training samples alone are right once trained a little: accuracy >= 0, <= 1
    assert all(0 <= v <= 1 for v in d["real_full_acc"] + d["predicted_full_acc"])


@pytest.mark.slow
def test_fig4a_theory_curve_and_network_counts(quick):
    d = _data(quick, "fig4a_uniqueness")["data"]
    t = d["theory"]
    pu = np.array(t["p_unique"])
    assert np.all(np.diff(pu) >= 0) and pu[0] == 0 and pu[-1] == 1  # uniqueness is monotone in D
    assert np.all(np.array(t["ci_low"]) <= pu) and np.all(pu <= np.array(t["ci_high"]))
    assert 0.3 < t["r_c"] < 0.5  # 500 trials: the paper's r_c ≈ 0.4 at p = 10
    assert list(d["presets"]) == ["paper", "comprehension"]  # both network settings, the paper's first
    for preset, nw in d["presets"].items():
        runs = json.loads((quick / f"validation_p10_{preset}_runs_quick.json").read_text())["runs"]
        assert nw["n_train"] == [20, 45] and nw["runs"] == [2, 2]
        for n, k, total, (lo, hi) in zip(nw["n_train"], nw["generalised"], nw["runs"], zip(*nw["generalised_ci"])):
            assert k == sum(r["generalised"] for r in runs if r["n_train"] == n)
            assert 0 <= k <= total and lo <= k / total <= hi


@pytest.mark.slow
def test_fig4b_tau_only_for_unique_splits(quick):
    data = _data(quick, "fig4b_time_to_structure")["data"]
    assert set(data) == {"paper", "comprehension"}
    assert data["paper"]["embed_lr"] == 1e-3 and data["comprehension"]["embed_lr"] == 1e-2
    for d in data.values():
        assert len(d["dof"]) == 4
        for dof, tau in zip(d["dof"], d["theory_tau"]):
            assert (tau is None) == (dof > 0)
            assert tau is None or tau > 0


@pytest.mark.slow
def test_fig4cd_same_initial_embeddings(quick):
    d = _data(quick, "fig4cd_trajectories")["data"]
    net = np.array(d["network"]["embeddings"])
    assert net.shape[1] == 10
    for key in ("theory_gradient_flow", "theory_adam"):
        th = np.array(d[key]["embeddings"])
        assert th.shape[1] == 10 and d[key]["times"][0] == 0
        # the theory starts from the network's own E0 (both normalised)
        np.testing.assert_allclose(th[0], net[0], atol=1e-5)


@pytest.mark.slow
def test_a_script_runs_on_its_own_from_another_directory(quick, tmp_path):
    # the validation grid is cached in the fixture's directory, so this reuses it
    proc = _script(ROOT / "paper_repro" / "fig4b.py", "--quick", "--out", quick, "--jobs", "1", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "networks in" not in proc.stdout  # no retraining: the cache was used


@pytest.mark.slow
def test_fig5_quick_panels(quick):
    from efftheory.phases import PHASES

    for letter, x, y in (("a", "embed_lr", "decoder_lr"), ("b", "decoder_lr", "decoder_wd"), ("c", "decoder_lr", "decoder_wd")):
        obj = _data(quick, f"fig5{letter}_phase")
        d = obj["data"]
        assert (d["x"], d["y"]) == (x, y) and len(d["x_values"]) == len(d["y_values"]) == 2
        phases = [ph for row in d["phases"] for ph in row]
        assert len(phases) == 4 and set(phases) <= set(PHASES)
        assert sum(d["counts"].values()) == 4
        assert d["fixed"]["network"]["loss"] == ("ce" if letter == "c" else "mse")
        # the default seed is the first whose split can reach test accuracy 1 (seed 3 at n = 45)
        assert obj["settings"]["seed"] == obj["settings"]["default_seed"] == 3


def test_fig5_over_seeds_in_pieces(tmp_path):
    """--seeds 2 keeps its runs in sweeps/; --read-at draws a smaller budget off them;
    --stored-only draws what is stored, runs nothing, and says how many runs are missing."""
    from paper_repro import fig5

    args = ["--quick", "--panel", "b", "--seeds", "2", "--out", str(tmp_path), "--jobs", "1"]
    assert fig5.main(args) == 0
    d = json.loads((tmp_path / "fig5b_phase_200_2seeds_quick.json").read_text())["data"]
    assert d["seeds"] == [0, 1] and d["runs_done"] == d["runs_total"] == 8 and sum(d["counts"].values()) == 8
    assert sum(d["cell_counts"].values()) == 4
    assert [sum(c) for row in d["phase_counts_by_cell"] for c in row] == [2, 2, 2, 2]
    assert fig5.main(args + ["--stored-only", "--read-at", "100"]) == 0
    obj = json.loads((tmp_path / "fig5b_phase_1e2_2seeds_from_200_quick.json").read_text())
    assert obj["settings"]["budget"] == 100 and obj["data"]["fixed"]["steps"] == 100
    assert obj["data"]["runs_done"] == 8 and all(t is None or t <= 100 for row in obj["data"]["t_train"] for t in row)
    store = tmp_path / "sweeps" / "fig5b_200_2seeds_quick" / "results.jsonl"
    lines = store.read_text().splitlines()
    store.write_text("\n".join(lines[:3]) + "\n")
    assert fig5.main(args + ["--stored-only"]) == 0
    d = json.loads((tmp_path / "fig5b_phase_200_2seeds_quick.json").read_text())["data"]
    assert d["runs_done"] == 3 and sum(d["counts"].values()) == 3 and d["cells_computed_now"] == 0
    assert len(store.read_text().splitlines()) == 3


@pytest.mark.slow
def test_ring_networks_summarises_its_own_runs(quick):
    d = _data(quick, "ring_networks")["data"]
    s, runs = d["summary"], d["runs"]
    assert s["runs"] == len(runs) == 4 and s["p"] == 11
    for k, n in enumerate(s["n"]):
        mine = [r for r in runs if r["n_train"] == n and not r["diverged"]]
        assert s["ring_rate"][k] == sum(r["ringed"] for r in mine) / len(mine)
        assert s["generalised_rate"][k] == sum(r["generalised"] for r in mine) / len(mine)
        outcomes = d["theory_outcome_fractions"][str(n)]
        assert s["theory_ring_probability"][k] == outcomes["ring"] and sum(outcomes.values()) == pytest.approx(1.0)
    compared = [r for r in runs if r["frequency_match"] is not None]
    assert s["match_total"] == [sum(r["frequency_match"] for r in compared), len(compared)]


@pytest.mark.slow
def test_transformer_fig6_quick_is_a_phase_diagram_of_the_transformer(quick):
    from efftheory.phases import PHASES

    obj = _data(quick, "transformer_fig6")
    d = obj["data"]
    assert (d["x"], d["y"]) == ("decoder_lr", "decoder_wd") and d["x_values"] == [1e-3, 1e-2]
    assert sum(d["counts"].values()) == 4 and all(p in PHASES for row in d["phases"] for p in row)
    assert d["fixed"]["task"] == "modadd" and d["fixed"]["frac"] == 0.8


def test_same_phases_finds_every_changed_cell(tmp_path, capsys):
    from paper_repro import same_phases

    data = {"phases": [["grokking", "memorization"]], "t_train": [[10.0, 20.0]], "t_test": [[2000.0, float("nan")]],
            "t_rqi": [[None, 5.0]]}
    for name in ("old", "same", "changed"):
        (tmp_path / name).mkdir()
    for name, d in (("old", data), ("same", {**data, "t_rqi": [[float("nan"), 5.0]]}),
                    ("changed", {**data, "phases": [["comprehension", "memorization"]], "t_test": [[900.0, None]]})):
        (tmp_path / name / "fig5a_phase.json").write_text(json.dumps({"data": d}))
    args = ["--names", "fig5a_phase"]
    assert same_phases.main([str(tmp_path / "old"), str(tmp_path / "same"), *args]) == 0  # NaN = None
    assert same_phases.main([str(tmp_path / "old"), str(tmp_path / "changed"), *args]) == 1
    out = capsys.readouterr().out
    assert "2 cells, 2 differing values" in out and "phases[0][0]: 'grokking' -> 'comprehension'" in out
    assert same_phases.main([str(tmp_path / "old"), str(tmp_path / "nowhere"), *args]) == 1


@pytest.mark.slow
def test_omnigrok_figures(quick):
    """The three Omnigrok figures: w_c inside its grid, case (c) starts on the sphere at w_c and
    case (b) at alpha times case (a)'s norm, one delay-table row per (alpha, wd)."""
    land = _data(quick, "omnigrok_landscape")["data"]
    assert min(land["norms"]) <= land["w_c_interval"][0] <= land["w_c"] <= land["w_c_interval"][1] <= max(land["norms"])
    grok = _data(quick, "omnigrok_grokking")
    a, b, c = grok["data"]["cases"]
    assert b["w0"] == pytest.approx(grok["settings"]["alpha_large"] * a["w0"], rel=1e-5)
    assert c["w0"] == pytest.approx(land["w_c"], rel=1e-5) and c["fixed_norm"] == land["w_c"]
    delay = _data(quick, "omnigrok_delay")
    rows = delay["data"]["table"]
    assert len(rows) == len(delay["settings"]["alphas"]) * len(delay["settings"]["wds"])
    assert all(r["runs"] == len(delay["settings"]["seeds"]) for r in rows)
    for name in ("omnigrok_landscape", "omnigrok_grokking", "omnigrok_delay"):
        assert (quick / f"{name}_quick.png").read_bytes()[:4] == b"\x89PNG"
