"""Why do so few default networks generalise on the p = 10 grid? A small probe (not a paper figure).

For n_train in {30, 40, 45, 50} and seeds 0-2, train the toy network for 20,000 steps under a
few hyper-parameter variants (the paper's defaults, a 10x larger decoder lr, decoder weight
decay, both) and record, per run: the step where test accuracy first reaches 0.9, the step
where it first reaches min(0.9, ideal test accuracy of the split), the step where RQI first
reaches 0.95, and the final accuracies. A 5000-step budget is read off the same runs (training
does not depend on the budget). Writes <out>/generalisation_probe.json (no figure).

    python paper_repro/generalisation_probe.py [--quick] --out DIR [--jobs J]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

try:
    import paper_repro.common  # noqa: F401
except ImportError:
    sys.path.append(str(Path(__file__).resolve().parents[1]))
from paper_repro.common import parser, pmap, prepare, write_json

VARIANTS = {
    "default (embed lr 1e-3, decoder lr 1e-4, wd 0)": {},
    "decoder lr 1e-3": {"decoder_lr": 1e-3},
    "decoder wd 1": {"decoder_wd": 1.0},
    "decoder lr 1e-3, decoder wd 1": {"decoder_lr": 1e-3, "decoder_wd": 1.0},
    "embed lr 3e-3": {"embed_lr": 3e-3},
}


def probe_run(n_train: int, seed: int, steps: int, overrides: dict) -> dict:
    """One network; steps at which each criterion is first met (None = never)."""
    import numpy as np

    from efftheory import NetworkConfig, train_network
    from efftheory import Addition
    from efftheory import linear_theory

    split = Addition(10).split(n_train=n_train, seed=seed)
    ideal = linear_theory(split).ideal_test_accuracy
    r = train_network(split, NetworkConfig(seed=seed, **overrides), steps, eval_every=10)

    def first(values, level):
        hit = np.flatnonzero(values >= level - 1e-9)
        return int(r.steps[hit[0]]) if hit.size else None

    at5k = int(np.searchsorted(r.steps, 5000, side="right") - 1)
    return {
        "n_train": n_train, "seed": seed, "ideal_test_acc": ideal,
        "t_train": r.steps_to_train, "t_test": r.steps_to_test, "t_rqi": r.steps_to_rqi,
        "t_test_ideal": first(r.test_acc, min(0.9, ideal)),
        "test_acc_5k": float(r.test_acc[at5k]), "rqi_5k": float(r.rqi[at5k]),
        "final_test_acc": float(r.test_acc[-1]), "final_rqi": float(r.rqi[-1]),
    }


def summary(runs: list[dict], budget: int) -> dict:
    def frac(key):
        return sum(r[key] is not None and r[key] <= budget for r in runs) / len(runs)

    return {"budget": budget, "test_0.9": frac("t_test"), "test_min(0.9,ideal)": frac("t_test_ideal"),
            "rqi_0.95": frac("t_rqi"), "train_0.9": frac("t_train")}


def main(argv=None) -> int:
    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    out = prepare(args)
    nums, seeds, steps = ([45], [0], 2000) if args.quick else ([30, 40, 45, 50], [0, 1, 2], 20000)
    start = time.perf_counter()
    tasks = [(n, s, steps, ov) for ov in VARIANTS.values() for n in nums for s in seeds]
    runs = pmap(probe_run, tasks, args.jobs)
    k = len(nums) * len(seeds)
    result = {}
    for i, name in enumerate(VARIANTS):
        chunk = runs[i * k:(i + 1) * k]
        result[name] = {"overrides": VARIANTS[name], "runs": chunk,
                        "summary": [summary(chunk, b) for b in sorted({min(5000, steps), steps})]}
        for s in result[name]["summary"]:
            print(f"{name:<45} {s}")
    seconds = time.perf_counter() - start
    name = "generalisation_probe" + ("_quick" if args.quick else "")
    write_json(out / f"{name}.json", {"settings": {"train_nums": nums, "seeds": seeds, "steps": steps,
                                                   "eval_every": 10}, "seconds": round(seconds, 1),
                                      "variants": result})
    print(f"{seconds:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
