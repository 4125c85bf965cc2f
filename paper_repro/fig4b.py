"""Fig 4b: steps for the networks' representation to reach RQI >= 0.95 against the training
fraction, with the effective theory's time scale overlaid (p = 10, log y), in both network presets.

Networks: the validation grid (n = 5, 10, ..., 50, 54, 20 seeds each, 5000 steps; cached in
``validation_p10_<preset>_runs.json``), one panel per compare preset: ``paper`` (the authors'
settings) and ``comprehension`` (embedding lr 1e-2). Runs that never reach RQI 0.95 within the
step budget are drawn at the budget as open triangles. Theory: for every run whose split
fixes the structure (dof = 0), tau = Z0 / (2 η λ3) with Z0 = |E0|² of that network's initial
embeddings, η the embedding learning rate and λ3 the grokking rate of the split (docs/theory.md §8):
the e-folding time of the slowest structural mode of the effective gradient flow. Splits with
dof > 0 have no finite time scale (λ3 = 0).

    python paper_repro/fig4b.py [--quick] --out DIR [--jobs J]
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

NAME = "fig4b_time_to_structure"


def preset_data(runs: list[dict], p: int, steps: int) -> dict:
    """One preset's runs: steps to RQI 0.95, the time scale per run, and the rank agreement."""
    import numpy as np

    import efftheory as et

    N = et.Addition(p).n_samples
    t = et.summarise([et.GridRun(**r) for r in runs], np.zeros(N)).timing
    return {
        "n_samples": N, "steps_budget": steps,
        "n_train": [r["n_train"] for r in runs], "seed": [r["seed"] for r in runs],
        "train_fraction": [r["n_train"] / N for r in runs], "dof": [r["dof"] for r in runs],
        "steps_to_rqi": [r["steps_to_rqi"] for r in runs],
        "theory_tau": [r["tau"] for r in runs],
        "spearman_tau_vs_steps": t.spearman, "spearman_ci": t.spearman_ci, "loglog_slope": t.loglog_slope,
        "runs_used_for_spearman": t.runs_used,
        "never_reached_dof0": t.never_dof0, "runs_dof0": t.runs_dof0,
        "never_reached_dof_pos": t.never_dof_pos, "runs_dof_pos": t.runs_dof_pos,
    }


def figure_data(runs_by_preset: dict, spec: dict) -> dict:
    import efftheory as et

    return {preset: {**preset_data(runs, spec["p"], spec["steps"]),
                     "embed_lr": et.COMPARE_PRESETS[preset].embed_lr}
            for preset, runs in runs_by_preset.items()}


def _panel(ax, d: dict, preset: str) -> None:
    import numpy as np

    x = np.array(d["train_fraction"])
    steps = np.array([np.nan if v is None else v for v in d["steps_to_rqi"]], float)
    tau = np.array([np.nan if v is None else v for v in d["theory_tau"]], float)
    budget = d["steps_budget"]
    reached = np.isfinite(steps)
    ax.plot(x[reached], steps[reached], "o", color="C0", ms=6, alpha=0.7, label="networks: steps to RQI ≥ 0.95")
    ax.plot(x[~reached], np.full((~reached).sum(), budget), "^", mfc="none", color="C0", ms=6, alpha=0.7,
            label=f"networks: not reached in {budget} steps (drawn at {budget})")
    has = np.isfinite(tau)
    ax.plot(x[has] + 0.006, tau[has], "s", color="C1", ms=4, alpha=0.5,
            label=r"theory per run: $Z_0/(2\eta\lambda_3)$ (dof = 0)")
    xs = sorted(set(x[has]))
    ax.plot(xs, [np.median(tau[has & (x == v)]) for v in xs], "-", color="C1", lw=1.5, label="theory: median over seeds")
    ax.axhline(budget, color="0.6", lw=0.8, ls=":")
    ax.set_yscale("log")
    rho, ci = d["spearman_tau_vs_steps"], d["spearman_ci"]
    title = "paper's settings" if preset == "paper" else f"{preset} preset"
    ax.set(xlabel="training fraction $r = |D|/N$", ylabel=f"steps (embedding lr η = {d['embed_lr']:g})",
           xlim=(0, 1.02),
           title=f"{title}: " + (f"no Spearman ρ ({d['runs_used_for_spearman']} runs with dof = 0 reached RQI 0.95)" if rho is None else
                                 f"Spearman ρ(τ, steps) = {rho:.2f} [{ci[0]:.2f}, {ci[1]:.2f}], "
                                 f"{d['runs_used_for_spearman']} runs"))
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, fontsize=9)


def plot(d: dict, settings: dict):
    plt = pyplot()
    fig, axes = plt.subplots(1, len(d), figsize=(9 * len(d), 7), constrained_layout=True, squeeze=False)
    for ax, preset in zip(axes[0], d):
        _panel(ax, d[preset], preset)
    fig.suptitle(f"Fig 4b — p = {settings['p']}: time to structure ({len(settings['seeds'])} seeds per size)")
    return fig


def main(argv=None) -> int:
    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    out = prepare(args)
    start = time.perf_counter()
    spec = VALIDATION_QUICK if args.quick else VALIDATION_FULL
    runs = validation_runs(out, args.quick, args.jobs)
    d = figure_data(runs, spec)
    settings = {**spec, "presets": list(runs)}
    save(out, NAME + ("_quick" if args.quick else ""), plot(d, settings), d, settings, time.perf_counter() - start)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
