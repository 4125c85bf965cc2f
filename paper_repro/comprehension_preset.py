"""Which network settings sit in the comprehension zone? The evidence behind the `comprehension`
preset of `efftheory compare` (not a paper figure).

For candidate (embedding lr, decoder lr) pairs around the comprehension corner of Fig 5a, train
the p = 10 toy network on n_train in {30, 45} with seeds 0..19 (seed = split and network) for
5000 steps, and record per run: the split's dof, the phase, and the step at which RQI first
reaches 0.95. The preset should form the structure whenever the split determines it (dof = 0)
and generalise without a grokking delay. Writes <out>/comprehension_preset.json (no figure).

    python paper_repro/comprehension_preset.py [--quick] --out DIR [--jobs J]
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

#: (embedding lr, decoder lr) candidates; the first is the paper's setting.
CANDIDATES = [(1e-3, 1e-4), (3e-3, 1e-4), (1e-2, 1e-4), (3e-2, 1e-4), (1e-2, 3e-4)]


def probe_run(n_train: int, seed: int, steps: int, embed_lr: float, decoder_lr: float) -> dict:
    """One network at one candidate setting."""
    import efftheory as et

    split = et.Addition(10).split(n_train=n_train, seed=seed)
    theory = et.linear_theory(split)
    config = et.NetworkConfig(seed=seed, embed_lr=embed_lr, decoder_lr=decoder_lr)
    r = et.train_network(split, config, steps, eval_every=10)
    return {"n_train": n_train, "seed": seed, "embed_lr": embed_lr, "decoder_lr": decoder_lr,
            "dof": theory.dof, "ideal_test_acc": theory.ideal_test_accuracy, "phase": r.phase,
            "t_train": r.steps_to_train, "t_test": r.steps_to_test, "t_rqi": r.steps_to_rqi,
            "final_test_acc": float(r.test_acc[-1]), "final_rqi": float(r.rqi[-1])}


def summary(runs: list[dict]) -> dict:
    """Structure rate among dof = 0 splits (with its Wilson interval) and phase counts."""
    import efftheory as et
    from efftheory import wilson_interval

    unique = [r for r in runs if r["dof"] == 0]
    formed = sum(r["t_rqi"] is not None for r in unique)
    lo, hi = wilson_interval(formed, len(unique)) if unique else (None, None)
    return {"runs": len(runs), "unique_splits": len(unique), "structure_formed_unique": formed,
            "structure_rate_unique": formed / len(unique) if unique else None, "structure_ci": [lo, hi],
            "phases": {ph: sum(r["phase"] == ph for r in runs) for ph in et.PHASES}}


def main(argv=None) -> int:
    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    out = prepare(args)
    nums, seeds, steps = ([45], [0, 1], 500) if args.quick else ([30, 45], list(range(20)), 5000)
    start = time.perf_counter()
    tasks = [(n, s, steps, lr_e, lr_d) for lr_e, lr_d in CANDIDATES for n in nums for s in seeds]
    runs = pmap(probe_run, tasks, args.jobs)
    result = []
    for lr_e, lr_d in CANDIDATES:
        chunk = [r for r in runs if r["embed_lr"] == lr_e and r["decoder_lr"] == lr_d]
        s = summary(chunk)
        result.append({"embed_lr": lr_e, "decoder_lr": lr_d, "summary": s})
        print(f"embed lr {lr_e:g}, decoder lr {lr_d:g}: structure {s['structure_formed_unique']}/"
              f"{s['unique_splits']} unique splits, phases {s['phases']}")
    seconds = time.perf_counter() - start
    name = "comprehension_preset" + ("_quick" if args.quick else "")
    write_json(out / f"{name}.json", {"settings": {"p": 10, "train_nums": nums, "seeds": seeds, "steps": steps,
                                                   "eval_every": 10}, "seconds": round(seconds, 1),
                                      "candidates": result, "runs": runs})
    print(f"{seconds:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
