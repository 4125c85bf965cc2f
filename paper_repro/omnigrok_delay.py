"""Omnigrok on digits, the delay predicted and measured: t* = ln(w0 / w_c) / (lr wd) against the
measured step of test accuracy 0.9 (and the step at which the norm reaches w_c), over alpha in
{1, 2, 4, 8} and weight decay over a decade {0.1, 0.3, 1}, seeds 0-2 (seed = split and
initialisation), medians with their range over seeds.

Settings: as paper_repro/omnigrok_grokking.py (300 training images, width 200, depth 3, MSE,
AdamW lr 1e-3, full batch), records every 100 steps, at most 30,000 steps (a run stops once it
has reached test accuracy 0.9 and norm w_c, or test accuracy 0.9 and t* + 1000 steps). w_c
and w_edge (the largest grid norm whose median test accuracy on the sphere is >= 0.9) come from
paper_repro/omnigrok_landscape.py.

    python paper_repro/omnigrok_delay.py [--quick] [--out DIR] [--jobs J]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

try:
    import paper_repro.common  # noqa: F401
except ImportError:
    sys.path.append(str(Path(__file__).resolve().parents[1]))
from paper_repro.common import parser, prepare, save
from paper_repro.omnigrok_grokking import FULL as GROK_FULL, QUICK as GROK_QUICK
from paper_repro.omnigrok_landscape import landscape_json

NAME = "omnigrok_delay"
FULL = {**{k: GROK_FULL[k] for k in ("task", "train_num", "width", "depth", "loss", "lr")},
        "alphas": [1.0, 2.0, 4.0, 8.0], "wds": [0.1, 0.3, 1.0], "seeds": [0, 1, 2], "max_steps": 30000,
        "eval_every": 100}
QUICK = {**FULL, "width": GROK_QUICK["width"], "alphas": [1.0, 8.0], "wds": [1.0, 3.0], "seeds": [0],
         "max_steps": 800, "eval_every": 20}


def _show(s: dict, runs: int) -> str:
    """median (low-high) [reached/runs] of a delay_table summary."""
    if s["median"] is None:
        return f"never [0/{runs}]"
    return f"{s['median']:.0f} ({s['low']:.0f}-{s['high']:.0f}) [{s['reached']}/{runs}]"


def row_text(row: dict) -> str:
    n = row["runs"]
    w_med = row["w_at_test"]["median"]
    edge = row["predicted_edge"]["median"]
    return (f"{row['alpha']:g} {row['wd']:g}  {row['predicted']['median']:.0f} "
            f"({'-' if edge is None else f'{edge:.0f}'}) | {_show(row['t_test'], n)} | {_show(row['t_norm'], n)} | "
            f"{'-' if w_med is None else f'{w_med:.1f}'}")


def main(argv=None) -> None:
    import numpy as np

    from efftheory.experiments.delay import delay_runs, delay_table, edge_norm
    from efftheory.tasks import make_task
    from efftheory.models.omnigrok.training import OmnigrokConfig
    from efftheory.plotting.omnigrok import plot_delays

    args = parser(__doc__.split("\n\n")[0]).parse_args(argv)
    out = prepare(args)
    spec = QUICK if args.quick else FULL
    land = landscape_json(out, args.quick, args.jobs)
    w_c = land["w_c"]
    w_edge = edge_norm(np.array(land["norms"]), np.array(land["test_acc"]))
    start = time.perf_counter()
    config = OmnigrokConfig(width=spec["width"], depth=spec["depth"], loss=spec["loss"], lr=spec["lr"])
    runs = delay_runs(make_task(spec["task"]), spec["train_num"], w_c, spec["alphas"], spec["wds"], spec["seeds"],
                      config=config, w_edge=w_edge, max_steps=spec["max_steps"], eval_every=spec["eval_every"],
                      jobs=args.jobs)
    table = delay_table(runs)
    data = {"w_c": w_c, "w_c_interval": land["w_c_interval"], "w_edge": w_edge, "table": table,
            "runs": [r.to_json() for r in runs]}
    save(out, NAME + ("_quick" if args.quick else ""), plot_delays(table, [r.to_json() for r in runs]), data, spec, time.perf_counter() - start)
    print(f"w_c = {w_c:.3f}, w_edge = {w_edge}")
    print("alpha  wd   predicted t* (edge) | measured: t_test | t_norm | w at t_test   [reached/runs]")
    for row in table:
        print(row_text(row))

if __name__ == "__main__":
    main()
