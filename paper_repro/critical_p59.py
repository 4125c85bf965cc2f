"""The critical training-set size measured on real networks at p = 59 (not a paper figure).

The linear theory says a random training set of integer addition on p = 59 symbols (N = 1770
samples) fixes the linear structure with probability P_unique(r), which crosses 1/2 at
r_c ≈ 0.09. Here toy networks are trained at training fractions around and above r_c (9 values
log-spaced from 0.03 to 0.3) with 10 seeds each (seed = split and network, so every run has its
own split) in the comprehension preset of ``efftheory compare`` (embedding lr 1e-2, decoder lr
1e-4: the setting in which the p = 10 networks form the structure most often, docs/theory.md
§12), 8000 steps, no early stop, accuracies and RQI evaluated every 50 steps. (The paper's
embedding lr 1e-3 is ten times slower for the embeddings: at p = 59 and r = 0.1 its
representation does not form within 3000 steps, so within a budget this machine affords it
would measure the budget, not the critical size.) Per fraction and preset: the share of networks whose representation
reaches RQI 0.95 within the budget (the structure formed) and the share that generalise (test
accuracy 0.9), with Wilson 95% intervals, beside P_unique and beside the share of the drawn
splits that are unique (dof = 0). The networks' own critical fraction is where their
structure curve crosses 1/2 (linear interpolation in log r).

The runs are one phase sweep (efftheory.experiments.sweep.engine) with the fraction and the embedding lr as its
axes, stored resumably in ``<out>/sweeps/critical_p59/``: the same sweep as

    efftheory phase --p 59 --x frac --x-range 0.03:0.3:9:log --y embed_lr --y-range 1e-2:1e-2:1 \\
        --seeds 10 --vary-split --steps 8000 --eval-every 50 --no-early-stop --out figures/sweeps/critical_p59

so it can be computed in pieces and this script
only draws once it is complete. Writes <out>/critical_p59.png and <out>/critical_p59.json.

    python paper_repro/critical_p59.py [--quick] --out DIR [--jobs J] [--trials T]
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

try:
    import paper_repro.common  # noqa: F401
except ImportError:
    sys.path.append(str(Path(__file__).resolve().parents[1]))
from paper_repro.common import committed_stores, parser, prepare, pyplot, save

NAME = "critical_p59"
FULL = {"p": 59, "frac": "0.03:0.3:9:log", "embed_lr": "1e-2:1e-2:1", "seeds": 10, "steps": 8000,
        "eval_every": 50}
QUICK = {"p": 59, "frac": "0.05:0.3:2:log", "embed_lr": "1e-2:1e-2:1", "seeds": 2, "steps": 100,
         "eval_every": 50}
PRESET_OF_LR = {1e-3: "paper", 1e-2: "comprehension"}


class StoredSweep:
    """The finished records of a store, read as they are (see :func:`sweep`): ``grid``,
    ``settings``, ``seeds`` and ``record(ix, iy, seed)`` like a :class:`efftheory.SweepResult`."""

    def __init__(self, grid, settings, records: list[dict], kernel: str | None):
        self.grid, self.settings, self.kernel = grid, settings, kernel
        self.seeds = settings.network_seeds
        self._by_key = {(r["ix"], r["iy"], r["seed"]): r for r in records}

    def complete(self) -> bool:
        return all((ix, iy, s) in self._by_key for ix, iy, _ in self.grid.cells() for s in self.seeds)

    def record(self, ix: int, iy: int, seed: int) -> dict:
        return self._by_key[(ix, iy, seed)]


def sweep(out: Path, spec: dict, jobs: int, quick: bool):
    """The finished sweep: its store's records when they are all there (also a store written by
    an earlier network kernel, which a new run would refuse to resume: its manifest names the
    kernel that made it, and the figure says so), else the sweep run or resumed now."""
    from efftheory import Axis, Grid, SweepSettings, run_sweep
    from efftheory.runtime.store import read_sweep

    grid = Grid(Axis.parse("frac", spec["frac"]), Axis.parse("embed_lr", spec["embed_lr"]))
    settings = SweepSettings(p=spec["p"], n_train=None, steps=spec["steps"], eval_every=spec["eval_every"],
                             early_stop=False, network={"loss": "mse"}, seeds=tuple(range(spec["seeds"])),
                             vary_split=True).for_grid(grid)
    store = out / "sweeps" / (NAME + ("_quick" if quick else ""))
    for found in [store, *committed_stores(out, store)]:
        if (found / "manifest.json").exists():
            manifest, records = read_sweep(found)
            same = manifest["grid"] == grid.to_dict() and manifest["fixed"] == settings.to_dict()
            stored = StoredSweep(grid, settings, records, manifest.get("kernel"))
            if same and stored.complete():
                return stored
    store.parent.mkdir(parents=True, exist_ok=True)
    result = run_sweep(grid, settings, store, jobs=jobs, share_from=committed_stores(out, store))
    return StoredSweep(grid, settings, [r for r in result.records], _kernel_of(store))


def _kernel_of(store: Path) -> str | None:
    from efftheory.runtime.store import read_sweep

    return read_sweep(store)[0].get("kernel")


def _crossing_log(fracs, rates) -> float | None:
    """Where ``rates`` first reaches 1/2, interpolated linearly in log(frac); None if never."""
    from efftheory.stats import crossing

    r = crossing([math.log(f) for f in fracs], rates, 0.5)
    return None if r is None else math.exp(r)


def figure_data(result, trials: int) -> dict:
    import numpy as np

    import efftheory as et
    from efftheory import wilson_interval

    p = result.settings.p
    task = et.Addition(p)
    N = task.n_samples
    curve = et.critical_curve(p, trials=trials, seed=0)
    fracs = list(result.grid.x.values)
    seeds = result.seeds
    unique = np.array([[linear_theory_unique(task, f, s) for s in seeds] for f in fracs])
    out = {"p": p, "n_samples": N, "fractions": fracs, "n_train": [task.n_train_for(frac=f) for f in fracs],
           "seeds": list(seeds), "steps": result.settings.steps, "eval_every": result.settings.eval_every,
           # None: the first network kernel, whose trajectories at eval_every > 1 forwarded the
           # test rows only on evaluated steps (its step counts are multiples of eval_every)
           "network_kernel": result.kernel,
           "theory": {"train_fraction": (curve.n / N).tolist(), "p_unique": curve.p_unique, "ci_low": curve.ci_low,
                      "ci_high": curve.ci_high, "trials": trials, "r_c": curve.r_c, "n_c": curve.n_c},
           "p_unique_at_fraction": [float(curve.p_unique[task.n_train_for(frac=f) - 1]) for f in fracs],
           "unique_splits": unique.sum(axis=1).tolist(), "presets": {}}
    for iy, lr in enumerate(result.grid.y.values):
        formed = np.array([[result.record(ix, iy, s)["t_rqi"] is not None for s in seeds] for ix in range(len(fracs))])
        generalised = np.array([[result.record(ix, iy, s)["t_test"] is not None for s in seeds]
                                for ix in range(len(fracs))])
        phases = [[result.record(ix, iy, s)["phase"] for s in seeds] for ix in range(len(fracs))]
        k, n = formed.sum(axis=1), len(seeds)
        kg = generalised.sum(axis=1)
        lo, hi = wilson_interval(k, n)
        glo, ghi = wilson_interval(kg, n)
        rate = k / n
        preset = PRESET_OF_LR.get(float(lr), f"embed_lr {lr:g}")
        out["presets"][preset] = {
            "embed_lr": float(lr), "structure_formed": k.tolist(), "structure_rate": rate.tolist(),
            "structure_ci": [lo.tolist(), hi.tolist()], "generalised": kg.tolist(),
            "generalised_rate": (kg / n).tolist(), "generalised_ci": [glo.tolist(), ghi.tolist()],
            # structure on splits the theory calls unique, and on the others (dof > 0)
            "formed_on_unique": int((formed & unique).sum()), "unique_runs": int(unique.sum()),
            "formed_on_not_unique": int((formed & ~unique).sum()), "not_unique_runs": int((~unique).sum()),
            "network_critical_fraction": _crossing_log(fracs, rate),
            "phase_counts": {ph: sum(row.count(ph) for row in phases) for ph in et.PHASES},
        }
    return out


def linear_theory_unique(task, frac: float, seed: int) -> bool:
    """Whether the split of ``seed`` at ``frac`` fixes the linear structure (dof = 0)."""
    import efftheory as et

    return bool(et.linear_theory(task.split(frac=frac, seed=seed)).unique)


def plot(d: dict):
    import numpy as np

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(10, 8.2), constrained_layout=True)
    t = d["theory"]
    ax.plot(t["train_fraction"], t["p_unique"], color="k", lw=2, label=f"theory: P(unique) ({t['trials']} trials)")
    ax.fill_between(t["train_fraction"], t["ci_low"], t["ci_high"], color="k", alpha=0.2, lw=0)
    if t["r_c"] is not None:
        ax.axvline(t["r_c"], color="k", ls="--", lw=1, label=f"theory: $r_c$ = {t['r_c']:.3f}")
    x = np.array(d["fractions"])
    n = len(d["seeds"])
    ax.plot(x, np.array(d["unique_splits"]) / n, "x", color="0.4", ms=8, label=f"the {n} drawn splits: share with dof = 0")
    for i, (preset, s) in enumerate(d["presets"].items()):
        colour = f"C{i}"
        y = np.array(s["structure_rate"])
        lo, hi = (np.array(v) for v in s["structure_ci"])
        crit = s["network_critical_fraction"]
        ax.errorbar(x * (1 + 0.02 * (2 * i - 1)), y, yerr=[y - lo, hi - y], fmt="o-", color=colour, capsize=3,
                    label=f"networks ({preset}, embedding lr {s['embed_lr']:g}): RQI ≥ 0.95 within {d['steps']} steps; "
                          f"crosses 1/2 at " + ("n/a" if crit is None else f"{crit:.3f}"))
        ax.plot(x * (1 + 0.02 * (2 * i - 1)), s["generalised_rate"], "v:", color=colour, ms=6, alpha=0.7,
                label=f"networks ({preset}): test accuracy ≥ 0.9")
    ax.set_xscale("log")
    ax.set(xlabel="training fraction $r = |D|/N$ (log)", ylabel="probability / share of runs", ylim=(-0.03, 1.03),
           xlim=(min(x) / 1.2, max(x) * 1.2),
           title=f"p = {d['p']} (N = {d['n_samples']}): structure formation in real networks vs the critical size "
                 f"({n} seeds per point, Wilson 95%)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8.5, loc="upper center", bbox_to_anchor=(0.5, -0.11), frameon=False)  # off the points
    return fig


def main(argv=None) -> int:
    ap = parser(__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=None, help="random orders for P_unique (default 2000; quick 100)")
    args = ap.parse_args(argv)
    out = prepare(args)
    spec = QUICK if args.quick else FULL
    trials = args.trials or (100 if args.quick else 2000)
    start = time.perf_counter()
    result = sweep(out, spec, args.jobs, args.quick)
    d = figure_data(result, trials)
    name = NAME + ("_quick" if args.quick else "")
    save(out, name, plot(d), d, {**spec, "trials": trials}, time.perf_counter() - start)
    for preset, s in d["presets"].items():
        crit = s["network_critical_fraction"]
        print(f"{preset}: structure formed {s['structure_formed']} of {len(d['seeds'])} per fraction; crosses 1/2 at "
              + ("n/a" if crit is None else f"{crit:.3f}") + f" (r_c {d['theory']['r_c']:.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
