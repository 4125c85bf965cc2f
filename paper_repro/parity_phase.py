"""The 1s-and-0s task: when does weight decay turn memorisation into generalisation? A phase
diagram of the embedding MLP on the parity of the first 3 of 30 bits, over weight decay and the
training-set size, nine seeds per cell (docs/theory.md, "The embedding MLP"). Not a paper figure.

The task: a pool of 10 000 distinct 30-bit strings (pool seed 0, never enumerating 2^30); each run
draws its training set from the pool with its own seed (split seed = network seed), the test set
is the rest of the pool. The network: ReLU(sum_{i: x_i = 1} E_i + b_0) W_out + b_out, d = 24,
CE, AdamW lr 1e-2, budget STEPS steps, test accuracy every 50 steps, a run stops once train and
test accuracy both reached 0.9. Phases as for every model (docs/theory.md §10, gap G = 1000).

Runs through the phase-sweep engine (efftheory.experiments.sweep.engine.run_sweep) with the model's own
cell (efftheory.models.MODELS["embed-mlp"].cell); the store in <out>/parity_phase_runs/ is
resumable like every sweep's. Writes <out>/parity_phase.png and <out>/parity_phase.json (majority
phase, its share and the runs per phase of every cell).

    python paper_repro/parity_phase.py [--quick] [--out DIR] [--jobs J]
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

NAME = "parity_phase"
FULL = {"wd": [0.0, 0.03, 0.1, 0.3, 1.0, 3.0], "frac": [0.005, 0.01, 0.02, 0.05, 0.1, 0.2], "seeds": 9,
        "steps": 3000, "network": {"dim": 24, "bias": True, "lr": 1e-2}}
QUICK = {"wd": [0.0, 1.0], "frac": [0.01, 0.1], "seeds": 2, "steps": 200, "network": FULL["network"]}


def sweep(out: Path, spec: dict, jobs: int):
    from efftheory.experiments.sweep.engine import run_sweep
    from efftheory.experiments.sweep.grid import Axis, Grid
    from efftheory.experiments.sweep.settings import SweepSettings
    from efftheory.models import MODELS

    grid = Grid(Axis.from_values("wd", spec["wd"]), Axis.from_values("frac", spec["frac"]))
    settings = SweepSettings(task="parity", p=30, n_train=None, steps=spec["steps"], eval_every=50, early_stop=True,
                             network=spec["network"], seeds=tuple(range(spec["seeds"])), vary_split=True)
    store = out / f"{NAME}_runs{'_quick' if spec is QUICK else ''}"
    return run_sweep(grid, settings, store, cell_fn=MODELS["embed-mlp"].cell, jobs=jobs)


def main(argv=None) -> int:
    import numpy as np

    from efftheory.phases import PHASES
    from efftheory.plotting.phase import plot_phase_diagram

    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    out = prepare(args)
    spec = QUICK if args.quick else FULL
    start = time.perf_counter()
    result = sweep(out, spec, args.jobs)
    counts = np.asarray(result.phase_counts)
    data = {"wd": spec["wd"], "frac": spec["frac"], "n_train": [round(f * 10_000) for f in spec["frac"]],
            "phases": np.asarray(result.phases).tolist(), "majority_share": np.asarray(result.majority_share).tolist(),
            "phase_counts": counts.tolist(), "phase_names": list(PHASES),
            "runs_per_phase": {ph: int(counts[..., k].sum()) for k, ph in enumerate(PHASES)}}
    fig = plot_phase_diagram(result, title=f"parity of 3 of 30 bits, embedding MLP d = 24, {spec['seeds']} seeds per cell")
    save(out, NAME + ("_quick" if args.quick else ""), fig, data, spec, time.perf_counter() - start)
    print("runs per phase:", data["runs_per_phase"])
    for iy, frac in enumerate(spec["frac"]):
        row = "  ".join(f"{result.phases[iy][ix][:4]}({result.majority_share[iy][ix]:.2f})" for ix in range(len(spec["wd"])))
        print(f"n_train {round(frac * 10_000):5d}: {row}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
