"""`simulate --task modadd`: the circle theory of one split, end to end."""

import numpy as np

from efftheory.theories.circle.simulation import simulate_ring
from efftheory.tasks import ModularAddition


def test_a_dense_split_forms_rings_and_the_outcomes_add_up():
    sim = simulate_ring(ModularAddition(23).split(frac=0.6, seed=0), trials=6, seed=0, steps=3000)
    assert sum(sim.fraction.values()) == 1.0
    assert sim.fraction["ring"] >= 0.5 and sim.fraction["stalled"] == 0.0
    rings = sim.outcomes == "ring"
    assert np.all(sim.coherence[rings] > 0.99) and np.all(sim.frequency[rings] != 0)
    assert np.all(sim.frequency[sim.outcomes == "collapsed"] == 0)
    assert np.all(np.isfinite(sim.steps_to_rqi[rings])) and np.all(sim.rqi[-1, rings] == 1.0)
    assert sim.theory.unique and sim.theory.dof == 0


def test_cli_json_and_text(cli_json, capsys, tmp_path):
    from efftheory.cli import main

    out = cli_json("simulate", "--task", "modadd", "--p", "13", "--frac", "0.6", "--trials", "4",
                   "--steps", "2000", "--critical-trials", "200")
    assert out["task"].startswith("addition mod p = 13") and out["trials"] == 4
    assert set(out["outcome_fractions"]) == {"ring", "collapsed", "stalled", "fits-without-ring"}
    assert len(out["frequencies"]) == 4 and out["critical_side"] in ("above", "below")
    assert main(["simulate", "--task", "modadd", "--p", "13", "--frac", "0.6", "--trials", "2", "--steps", "500",
                 "--critical-trials", "100", "--plot", str(tmp_path / "ring.png")]) == 0
    text = capsys.readouterr().out
    assert "Circle theory of the split" in text and "frequencies found" in text
    assert (tmp_path / "ring.png").read_bytes()[:4] == b"\x89PNG"
