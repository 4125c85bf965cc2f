"""Fig 6 of the paper, in small: does decoder weight decay shorten the transformer's time to
generalise on modular addition?

The transformer of efftheory.models.transformer.kernels (docs/theory.md §15) at its default size (d = 32,
width 64, one block), p = 23, 80 % of the ordered pairs (split seed 0), embedding lr 1e-3,
decoder lr fixed at 1e-3, decoder weight decay over a few values, network seeds 0-2. Each run
stops at the first evaluated step (every 50) with train and test accuracy >= 0.99, or at the
step budget (10 000). Reported per run: steps to test accuracy 0.9 and 0.99 (None = not within
the budget), the phase, and the final ring frequency.

``--dropouts R1,R2,...`` crosses the weight decays with dropout rates (the paper's Fig 1 run
uses 0.05; docs/theory.md §15) into ``transformer_wd_dropout.*``, its runs in
``transformer_wd_dropout_runs/``; without it every run is without dropout.

Runs are stored one JSON line each in ``<out>/transformer_wd_runs/`` (efftheory.runtime.store: locked,
append-only, fsynced), so an interrupted sweep continues where it stopped when started again
with the same settings.

    python paper_repro/transformer_wd.py [--quick] [--dropouts R1,R2,...] --out DIR
"""

from __future__ import annotations

import dataclasses
import math
import shutil
import sys
import time
from pathlib import Path

try:
    import paper_repro.common  # noqa: F401
except ImportError:
    sys.path.append(str(Path(__file__).resolve().parents[1]))
import numpy as np  # noqa: E402  (after common has set the BLAS threads)

from paper_repro.common import committed_stores, parser, prepare, pyplot, save  # noqa: E402

FULL = {"p": 23, "frac": 0.8, "split_seed": 0, "wds": [0.0, 0.1, 0.3, 1.0, 3.0], "seeds": [0, 1, 2],
        "steps": 10000, "eval_every": 50, "decoder_lr": 1e-3}
QUICK = {"p": 7, "frac": 0.8, "split_seed": 0, "wds": [0.0, 1.0], "seeds": [0], "steps": 100, "eval_every": 50,
         "decoder_lr": 1e-3}


def _rates(text: str) -> list[float]:
    """Comma-separated dropout rates, each in [0, 1)."""
    import argparse

    try:
        rates = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"dropout rates must be numbers, got {text!r}") from None
    if not rates or any(not 0.0 <= r < 1.0 for r in rates):
        raise argparse.ArgumentTypeError(f"dropout rates must lie in [0, 1), got {text!r}")
    return rates


def _fraction_or_none(x) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def run_one(spec: dict, wd: float, seed: int, dropout: float = 0.0) -> dict:
    """One training run of the sweep as a store record (efftheory.runtime.store field names)."""
    from efftheory.tasks import ModularAddition
    from efftheory.models.transformer.config import TransformerConfig
    from efftheory.models.transformer.training import train_transformer

    split = ModularAddition(spec["p"], ordered=True).split(frac=spec["frac"], seed=spec["split_seed"])
    config = TransformerConfig(decoder_lr=spec["decoder_lr"], decoder_wd=wd, dropout=dropout, seed=seed)
    r = train_transformer(split, config, spec["steps"], eval_every=spec["eval_every"], stop_at_full=True)
    return {
        "t_train": r.steps_to_train, "t_test": r.steps_to_test, "t_rqi": r.steps_to_rqi,
        "t_test_99": r.steps_to_test_99, "phase": r.phase, "steps_run": r.steps_run,
        "gap": None if r.steps_to_train is None or r.steps_to_test is None else r.steps_to_test - r.steps_to_train,
        "final_train_acc": _fraction_or_none(r.train_acc[-1]), "final_test_acc": _fraction_or_none(r.test_acc[-1]),
        "final_rqi": _fraction_or_none(r.rqi[-1]), "ring_frequency": int(r.ring_frequency[-1]),
        "diverged": r.diverged, "seconds": round(r.seconds, 2), "config": dataclasses.asdict(config),
    }


def _dropouts(spec: dict) -> list[float]:
    """The dropout rates of a spec (a spec without the key is the sweep without dropout)."""
    return spec.get("dropouts", [0.0])


