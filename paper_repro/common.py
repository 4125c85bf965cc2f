"""What the paper_repro scripts share: options, a process pool, the p = 10 grid cache, and
atomic PNG + JSON output.

Every script writes ``<out>/<name>.png`` and ``<out>/<name>.json``; the JSON holds exactly the
numbers plotted (``data``), the settings that produced them and the wall time in seconds.
Scripts import this module as ``paper_repro.common``; when the repository root is not on
``sys.path`` (``python paper_repro/fig3.py`` puts only ``paper_repro/`` there) the script
appends it, so an installed efftheory still wins over the source tree.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

# One BLAS thread unless the user says otherwise (set before numpy is imported): the networks'
# matrices are tiny, and a multi-threaded OpenBLAS on a busy machine made one 1000-step run
# 18x slower here (9.0 s against 0.5 s with one thread, load average 7 on 2 cores).
for _key in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_key, "1")

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "figures"

#: The paper's p = 10 grid (docs/theory.md §9, issue 6): sizes 5, 10, ..., 50, 54, seeds 0-2, 5000 steps.
P = 10
GRID_FULL = {"p": P, "train_nums": [5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 54], "seeds": [0, 1, 2], "steps": 5000}
#: --quick: two sizes, one seed, a few hundred steps (smoke test).
GRID_QUICK = {"p": P, "train_nums": [20, 45], "seeds": [0], "steps": 300}

FONT = {"font.size": 12, "axes.titlesize": 13, "axes.labelsize": 12, "legend.fontsize": 10,
        "xtick.labelsize": 11, "ytick.labelsize": 11}


def parser(description: str) -> argparse.ArgumentParser:
    """--quick, --out DIR, --jobs J (every script)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--quick", action="store_true", help="tiny grid and few steps (smoke test)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output directory (default {DEFAULT_OUT})")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes (default: cores)")
    return ap


def prepare(args) -> Path:
    """Create the output directory; refuse one that cannot be written before any work."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not os.access(out, os.W_OK):
        raise SystemExit(f"--out {out}: not writable")
    if args.jobs < 1:
        raise SystemExit(f"--jobs {args.jobs}: must be >= 1")
    return out


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(FONT)
    return plt


def write_json(path: Path, obj: dict) -> None:
    import efftheory as et

    et.write_json(path, obj)


def save(out: Path, name: str, fig, data: dict, settings: dict, seconds: float) -> Path:
    """Write ``out/name.png`` (atomically) and ``out/name.json`` = {figure, settings, seconds, data}."""
    import efftheory as et

    png = out / f"{name}.png"
    et.save_figure(fig, png, dpi=120)
    write_json(out / f"{name}.json", {"figure": name, "settings": settings, "seconds": round(seconds, 2), "data": data})
    print(f"wrote {png} and {name}.json ({seconds:.1f} s)")
    return png


def pmap(fn, tasks: list[tuple], jobs: int) -> list:
    """``[fn(*t) for t in tasks]`` in a spawn process pool of ``jobs`` workers (in order)."""
    import efftheory as et

    return et.pmap(fn, tasks, jobs)


def grid(out: Path, quick: bool, jobs: int) -> dict:
    """The p = 10 network grid of Figs 3, 4a, 4b, computed once and cached in
    ``out/grid_p10[_quick].json`` (recomputed when the cached settings differ).

    Each run is :func:`efftheory.run_one` with the paper's :class:`NetworkConfig` (the
    ``paper`` preset), without trajectories. Returns {settings, seconds, runs} with every run
    as the dict of a :class:`efftheory.GridRun`.
    """
    import dataclasses

    import efftheory as et

    spec = GRID_QUICK if quick else GRID_FULL
    config = et.COMPARE_PRESETS["paper"]
    settings = {**spec, "network": dataclasses.asdict(config), "delta": 0.01, "record": "GridRun v2"}
    path = out / ("grid_p10_quick.json" if quick else "grid_p10.json")
    if path.exists():
        cached = json.loads(path.read_text())
        if cached.get("settings") == json.loads(json.dumps(settings)):
            return cached
    start = time.perf_counter()
    tasks = [(spec["p"], n, s, spec["steps"], config, 0.01, False) for n in spec["train_nums"] for s in spec["seeds"]]
    runs = [r.to_dict() for r in pmap(et.run_one, tasks, jobs)]
    result = {"settings": settings, "seconds": round(time.perf_counter() - start, 2), "runs": runs}
    write_json(path, result)
    print(f"grid: {len(runs)} networks in {result['seconds']:.1f} s, cached in {path}")
    import efftheory as et

    return json.loads(json.dumps(et.jsonable(result)))  # the same plain types as read from the cache


#: The validation grid of both compare presets (Figs 4a, 4b and validation_p10): sizes 5, 10, ...,
#: 50, 54 with 20 seeds each (seed = split and network), 5000 steps.
VALIDATION_FULL = {"p": P, "train_nums": [5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 54], "seeds": list(range(20)),
                   "steps": 5000}
VALIDATION_QUICK = {"p": P, "train_nums": [20, 45], "seeds": [0, 1], "steps": 300}


def preset_runs(out: Path, preset: str, spec: dict, jobs: int) -> list[dict]:
    """The validation grid's GridRun records for one compare preset (``paper`` or
    ``comprehension``), computed once and cached in ``out/validation_p10_<preset>_runs[_quick].json``
    (recomputed when the cached settings differ)."""
    import dataclasses

    import efftheory as et

    config = et.COMPARE_PRESETS[preset]
    settings = {**spec, "preset": preset, "network": dataclasses.asdict(config), "delta": 0.01}
    path = out / f"validation_p10_{preset}_runs{'_quick' if spec is VALIDATION_QUICK else ''}.json"
    if path.exists():
        cached = json.loads(path.read_text())
        if cached.get("settings") == json.loads(json.dumps(settings)):
            return cached["runs"]
    start = time.perf_counter()
    tasks = [(spec["p"], n, s, spec["steps"], config, 0.01, False) for n in spec["train_nums"] for s in spec["seeds"]]
    runs = [r.to_dict() for r in pmap(et.run_one, tasks, jobs)]
    write_json(path, {"settings": settings, "seconds": round(time.perf_counter() - start, 1), "runs": runs})
    print(f"validation grid ({preset}): {len(runs)} networks in {time.perf_counter() - start:.1f} s, cached in {path}")
    return json.loads(json.dumps(et.jsonable(runs)))


def validation_runs(out: Path, quick: bool, jobs: int) -> dict:
    """{preset: runs} for every compare preset (paper first)."""
    import efftheory as et

    spec = VALIDATION_QUICK if quick else VALIDATION_FULL
    return {preset: preset_runs(out, preset, spec, jobs) for preset in et.COMPARE_PRESETS}
