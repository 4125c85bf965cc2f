"""Omnigrok on digits, the reduced (LU) landscape: train and test loss and accuracy of the
Omnigrok MLP held at a fixed weight norm w, over a grid of w, with w_c (the test-loss minimum)
and its range over seeds.

Settings: scikit-learn's 8x8 digits, 300 training images (seed = split and initialisation),
the fixed 500-image test set; width 200, depth 3, ReLU, MSE on one-hot targets, AdamW lr 1e-3
without decay (on the sphere it is undone after every step), full batch, 2000 steps per point;
12 norms from 0.25 to 8 times the initial norm at alpha = 1, seeds 0-2. The other Omnigrok
scripts read w_c from this script's JSON (computed here when missing or made with other settings).

    python paper_repro/omnigrok_landscape.py [--quick] [--out DIR] [--jobs J]
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

try:
    import paper_repro.common  # noqa: F401
except ImportError:
    sys.path.append(str(Path(__file__).resolve().parents[1]))
from paper_repro.common import parser, prepare, save

NAME = "omnigrok_landscape"
TRAIN_NUM = 300
FULL = {"task": "digits", "train_num": TRAIN_NUM, "low": 0.25, "high": 8.0, "count": 12, "seeds": [0, 1, 2],
        "steps": 2000, "width": 200, "depth": 3, "loss": "mse", "lr": 1e-3}
QUICK = {**FULL, "count": 5, "seeds": [0], "steps": 150, "width": 32}


def initial_norm(spec: dict) -> float:
    """||theta|| of the alpha = 1 initialisation of seed 0 (the grid's unit)."""
    import numpy as np

    from efftheory.models.omnigrok.training import OmnigrokConfig, init_params

    theta, _ = init_params(64, 10, OmnigrokConfig(width=spec["width"], depth=spec["depth"], dtype="float64"))
    return float(np.linalg.norm(theta))


def compute(spec: dict, jobs: int):
    from efftheory.experiments.landscape import default_norms, reduced_landscape
    from efftheory.tasks import make_task
    from efftheory.models.omnigrok.training import OmnigrokConfig

    config = OmnigrokConfig(width=spec["width"], depth=spec["depth"], loss=spec["loss"], lr=spec["lr"], wd=0.0)
    norms = default_norms(initial_norm(spec), spec["low"], spec["high"], spec["count"])
    return reduced_landscape(make_task(spec["task"]), spec["train_num"], norms, spec["seeds"], spec["steps"],
                             config, jobs=jobs, progress=None)


def landscape_json(out: Path, quick: bool, jobs: int) -> dict:
    """The landscape's JSON ``data`` (from ``out/omnigrok_landscape[_quick].json`` when its
    settings match, else computed and written with the figure)."""
    spec = QUICK if quick else FULL
    name = NAME + ("_quick" if quick else "")
    path = out / f"{name}.json"
    if path.exists():
        cached = json.loads(path.read_text())
        if cached.get("settings") == json.loads(json.dumps(spec)):
            return cached["data"]
    return run(out, quick, jobs)


def run(out: Path, quick: bool, jobs: int) -> dict:
    from efftheory.plotting.omnigrok import plot_landscape

    spec = QUICK if quick else FULL
    start = time.perf_counter()
    result = compute(spec, jobs)
    data = {**result.to_json(), "w_init": initial_norm(spec)}
    save(out, NAME + ("_quick" if quick else ""), plot_landscape(result), data, spec, time.perf_counter() - start)
    print(f"w_c = {result.w_c:.3f} (range over seeds {result.w_c_low:.3f}..{result.w_c_high:.3f}); "
          f"per seed {', '.join(f'{w:.3f}' for w in result.w_c_seeds)}")
    return data


def main(argv=None) -> None:
    args = parser(__doc__.split("\n\n")[0]).parse_args(argv)
    run(prepare(args), args.quick, args.jobs)


if __name__ == "__main__":
    main()