def sweep(spec: dict, directory: Path, committed: Path | None = None) -> list[dict]:
    """Every (wd, dropout, seed) run, from the store where already done; in (wd, dropout, seed) order.
    A ``directory`` not there yet starts as a copy of the store ``committed`` when given."""
    from efftheory.runtime.store import ResultStore

    with_rates = "dropouts" in spec
    expected = {(i, j, s): {"wd": wd, **({"dropout": rate} if with_rates else {})}
                for i, wd in enumerate(spec["wds"]) for j, rate in enumerate(_dropouts(spec)) for s in spec["seeds"]}
    manifest = {"what": "transformer decoder weight decay sweep", "spec": spec, "record": "transformer_wd v2"}
    records = []
    if not directory.exists() and committed is not None and (committed / "manifest.json").is_file():
        # resume from the committed runs (copied: the committed store is never written)
        shutil.copytree(committed, directory, ignore=shutil.ignore_patterns(".lock"))
    extra = ("t_test_99", "ring_frequency", "diverged", "config")  # the fields run_one adds
    with ResultStore.open(directory, manifest, expected, spec["steps"], extra=extra) as store:
        for (i, j, s), want in expected.items():
            rec = store.finished.get((i, j, s))
            if rec is None:
                rate = want.get("dropout", 0.0)
                rec = store.append({"ix": i, "iy": j, "seed": s, **want, **run_one(spec, want["wd"], s, rate)})
                print(f"wd {want['wd']:g} dropout {rate:g} seed {s}: test 0.99 at {rec['t_test_99']}, "
                      f"phase {rec['phase']} ({rec['seconds']:.0f} s)", flush=True)
            records.append(rec)
    return records


def summarise(spec: dict, records: list[dict]) -> list[dict]:
    """Per (wd, dropout): the seeds' steps to test accuracy 0.99 (None = not within the budget) and
    their median (None when the median run never got there: unreached runs count as infinitely long)."""
    rows = []
    for i, wd in enumerate(spec["wds"]):
        for j, rate in enumerate(_dropouts(spec)):
            mine = [r for r in records if r["ix"] == i and r["iy"] == j]
            t99 = [r["t_test_99"] for r in mine]
            median = float(np.median([math.inf if t is None else t for t in t99]))  # never reached counts as inf
            median = None if math.isinf(median) else median
            rows.append({"decoder_wd": wd, "dropout": rate, "t_test_99": t99, "median_t_test_99": median,
                         "t_test": [r["t_test"] for r in mine], "phases": [r["phase"] for r in mine]})
    return rows


def main(argv=None) -> int:
    ap = parser(__doc__.splitlines()[0])
    ap.add_argument("--dropouts", type=_rates, default=None, metavar="R1,R2,...",
                    help="cross the weight decays with these dropout rates (each in [0, 1))")
    args = ap.parse_args(argv)
    out = prepare(args)
    spec = dict(QUICK if args.quick else FULL)
    if args.dropouts is not None:
        spec["dropouts"] = args.dropouts
    stem = "transformer_wd" + ("_dropout" if args.dropouts is not None else "")
    start = time.perf_counter()
    directory = out / f"{stem}_runs{'_quick' if args.quick else ''}"
    records = sweep(spec, directory, next(iter(committed_stores(out, directory)), None))
    rows = summarise(spec, records)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    rates = _dropouts(spec)
    several = len(rates) > 1
    for row in rows:
        j = rates.index(row["dropout"])
        # side by side within a wd, so that the rates' points do not hide each other
        shift = 1.12 ** (j - (len(rates) - 1) / 2)
        for t in row["t_test_99"]:
            y = spec["steps"] * 1.15 if t is None else t
            color = f"C{j}" if several else "C0" if t is not None else "C3"
            ax.scatter((row["decoder_wd"] if row["decoder_wd"] > 0 else 0.03) * shift, y, color=color,
                       marker="o" if t is not None else "^")
    ax.axhline(spec["steps"], color="0.5", ls=":", lw=1, label=f"budget ({spec['steps']} steps; triangles: not reached)")
    ax.set(xscale="log", yscale="log", xlabel="decoder weight decay (wd 0 drawn at 0.03)",
           ylabel="steps to test accuracy 0.99",
           title=f"Transformer, addition mod {spec['p']}, frac {spec['frac']}, decoder lr {spec['decoder_lr']:g}")
    handles, labels = ax.get_legend_handles_labels()
    if several:  # one entry per rate (the points themselves carry no label: a rate's first may be a triangle)
        from matplotlib.lines import Line2D

        handles += [Line2D([], [], color=f"C{j}", marker="o", ls="") for j in range(len(rates))]
        labels += [f"dropout {r:g}" for r in rates]
    ax.legend(handles, labels, fontsize=9)
    fig.tight_layout()
    save(out, stem + ("_quick" if args.quick else ""), fig,
         # the runs' own seconds, kept in the store, so a re-plot from stored runs keeps them
         {"rows": rows, "runs": records, "run_seconds_total": round(sum(r["seconds"] for r in records), 1)}, spec,
         time.perf_counter() - start)
    for row in rows:
        print(f"decoder wd {row['decoder_wd']:g}, dropout {row['dropout']:g}: steps to test acc 0.99 per seed "
              f"{row['t_test_99']}, median {row['median_t_test_99']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
