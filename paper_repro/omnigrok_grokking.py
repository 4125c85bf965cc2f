"""Omnigrok on digits, grokking on demand and undone: the same MLP and training set at
alpha = 1 (generalises while it fits), alpha = 8 (fits, then generalises much later) and
alpha = 8 with its weight norm held at w_c from the start (no delay).

Settings: scikit-learn's 8x8 digits, 300 training images (seed 0), the fixed 500-image test set;
width 200, depth 3, ReLU, MSE on one-hot targets, AdamW lr 1e-3, weight decay 0.1, full batch,
30,000 steps recorded every 100. w_c comes from paper_repro/omnigrok_landscape.py (its JSON,
computed when missing). Printed: steps to train and test accuracy 0.9 in each case.

    python paper_repro/omnigrok_grokking.py [--quick] [--out DIR] [--jobs J]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

try:
    import paper_repro.common  # noqa: F401
except ImportError:
    sys.path.append(str(Path(__file__).resolve().parents[1]))
from paper_repro.common import parser, pmap, prepare, save
from paper_repro.omnigrok_landscape import FULL as LANDSCAPE_FULL, QUICK as LANDSCAPE_QUICK, landscape_json

NAME = "omnigrok_grokking"
FULL = {"task": "digits", "train_num": LANDSCAPE_FULL["train_num"], "seed": 0, "width": 200, "depth": 3,
        "loss": "mse", "lr": 1e-3, "wd": 0.1, "steps": 30000, "eval_every": 100, "alpha_large": 8.0}
QUICK = {**FULL, "width": LANDSCAPE_QUICK["width"], "steps": 600, "eval_every": 20, "wd": 1.0}


def one_case(spec: dict, alpha: float, fixed_norm: float):
    from efftheory.tasks import make_task
    from efftheory.models.omnigrok.training import OmnigrokConfig, train_omnigrok

    task = make_task(spec["task"])
    config = OmnigrokConfig(width=spec["width"], depth=spec["depth"], loss=spec["loss"], lr=spec["lr"], wd=spec["wd"],
                            alpha=alpha, fixed_norm=fixed_norm, seed=spec["seed"])
    return train_omnigrok(task.split(spec["train_num"], spec["seed"]), config, spec["steps"],
                          eval_every=spec["eval_every"])


def main(argv=None) -> None:
    args = parser(__doc__.split("\n\n")[0]).parse_args(argv)
    out = prepare(args)
    spec = QUICK if args.quick else FULL
    w_c = landscape_json(out, args.quick, args.jobs)["w_c"]
    start = time.perf_counter()
    big = spec["alpha_large"]
    labels = ["(a) alpha = 1", f"(b) alpha = {big:g}", f"(c) alpha = {big:g}, norm held at w_c = {w_c:.3g}"]
    results = pmap(one_case, [(spec, 1.0, 0.0), (spec, big, 0.0), (spec, big, w_c)], args.jobs)
    from efftheory.plotting.omnigrok import plot_three_cases

    fig = plot_three_cases(list(zip(labels, results)), w_c)
    data = {"w_c": w_c, "cases": [{"label": lab, **r.summary(), "steps": r.steps.tolist(),
                                   "train_acc": r.train_acc.tolist(), "test_acc": r.test_acc.tolist(),
                                   "weight_norm": r.weight_norm.tolist()} for lab, r in zip(labels, results)]}
    save(out, NAME + ("_quick" if args.quick else ""), fig, data, spec, time.perf_counter() - start)
    for lab, r in zip(labels, results):
        print(f"{lab}: w0 {r.w0:.2f}, train acc 0.9 at {r.steps_to_train}, test acc 0.9 at {r.steps_to_test}, "
              f"final test acc {r.test_acc[-1]:.3f}, phase {r.phase}")


if __name__ == "__main__":
    main()
