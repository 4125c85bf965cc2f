"""Does the linear theory predict which frequencies an embedding MLP on addition mod p picks?
(docs/theory.md, "The embedding MLP"). Not a paper figure.

For every group (p = 31 at fractions 0.5 and 0.7, seeds 0-9, 20 000 steps; p = 67 at fraction
0.5, seeds 0-5, 15 000 steps) and seed: one split (seed) and one network (same seed; d = 128,
CE, lr 3e-3, weight decay 0.3: the setting of paper_repro/mlp_modadd.py); its key frequencies against the prediction from its split and its own
E0 at the horizons s = 0 (E0's spectrum alone), 1 and 4 (the linear flow exp(-s H / λ̄) E0).
Per (p, fraction, horizon), over the networks that generalised and over all of them: how often the network's dominant
frequency is the predicted first (chance 1/K) and how often the predicted first is among its key
frequencies (chance mean |keys| / K), with Wilson 95% intervals.

Writes <out>/mlp_frequencies.png and <out>/mlp_frequencies.json; the runs are cached in
<out>/mlp_frequencies_runs.json, so a re-run only redraws. ``--dim 24`` trains the study's 24
neurons instead (names ending in _d24).

    python paper_repro/mlp_frequencies.py [--quick] [--out DIR] [--jobs J] [--dim D]
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

try:
    import paper_repro.common  # noqa: F401
except ImportError:
    sys.path.append(str(Path(__file__).resolve().parents[1]))
from paper_repro.common import parser, pmap, prepare, save, write_json

NAME = "mlp_frequencies"
FULL = {"groups": [{"p": 31, "frac": 0.5, "seeds": 10, "steps": 20_000}, {"p": 31, "frac": 0.7, "seeds": 10, "steps": 20_000},
                   {"p": 67, "frac": 0.5, "seeds": 6, "steps": 15_000}],
        "network": {"dim": 128, "loss": "ce", "lr": 3e-3, "wd": 0.3}}
QUICK = {"groups": [{"p": 11, "frac": 0.5, "seeds": 2, "steps": 200}], "network": FULL["network"]}


def runs(out: Path, spec: dict, jobs: int, name: str) -> list[dict]:
    """Every run's FrequencyRun record, computed once and cached."""
    from efftheory.experiments.frequency_survey import run_frequency_one
    from efftheory.models.embed_mlp import EmbedMLPConfig

    settings = {**spec, "record": "FrequencyRun v1"}
    path = out / f"{name}_runs.json"
    if path.exists():
        cached = json.loads(path.read_text())
        if cached.get("settings") == json.loads(json.dumps(settings)):
            return cached["runs"]
    config = EmbedMLPConfig(**spec["network"])
    tasks = [(g["p"], g["frac"], s, g["steps"], config) for g in spec["groups"] for s in range(g["seeds"])]
    start = time.perf_counter()
    records = [r.to_dict() for r in pmap(run_frequency_one, tasks, jobs)]
    write_json(path, {"settings": settings, "seconds": round(time.perf_counter() - start, 1), "runs": records})
    return json.loads(json.dumps(records))


def plot(tables):
    """One row of two panels per summary (generalised networks, every network)."""
    from paper_repro.common import pyplot

    plt = pyplot()
    fig, axes = plt.subplots(len(tables), 2, figsize=(13, 4.8 * len(tables)), layout="constrained", squeeze=False)
    for row_axes, rows in zip(axes, tables):
        _plot_row(row_axes, rows)
    return fig


def _plot_row(axes, rows):
    horizons = sorted({r.horizon for r in rows})
    groups = sorted({(r.p, r.frac) for r in rows})
    width = 0.8 / (len(horizons) + 1)
    who = "generalised networks" if rows[0].min_test_acc > 0 else "all networks"
    for ax, (what, chance_of) in zip(axes, (("top1", "top1_chance"), ("in_keys", "in_keys_chance"))):
        for h, horizon in enumerate(horizons):
            xs, ys, lo, hi = [], [], [], []
            for g, key in enumerate(groups):
                row = next(r for r in rows if (r.p, r.frac) == key and r.horizon == horizon)
                if row.n == 0:
                    continue
                share, ci = getattr(row, f"{what}_share"), getattr(row, f"{what}_ci")
                xs.append(g + h * width)
                ys.append(share)
                lo.append(share - ci[0])
                hi.append(ci[1] - share)
            ax.bar(xs, ys, width, yerr=[lo, hi], capsize=3, color=f"C{h}", label=f"prediction at s = {horizon:g}")
        for g, key in enumerate(groups):
            row = next(r for r in rows if (r.p, r.frac) == key)
            chance = getattr(row, chance_of)
            if chance is not None:
                ax.hlines(chance, g - width / 2, g + (len(horizons) - 0.5) * width, color="k", ls="--", lw=1.2,
                          label="chance" if g == 0 else None)
        ax.set_xticks([g + width for g in range(len(groups))],
                      [f"p = {p}\nfrac {f:g}\n(n = {next(r.n for r in rows if (r.p, r.frac) == (p, f))})"
                       for p, f in groups])
        ax.set(ylim=(0, 1), ylabel=f"share of {who}",
               title="dominant frequency = predicted first" if what == "top1" else "predicted first among key frequencies")
        ax.grid(alpha=0.3, axis="y")
        ax.legend(fontsize=9)


def main(argv=None) -> int:
    from efftheory.experiments.frequency_survey import FrequencyRun, summarise_frequencies

    ap = parser(__doc__.splitlines()[0])
    ap.add_argument("--dim", type=int, default=None, help=f"embedding width (default {FULL['network']['dim']})")
    args = ap.parse_args(argv)
    out = prepare(args)
    spec = QUICK if args.quick else FULL
    name = NAME + ("_quick" if args.quick else "")
    if args.dim is not None and args.dim != spec["network"]["dim"]:
        spec = {**spec, "network": {**spec["network"], "dim": args.dim}}
        name = f"{name}_d{args.dim}"
    start = time.perf_counter()
    records = runs(out, spec, args.jobs, name)
    grid = [FrequencyRun(**r) for r in records]
    rows, every = summarise_frequencies(grid), summarise_frequencies(grid, min_test_acc=0.0)
    data = {"rows": [dataclasses.asdict(r) for r in rows], "rows_all": [dataclasses.asdict(r) for r in every],
            "runs": records}
    save(out, name, plot([rows, every]), data, spec, time.perf_counter() - start)
    for r in rows + every:
        if r.n == 0:
            if r.horizon == rows[0].horizon:
                print(f"p {r.p} frac {r.frac:g}: no network of {r.runs} generalised")
            continue
        print(f"p {r.p} frac {r.frac:g} s {r.horizon:g}: {r.n}/{r.runs} with test acc >= {r.min_test_acc:g}; "
              f"dominant = predicted "
              f"{r.top1}/{r.n} (chance {r.top1_chance:.3f}); predicted in keys {r.in_keys}/{r.n} "
              f"(chance {r.in_keys_chance:.3f}, mean {r.mean_keys:.1f} keys); spread {r.mean_spread:.3f}, "
              f"off-diagonal {r.mean_off_diagonal:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
