"""The paper_repro scripts draw from the committed caches in figures/ when their inputs match,
never recompute them silently, and never write into figures/ unless --out names it.

Network training is replaced by a function that fails the test, so "no new network runs" is
checked, not timed (the times are measured in benchmarks/bench_docs_times.py).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "figures"


def _no_runs(*args, **kwargs):
    raise AssertionError("a network was trained: the committed cache was not used")


@pytest.fixture
def no_training(monkeypatch):
    """Any network run (process pool, sweep engine or single run) fails the test."""
    import efftheory as et
    from paper_repro import common

    monkeypatch.setattr(common, "pmap", _no_runs)
    monkeypatch.setattr(et, "pmap", _no_runs)
    monkeypatch.setattr(et, "run_one", _no_runs)
    monkeypatch.setattr(et, "run_sweep", _no_runs)
    import efftheory.experiments.sweep.engine as engine

    monkeypatch.setattr(engine, "run_sweep", _no_runs)


def _digests() -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in FIGURES.glob("*.json")}


def test_every_committed_network_cache_is_read_by_its_script(tmp_path, no_training):
    from paper_repro import common, critical_p59, ring_networks

    grid = common.grid(tmp_path, quick=False, jobs=1)
    assert len(grid["runs"]) == 33 and grid["settings"]["record"] == "GridRun v2"
    runs = common.validation_runs(tmp_path, quick=False, jobs=1)
    assert list(runs) == ["paper", "comprehension"] and all(len(r) == 220 for r in runs.values())
    assert len(ring_networks.runs(tmp_path, ring_networks.FULL, 1)) > 0
    stored = critical_p59.sweep(tmp_path, critical_p59.FULL, 1, quick=False)
    assert stored.complete()
    from paper_repro import s3_networks

    assert len(common.load_cache(tmp_path, "s3_networks.json", s3_networks.FULL)["data"]["runs"]) == 20
    assert list(tmp_path.iterdir()) == []  # read, not copied or rewritten


def test_the_grid_is_the_paper_presets_validation_runs_at_seeds_0_to_2():
    """figures/grid_p10.json was upgraded from the validation runs: every record is the same run."""
    grid = json.loads((FIGURES / "grid_p10.json").read_text())["runs"]
    valid = {(r["n_train"], r["seed"]): r for r in
             json.loads((FIGURES / "validation_p10_paper_runs.json").read_text())["runs"]}
    for r in grid:
        twin = valid[(r["n_train"], r["seed"])]
        assert {k: v for k, v in r.items() if k != "seconds"} == {k: v for k, v in twin.items() if k != "seconds"}


def test_a_cache_written_before_a_network_field_existed_still_matches():
    import dataclasses

    import efftheory as et
    from paper_repro.common import same_settings

    now = {"p": 10, "network": dataclasses.asdict(et.COMPARE_PRESETS["paper"]), "delta": 0.01}
    old = json.loads(json.dumps(now))
    del old["network"]["embed"], old["network"]["embed_l1"]  # the fields the matrix model added
    assert same_settings(old, now)
    assert not same_settings({**old, "network": {**old["network"], "embed_lr": 0.01}}, now)
    assert not same_settings({**old, "network": {**old["network"], "embed_l1": 1e-3}}, now)
    assert not same_settings({**old, "delta": 0.02}, now)
    assert not same_settings(None, now)


def test_fig4b_redraws_from_the_committed_cache_into_the_named_folder(tmp_path, no_training):
    from paper_repro import fig4b

    before = _digests()
    assert fig4b.main(["--out", str(tmp_path), "--jobs", "1"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig4b_time_to_structure.json",
                                                          "fig4b_time_to_structure.png"]
    drawn = json.loads((tmp_path / "fig4b_time_to_structure.json").read_text())["data"]
    committed = json.loads((FIGURES / "fig4b_time_to_structure.json").read_text())["data"]
    assert drawn == committed
    assert _digests() == before  # figures/ untouched


def test_a_script_without_out_refuses_before_any_work(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "paper_repro" / "fig3.py")], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert proc.returncode == 2 and "--out" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_fig5_at_the_papers_budget_draws_the_committed_store(tmp_path):
    from paper_repro import fig5

    before = _digests()
    assert fig5.main(["--panel", "b", "--budget", "1e5", "--seeds", "5", "--stored-only", "--out", str(tmp_path),
                      "--jobs", "1"]) == 0
    drawn = json.loads((tmp_path / "fig5b_phase_1e5_5seeds.json").read_text())["data"]
    committed = json.loads((FIGURES / "fig5b_phase_1e5_5seeds.json").read_text())["data"]
    assert drawn["runs_done"] == drawn["runs_total"] == 550
    assert drawn["phases"] == committed["phases"] and drawn["delay_drawn"] == committed["delay_drawn"]
    assert _digests() == before


def test_transformer_fig6_reads_the_committed_store_whole(tmp_path):
    """Transformer cells cannot be shared run by run: the committed store is read as it is."""
    from paper_repro import transformer_fig6

    result = transformer_fig6.run(transformer_fig6.FULL, tmp_path, 1, False)
    assert result.complete and result.computed == 0 and len(result.records) == 25
    assert not list(tmp_path.rglob("results.jsonl"))  # nothing computed or copied into --out
