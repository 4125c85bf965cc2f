"""The theory against networks where it applies: the p = 10 grid (n = 5, 10, ..., 50, 54; 20
seeds each, seed = split and network; 5000 steps) in both presets of `efftheory compare`
(`paper`, the authors' settings, and `comprehension`). Not a paper figure: the checks of the
paper's Figs 3, 4a and 4b with numbers and 95% intervals.

Writes <out>/validation_p10.png (three panels per preset row: structure formation against
P_unique(n), network steps to RQI 0.95 against the time scale Z0/(2ηλ3), and against the
calibrated predictions of the exact flow and of Adam on ℓ_eff from each network's own E0, with
y = x) and <out>/validation_p10.json (every number, per preset). Each preset's runs are cached
in <out>/validation_p10_<preset>_runs.json (the same records `efftheory compare --json` gives in
`run_records`), so a re-run only redraws.

    python paper_repro/validation.py [--quick] --out DIR [--jobs J]
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
from paper_repro.common import VALIDATION_FULL as FULL
from paper_repro.common import VALIDATION_QUICK as QUICK
from paper_repro.common import parser, prepare, preset_runs, pyplot, save

NAME = "validation_p10"


def figure_data(runs_by_preset: dict, trials: int) -> dict:
    import dataclasses

    import efftheory as et

    curve = et.critical_curve(10, trials=trials, seed=0)
    data = {"critical": {"n": curve.n, "p_unique": curve.p_unique, "r_c": curve.r_c, "trials": trials}}
    for preset, runs in runs_by_preset.items():
        summary = et.summarise([et.GridRun(**r) for r in runs], curve.p_unique, critical_fraction=curve.r_c)
        data[preset] = {"summary": dataclasses.asdict(summary), "runs": runs}
    return data


def _structure(ax, d, preset):
    import numpy as np

    b = d[preset]["summary"]["structure"]
    ax.plot(d["critical"]["n"], d["critical"]["p_unique"], color="black", label="P_unique(n) (theory)")
    rate = np.array(b["structure_rate"])
    err = np.abs(np.array(b["ci"], float).T - rate)
    ax.errorbar(b["n"], rate, yerr=err, fmt="o", capsize=3, label="networks forming the structure (95% CI)")
    ax.plot(b["n"], b["unique"], "x", color="grey", label="fraction of the drawn splits with dof = 0")
    ax.axhline(0.5, color="0.7", lw=0.7, ls=":")
    ax.set(xlabel="training samples n (of 55)", ylabel="probability / fraction",
           title=f"{_name(preset)}:\nnetworks cross 1/2 at r = {_f(b['network_critical_fraction'])}, "
                 f"theory r_c = {_f(b['critical_fraction'])}", ylim=(-0.03, 1.03))
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), frameon=False)  # off the points


def _loglog(ax, x, y, xlabel, title):
    import numpy as np

    ax.set(xlabel=xlabel, ylabel="network steps to RQI ≥ 0.95", title=title)
    if len(x) == 0:
        ax.text(0.5, 0.5, "nothing to compare: no network whose split fixes\nthe structure (dof = 0) "
                "reached RQI 0.95 in the budget", ha="center", va="center", transform=ax.transAxes)
        return
    x, y = np.asarray(x, float), np.asarray(y, float)
    ax.loglog(x, y, "o", ms=4, alpha=0.7)
    lo, hi = min(x.min(), y.min()) / 2, max(x.max(), y.max()) * 2
    ax.plot([lo, hi], [lo, hi], color="grey", lw=0.8, label="y = x")
    ax.set(xlabel=xlabel, ylabel="network steps to RQI ≥ 0.95", title=title)
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3, which="both")


def _name(preset: str) -> str:
    """How a panel names a compare preset (``paper`` is the paper's settings, not its results)."""
    return {"paper": "paper's settings (embedding lr 1e-3)",
            "comprehension": "comprehension preset (embedding lr 1e-2)"}.get(preset, f"{preset} preset")


def _f(x):
    return "n/a" if x is None else f"{x:.3f}"


def plot(d: dict, presets: list[str]):
    plt = pyplot()
    fig, ax = plt.subplots(len(presets), 3, figsize=(18, 5.2 * len(presets)), constrained_layout=True, squeeze=False)
    for row, preset in enumerate(presets):
        runs, s = d[preset]["runs"], d[preset]["summary"]
        _structure(ax[row, 0], d, preset)
        timed = [r for r in runs if r["tau"] is not None and r["steps_to_rqi"] is not None]
        t = s["timing"]
        _loglog(ax[row, 1], [r["tau"] for r in timed], [max(r["steps_to_rqi"], 1) for r in timed],
                "theory time scale Z0/(2ηλ3) (steps)",
                f"{_name(preset)}:\nSpearman {_f(t['spearman'])}, log-log slope {_f(t['loglog_slope'])}")
        a = ax[row, 2]
        for key, attr, marker in (("flow", "predicted_rqi_flow", "o"), ("adam", "predicted_rqi_adam", "s")):
            pts = [(r[attr], max(r["steps_to_rqi"], 1)) for r in runs if r["steps_to_rqi"] is not None and r[attr]]
            cal = s["calibration"][key]
            if pts:
                a.loglog(*zip(*pts), marker, ms=4, alpha=0.6, ls="none",
                         label=f"{'exact flow' if key == 'flow' else 'Adam on ℓ_eff'}: median ratio "
                               f"{_f(cal['median'])} ({cal['n']} runs)")
        if not any(r["steps_to_rqi"] is not None for r in runs):
            a.text(0.5, 0.5, "nothing to compare: no network\nreached RQI 0.95 in the budget", ha="center",
                   va="center", transform=a.transAxes)
        lims = a.get_xlim() + a.get_ylim()
        lo, hi = min(lims), max(lims)
        a.plot([lo, hi], [lo, hi], color="grey", lw=0.8, label="y = x")
        a.set(xlabel="predicted steps to RQI ≥ 0.95 (from the network's own E0)",
              ylabel="network steps to RQI ≥ 0.95", title=f"{_name(preset)}:\ncalibration of the predicted steps")
        a.legend(fontsize=8, loc="upper left")
        a.grid(alpha=0.3, which="both")
    return fig


def main(argv=None) -> int:
    import efftheory as et

    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    out = prepare(args)
    spec = QUICK if args.quick else FULL
    start = time.perf_counter()
    presets = list(et.COMPARE_PRESETS)
    runs = {preset: preset_runs(out, preset, spec, args.jobs) for preset in presets}
    d = figure_data(runs, trials=200 if args.quick else 10_000)
    name = NAME + ("_quick" if args.quick else "")
    save(out, name, plot(d, presets), d, {**spec, "presets": presets}, time.perf_counter() - start)
    for preset in presets:
        s = d[preset]["summary"]
        print(f"{preset}: |Acc-Âcc| {_f(s['accuracy']['mean_abs_diff'])}, networks cross 1/2 at "
              f"r = {_f(s['structure']['network_critical_fraction'])} (r_c {_f(s['structure']['critical_fraction'])}), "
              f"Spearman {_f(s['timing']['spearman'])}, calibration flow {_f(s['calibration']['flow']['median'])}, "
              f"adam {_f(s['calibration']['adam']['median'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
