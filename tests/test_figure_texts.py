"""Figures that explain themselves: the texts a reader needs without the code."""

from __future__ import annotations

import json
from pathlib import Path

FIGURES = Path(__file__).resolve().parents[1] / "figures"


def test_fig4d_says_why_a_network_with_the_structure_is_called_memorization():
    from paper_repro.fig4cd import network_title

    formed = {"final_test_acc": 0.8, "ideal_test_acc": 0.8, "phase": "memorization", "steps_to_rqi": 723}
    title = network_title(formed)
    assert "structure formed" in title and "out of reach" in title and "0.80" in title
    assert "out of reach" not in network_title({**formed, "steps_to_rqi": None})  # no structure: plain phase
    assert "out of reach" not in network_title({**formed, "ideal_test_acc": 1.0, "final_test_acc": 1.0,
                                                "phase": "comprehension"})


def test_an_empty_frequency_panel_says_why():
    from efftheory.experiments.comparison.ring import RingSummary
    from efftheory.plotting.ring import plot_ring_compare

    summary = RingSummary(**json.loads((FIGURES / "ring_networks.json").read_text())["data"]["summary"])
    assert summary.match_total[1] == 0  # no network ringed: nothing to compare
    panel = plot_ring_compare(summary).axes[1]
    assert any("no network formed one" in t.get_text() for t in panel.texts)


def test_validation_panels_name_the_papers_settings_not_its_results():
    from paper_repro.validation import _name

    assert _name("paper") == "paper's settings (embedding lr 1e-3)"
    assert _name("comprehension").startswith("comprehension preset")
