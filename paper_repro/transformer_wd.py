"""Fig 6 of the paper, in small: does decoder weight decay shorten the transformer's time to
generalise on modular addition?

The transformer of efftheory.transformer (docs/theory.md §15) at its default size (d = 32,
width 64, one block), p = 23, 80 % of the ordered pairs (split seed 0), embedding lr 1e-3,
decoder lr fixed at 1e-3, decoder weight decay over a few values, network seeds 0-2. Each run
stops at the first evaluated step (every 50) with train and test accuracy >= 0.99, or at the
step budget (10 000). Reported per run: steps to test accuracy 0.9 and 0.99 (None = not within
the budget), the phase, and the final ring frequency.

Runs are stored one JSON line each in ``<out>/transformer_wd_runs/`` (efftheory.store: locked,
append-only, fsynced), so an interrupted sweep continues where it stopped when started again
with the same settings.

    python paper_repro/transformer_wd.py [--quick] [--out DIR]
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from pathlib import Path

try:
    import paper_repro.common  # noqa: F401
except ImportError:
    sys.path.append(str(Path(__file__).resolve().parents[1]))
import numpy as np  # noqa: E402  (after common has set the BLAS threads)

from paper_repro.common import parser, prepare, pyplot, save  # noqa: E402

FULL = {"p": 23, "frac": 0.8, "split_seed": 0, "wds": [0.0, 0.1, 0.3, 1.0, 3.0], "seeds": [0, 1, 2],
        "steps": 10000, "eval_every": 50, "decoder_lr": 1e-3}
QUICK = {"p": 7, "frac": 0.8, "split_seed": 0, "wds": [0.0, 1.0], "seeds": [0], "steps": 100, "eval_every": 50,
         "decoder_lr": 1e-3}


def _fraction_or_none(x) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def run_one(spec: dict, wd: float, seed: int) -> dict:
    """One training run of the sweep as a store record (efftheory.store field names)."""
    from efftheory.tasks import ModularAddition
    from efftheory.transformer import TransformerConfig, train_transformer

    split = ModularAddition(spec["p"], ordered=True).split(frac=spec["frac"], seed=spec["split_seed"])
    config = TransformerConfig(decoder_lr=spec["decoder_lr"], decoder_wd=wd, seed=seed)
    r = train_transformer(split, config, spec["steps"], eval_every=spec["eval_every"], stop_at_full=True)
    return {
        "t_train": r.steps_to_train, "t_test": r.steps_to_test, "t_rqi": r.steps_to_rqi,
        "t_test_99": r.steps_to_test_99, "phase": r.phase, "steps_run": r.steps_run,
        "gap": None if r.steps_to_train is None or r.steps_to_test is None else r.steps_to_test - r.steps_to_train,
        "final_train_acc": _fraction_or_none(r.train_acc[-1]), "final_test_acc": _fraction_or_none(r.test_acc[-1]),
        "final_rqi": _fraction_or_none(r.rqi[-1]), "ring_frequency": int(r.ring_frequency[-1]),
        "diverged": r.diverged, "seconds": round(r.seconds, 2), "config": dataclasses.asdict(config),
    }


def sweep(spec: dict, directory: Path) -> list[dict]:
    """Every (wd, seed) run, from the store where already done; in (wd, seed) order."""
    from efftheory.store import ResultStore

    expected = {(i, 0, s): {"wd": wd} for i, wd in enumerate(spec["wds"]) for s in spec["seeds"]}
    manifest = {"what": "transformer decoder weight decay sweep", "spec": spec, "record": "transformer_wd v2"}
    records = []
    with ResultStore.open(directory, manifest, expected, spec["steps"]) as store:
        for (i, _, s), want in expected.items():
            rec = store.finished.get((i, 0, s))
            if rec is None:
                rec = store.append({"ix": i, "iy": 0, "seed": s, **want, **run_one(spec, want["wd"], s)})
                print(f"wd {want['wd']:g} seed {s}: test 0.99 at {rec['t_test_99']}, phase {rec['phase']} "
                      f"({rec['seconds']:.0f} s)", flush=True)
            records.append(rec)
    return records


def summarise(spec: dict, records: list[dict]) -> list[dict]:
    """Per wd: the seeds' steps to test accuracy 0.99 (None = not within the budget) and their median
    (None when the median run never got there: unreached runs count as infinitely long)."""
    rows = []
    for i, wd in enumerate(spec["wds"]):
        t99 = [r["t_test_99"] for r in records if r["ix"] == i]
        median = float(np.median([math.inf if t is None else t for t in t99]))  # never reached counts as inf
        median = None if math.isinf(median) else median
        rows.append({"decoder_wd": wd, "t_test_99": t99, "median_t_test_99": median,
                     "t_test": [r["t_test"] for r in records if r["ix"] == i],
                     "phases": [r["phase"] for r in records if r["ix"] == i]})
    return rows


def main(argv=None) -> int:
    ap = parser(__doc__.splitlines()[0])
    args = ap.parse_args(argv)
    out = prepare(args)
    spec = QUICK if args.quick else FULL
    start = time.perf_counter()
    records = sweep(spec, out / f"transformer_wd_runs{'_quick' if args.quick else ''}")
    rows = summarise(spec, records)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for row in rows:
        for t, s in zip(row["t_test_99"], spec["seeds"]):
            y = spec["steps"] * 1.15 if t is None else t
            ax.scatter(row["decoder_wd"] if row["decoder_wd"] > 0 else 0.03, y, color="C0" if t is not None else "C3",
                       marker="o" if t is not None else "^")
    ax.axhline(spec["steps"], color="0.5", ls=":", lw=1, label=f"budget ({spec['steps']} steps; triangles: not reached)")
    ax.set(xscale="log", yscale="log", xlabel="decoder weight decay (wd 0 drawn at 0.03)",
           ylabel="steps to test accuracy 0.99",
           title=f"Transformer, addition mod {spec['p']}, frac {spec['frac']}, decoder lr {spec['decoder_lr']:g}")
    ax.legend(fontsize=9)
    fig.tight_layout()
    save(out, "transformer_wd" + ("_quick" if args.quick else ""), fig, {"rows": rows, "runs": records}, spec,
         time.perf_counter() - start)
    for row in rows:
        print(f"decoder wd {row['decoder_wd']:g}: steps to test acc 0.99 per seed {row['t_test_99']}, "
              f"median {row['median_t_test_99']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
