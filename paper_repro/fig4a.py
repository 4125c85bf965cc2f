"""Fig 4a: probability of a unique linear structure against the training fraction, with the
networks' generalisation on top (p = 10), in both network presets.

Theory: P_unique(n) from :func:`efftheory.theories.linear.critical.critical_curve` (10,000 random orders, Wilson
95% band), r_c where it crosses 1/2. Networks: the validation grid (n = 5, 10, ..., 50, 54, 20
seeds each, seed = split and network, 5000 steps; cached in ``validation_p10_<preset>_runs.json``)
in each compare preset: ``paper`` (the authors' settings, kept as they are) and
``comprehension`` (embedding lr 1e-2). One panel per preset: per size the fraction of runs whose
test accuracy reached 0.9 within the step budget, and the fraction whose RQI reached 0.95 (the
structure itself), each with a Wilson 95% interval over the seeds. Also (theory) the probability that a random split's
ideal test accuracy is >= 0.9 at all: a test sample whose sum has no training sample cannot be
inferred by any linear structure, which caps the reachable test accuracy.

    python paper_repro/fig4a.py [--quick] --out DIR [--jobs J]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

try:
    import paper_repro.common  # noqa: F401
except ImportError:
    sys.path.append(str(Path(__file__).resolve().parents[1]))
from paper_repro.common import VALIDATION_FULL, VALIDATION_QUICK, parser, prepare, pyplot, save, validation_runs

NAME = "fig4a_uniqueness"


def ideal_reachable(p: int, splits: int) -> dict:
    """Per n = 1..N-1: fraction of ``splits`` random splits (seeds 0..splits-1) whose ideal test
    accuracy (what the linear structure implies, docs/theory.md §5) is >= 0.9, with Wilson intervals.
    A test sum with no training sample caps it: test accuracy 0.9 is then out of reach."""
    import numpy as np

    from efftheory import wilson_interval
    from efftheory import Addition
    from efftheory import linear_theory

    task = Addition(p)
    ns = np.arange(1, task.n_samples)
    k = np.array([sum(linear_theory(task.split(n_train=int(n), seed=s)).ideal_test_accuracy >= 0.9 - 1e-12
                      for s in range(splits)) for n in ns])
    lo, hi = wilson_interval(k, splits)
    return {"n": ns, "train_fraction": ns / task.n_samples, "fraction": k / splits, "ci_low": lo, "ci_high": hi,
            "splits_per_n": splits}


def networks(runs: list[dict], curve) -> dict:
    """Per training-set size: runs, how many generalised and formed the structure (Wilson 95%)."""
    import numpy as np

    import efftheory as et
    from efftheory import wilson_interval

    gen = et.summarise([et.GridRun(**r) for r in runs], curve.p_unique, critical_fraction=curve.r_c).structure
    ns = gen.n
    k_test = np.array([sum(r["generalised"] for r in runs if r["n_train"] == n) for n in ns])
    k_rqi = np.array([sum(r["steps_to_rqi"] is not None for r in runs if r["n_train"] == n) for n in ns])
    total = np.array([sum(r["n_train"] == n for r in runs) for n in ns])
    lo_t, hi_t = wilson_interval(k_test, total)
    lo_r, hi_r = wilson_interval(k_rqi, total)
    N = curve.n_samples
    return {"n_train": ns, "train_fraction": [n / N for n in ns], "runs": total,
            "generalised": k_test, "generalised_fraction": k_test / total,
            "generalised_ci": [lo_t, hi_t], "rqi_reached": k_rqi, "rqi_fraction": k_rqi / total,
            "rqi_ci": [lo_r, hi_r], "p_unique_at_n": gen.p_unique,
            "largest_gap_structure_vs_p_unique": gen.largest_gap,
            "network_critical_fraction": gen.network_critical_fraction}


def figure_data(runs_by_preset: dict, p: int, trials: int, splits: int) -> dict:
    import efftheory as et

    curve = et.critical_curve(p, trials=trials, seed=0)
    N = curve.n_samples
    return {
        "ideal_reaches_0.9": ideal_reachable(p, splits),
        "theory": {"train_fraction": curve.n / N, "p_unique": curve.p_unique, "ci_low": curve.ci_low,
                   "ci_high": curve.ci_high, "trials": curve.trials, "n_c": curve.n_c, "r_c": curve.r_c},
        "presets": {preset: networks(runs, curve) for preset, runs in runs_by_preset.items()},
    }


def _panel(ax, d: dict, preset: str, steps: int) -> None:
    import numpy as np

    t, nw = d["theory"], d["presets"][preset]
    ax.plot(t["train_fraction"], t["p_unique"], color="k", lw=2, label=f"theory: P(unique) ({t['trials']} trials)")
    ax.fill_between(t["train_fraction"], t["ci_low"], t["ci_high"], color="k", alpha=0.2, lw=0,
                    label=f"theory: Wilson 95% band (half-width ≤ {np.max(np.subtract(t['ci_high'], t['ci_low'])) / 2:.3f})")
    if t["r_c"] is not None:
        ax.axvline(t["r_c"], color="k", ls="--", lw=1, label=f"$r_c$ = {t['r_c']:.3f}")
    iv = d["ideal_reaches_0.9"]
    ax.plot(iv["train_fraction"], iv["fraction"], color="C2", lw=1.5,
            label=f"theory: P(ideal test acc ≥ 0.9) ({iv['splits_per_n']} splits per n)")
    ax.fill_between(iv["train_fraction"], iv["ci_low"], iv["ci_high"], color="C2", alpha=0.2, lw=0)
    x = np.array(nw["train_fraction"])
    for key, ci, mark, colour, label in (
        ("generalised_fraction", "generalised_ci", "o", "C3", "networks: test acc ≥ 0.9"),
        ("rqi_fraction", "rqi_ci", "s", "C0", "networks: RQI ≥ 0.95"),
    ):
        y = np.array(nw[key], float)
        lo, hi = (np.array(v, float) for v in nw[ci])
        shift = -0.006 if mark == "o" else 0.006
        ax.errorbar(x + shift, y, yerr=[y - lo, hi - y], fmt=mark, color=colour, capsize=3, ms=7,
                    label=f"{label} within {steps} steps (Wilson 95%)")
    crit = nw["network_critical_fraction"]
    title = "paper's settings (embedding lr 1e-3)" if preset == "paper" else f"{preset} preset (embedding lr 1e-2)"
    ax.set(xlabel="training fraction $r = |D|/N$", ylabel="probability", xlim=(0, 1.0), ylim=(-0.03, 1.03),
           title=f"{title}: {int(np.max(nw['runs']))} seeds per size; structure curve crosses 1/2 at "
                 + ("n/a" if crit is None else f"{crit:.3f}"))
    ax.grid(alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, fontsize=9)


def plot(d: dict, settings: dict):
    plt = pyplot()
    presets = list(d["presets"])
    fig, axes = plt.subplots(1, len(presets), figsize=(9 * len(presets), 7), constrained_layout=True, squeeze=False)
    for ax, preset in zip(axes[0], presets):
        _panel(ax, d, preset, settings["steps"])
    fig.suptitle(f"Fig 4a — p = {settings['p']}: unique linear structure vs networks")
    return fig


def main(argv=None) -> int:
    ap = parser(__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=None, help="random orders for P(unique) (default 10000; quick 500)")
    ap.add_argument("--splits", type=int, default=None, help="random splits per n for the ideal accuracy (default 300; quick 10)")
    args = ap.parse_args(argv)
    out = prepare(args)
    trials = args.trials or (500 if args.quick else 10_000)
    splits = args.splits or (10 if args.quick else 300)
    start = time.perf_counter()
    spec = VALIDATION_QUICK if args.quick else VALIDATION_FULL
    runs = validation_runs(out, args.quick, args.jobs)
    d = figure_data(runs, spec["p"], trials, splits)
    settings = {**spec, "presets": list(runs), "trials": trials, "splits": splits}
    save(out, NAME + ("_quick" if args.quick else ""), plot(d, settings), d, settings, time.perf_counter() - start)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
