"""Networks on modular addition against the circle theory: how often the toy network forms a ring
and generalises, against the training fraction, beside the circle theory's ring probability, and
whether a ringed network's frequency is the one the circle flow from its own start predicts.
Not a paper figure (docs/theory.md §13).

p = 17 (N = 153), fractions 0.2, 0.3, ..., 0.9, seeds 0-9 (split and network), 3000 steps, the
network setting of `efftheory train|compare --task modadd` (CE head, d = 2, embedding lr 1e-2,
decoder lr 1e-4); the circle theory's ring probability from 1000 uniform random starts per
fraction. The same numbers as

    efftheory compare --task modadd --p 17 --seeds 0,...,9 --steps 3000 --ring-trials 1000

Writes <out>/ring_networks.png and <out>/ring_networks.json; the runs are cached in
<out>/ring_networks_runs.json (the `run_records` of `compare --task modadd --json`), so a re-run
only redraws.

    python paper_repro/ring_networks.py [--quick] --out DIR [--jobs J]
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
from paper_repro.common import computing, load_cache, parser, pmap, prepare, save, write_json

NAME = "ring_networks"
FULL = {"p": 17, "fracs": [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9], "seeds": list(range(10)), "steps": 3000,
        "ring_trials": 1000}
QUICK = {"p": 11, "fracs": [0.5, 0.8], "seeds": [0, 1], "steps": 300, "ring_trials": 100}


def runs(out: Path, spec: dict, jobs: int) -> list[dict]:
    """Every network's RingRun record, computed once and cached."""
    import dataclasses

    import efftheory as et
    from efftheory.models.toy.model import MODADD_CONFIG
    from efftheory.experiments.comparison.ring import run_ring_one

    task = et.ModularAddition(spec["p"])
    settings = {k: spec[k] for k in ("p", "fracs", "seeds", "steps")} | {
        "network": dataclasses.asdict(MODADD_CONFIG), "delta": 0.01, "record": "RingRun v1"}
    path = out / f"{NAME}_runs{'_quick' if spec is QUICK else ''}.json"
    cached = load_cache(out, path.name, settings)
    if cached is not None:
        return cached["runs"]
    start = time.perf_counter()
    nums = [task.n_train_for(frac=f) for f in spec["fracs"]]
    tasks = [(task, n, s, spec["steps"], MODADD_CONFIG, 0.01) for n in nums for s in spec["seeds"]]
    computing(f"{len(tasks)} modular-addition networks", out, jobs)
    records = [r.to_dict() for r in pmap(run_ring_one, tasks, jobs, "ring networks")]
    write_json(path, {"settings": settings, "seconds": round(time.perf_counter() - start, 1), "runs": records})
    return json.loads(json.dumps(et.jsonable(records)))


def figure_data(records: list[dict], spec: dict) -> dict:
    """The summary over the runs, with the circle theory's ring probability at each size."""
    import dataclasses

    import efftheory as et
    from efftheory.theories.circle.probability import ring_probability
    from efftheory.experiments.comparison.ring import RingRun, summarise_rings

    task = et.ModularAddition(spec["p"])
    N = task.n_samples
    grid = [RingRun(**r) for r in records]
    probs = {n: ring_probability(task.p, n / N, spec["ring_trials"], seed=0) for n in sorted({r.n_train for r in grid})}
    summary = summarise_rings(grid, task.p, N, probs)
    return {"summary": dataclasses.asdict(summary),
            "theory_outcome_fractions": {int(n): pr.fraction for n, pr in probs.items()},
            "theory_frequencies": {int(n): [int(f) for f in pr.frequency[pr.outcomes == "ring"]] for n, pr in probs.items()},
            "runs": records}


def main(argv=None) -> int:
    from efftheory.experiments.comparison.ring import RingSummary
    from efftheory.plotting.ring import plot_ring_compare

    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    out = prepare(args)
    spec = QUICK if args.quick else FULL
    start = time.perf_counter()
    d = figure_data(runs(out, spec, args.jobs), spec)
    summary = RingSummary(**d["summary"])
    name = NAME + ("_quick" if args.quick else "")
    save(out, name, plot_ring_compare(summary), d, spec, time.perf_counter() - start)
    for k, n in enumerate(summary.n):
        print(f"frac {summary.frac[k]:.2f}: networks ring {summary.ring_rate[k]:.2f}, generalise "
              f"{summary.generalised_rate[k]:.2f} (mean test acc {summary.mean_test_acc[k]:.3f}); flow from E0 rings "
              f"{summary.flow_ring_rate[k]:.2f}; theory P(ring) {summary.theory_ring_probability[k]:.3f}")
    agree, compared = summary.match_total
    print(f"frequency agreement: {agree} of {compared} (chance {summary.chance_match:.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
