"""What the paper_repro scripts share: options, a process pool, the p = 10 grid cache, and
atomic PNG + JSON output.

Every script writes ``<out>/<name>.png`` and ``<out>/<name>.json``; the JSON holds exactly the
numbers plotted (``data``), the settings that produced them and the wall time in seconds.
``--out DIR`` is required: a script writes only into the folder its user names. The committed
results in ``figures/`` are overwritten only by ``--out figures``.

Caches (runs of networks, sweep stores) are looked up first in ``<out>``, then in the committed
``figures/`` (read, never written unless it is ``<out>``); a cache is used when its settings
equal the script's (:func:`same_settings`), else the runs are computed (a line on stderr says
so, with progress) and cached in ``<out>``.
Scripts import this module as ``paper_repro.common``; when the repository root is not on
``sys.path`` (``python paper_repro/fig3.py`` puts only ``paper_repro/`` there) the script
appends it, so an installed efftheory still wins over the source tree.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

# One BLAS thread unless the user says otherwise (set before numpy is imported): the networks'
# matrices are tiny, and a multi-threaded OpenBLAS on a busy machine made one 1000-step run
# 18x slower here (9.0 s against 0.5 s with one thread, load average 7 on 2 cores).
for _key in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_key, "1")

ROOT = Path(__file__).resolve().parents[1]
#: The committed figures, their JSON and the caches and run stores they were drawn from.
COMMITTED = ROOT / "figures"

#: The paper's p = 10 grid (docs/theory.md §9, issue 6): sizes 5, 10, ..., 50, 54, seeds 0-2, 5000 steps.
P = 10
GRID_FULL = {"p": P, "train_nums": [5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 54], "seeds": [0, 1, 2], "steps": 5000}
#: --quick: two sizes, one seed, a few hundred steps (smoke test).
GRID_QUICK = {"p": P, "train_nums": [20, 45], "seeds": [0], "steps": 300}

FONT = {"font.size": 12, "axes.titlesize": 13, "axes.labelsize": 12, "legend.fontsize": 10,
        "xtick.labelsize": 11, "ytick.labelsize": 11}


def parser(description: str) -> argparse.ArgumentParser:
    """--quick, --out DIR (required), --jobs J (every script)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--quick", action="store_true", help="tiny grid and few steps (smoke test)")
    ap.add_argument("--out", type=Path, required=True,
                    help=f"output directory (required; caches are also read from {COMMITTED}, "
                         "which is written only when named here)")
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


def pmap(fn, tasks: list[tuple], jobs: int, desc: str | None = None) -> list:
    """``[fn(*t) for t in tasks]`` in a spawn process pool of ``jobs`` workers (in order); with
    ``desc``, progress on stderr."""
    import efftheory as et

    if desc is None:
        return et.pmap(fn, tasks, jobs)
    from efftheory.cli._common import UI

    with UI(json_mode=False).progress(len(tasks), desc) as update:
        return et.pmap(fn, tasks, jobs, progress=update)


def _normal(settings):
    """``settings`` as plain JSON types, with a ``network`` dict completed to every field of
    :class:`efftheory.NetworkConfig` (a field added since the cache was written takes its
    default, which is the behaviour the code had before the field existed)."""
    import dataclasses

    import efftheory as et

    plain = json.loads(json.dumps(et.jsonable(settings)))
    if isinstance(plain, dict) and isinstance(plain.get("network"), dict):
        fields = {f.name for f in dataclasses.fields(et.NetworkConfig)}
        if set(plain["network"]) <= fields:
            plain["network"] = json.loads(json.dumps(dataclasses.asdict(et.NetworkConfig(**plain["network"]))))
    return plain


def same_settings(cached, wanted) -> bool:
    """Whether a cache written with settings ``cached`` holds the runs ``wanted`` asks for."""
    return cached is not None and _normal(cached) == _normal(wanted)


def cache_dirs(out: Path) -> list[Path]:
    """Where caches are looked up: ``out``, then the committed ``figures/``."""
    dirs = [Path(out)]
    if COMMITTED.is_dir() and COMMITTED.resolve() != Path(out).resolve():
        dirs.append(COMMITTED)
    return dirs


def load_cache(out: Path, filename: str, settings: dict) -> dict | None:
    """The cached JSON ``filename`` (from :func:`cache_dirs`) whose settings match, else None."""
    for folder in cache_dirs(out):
        path = folder / filename
        if path.is_file():
            cached = json.loads(path.read_text())
            if same_settings(cached.get("settings"), settings):
                print(f"using the cached runs in {path}", file=sys.stderr)
                return cached
    return None


def committed_stores(out: Path, store: Path) -> list[Path]:
    """The committed run store at ``store``'s place under ``figures/`` when ``store`` lies in
    ``out`` and is not it (a list, for ``run_sweep(share_from=...)``)."""
    folders = cache_dirs(out)
    if len(folders) == 1 or not Path(store).is_relative_to(out):
        return []
    twin = COMMITTED / Path(store).relative_to(out)
    return [twin] if (twin / "manifest.json").is_file() else []


def stored_result(out: Path, store: Path, read):
    """``read(directory)`` (a finished :class:`efftheory.SweepResult` read without computing) of
    the committed twin of ``store`` when ``out`` has no store there yet and the committed one
    holds this very sweep, complete; else None. For sweeps whose runs cannot be shared run by
    run (cells without an identity, e.g. the transformer's)."""
    from efftheory.errors import InputError

    if (Path(store) / "manifest.json").is_file():
        return None
    for twin in committed_stores(out, store):
        try:
            result = read(twin)
        except InputError:  # the committed store holds another sweep
            continue
        if result.complete:
            print(f"using the committed runs in {twin}", file=sys.stderr)
            return result
    return None


def computing(what: str, out: Path, jobs: int) -> None:
    """Say on stderr that runs are computed, not read (no matching cache)."""
    where = " or ".join(str(d) for d in cache_dirs(out))
    print(f"computing {what} on {jobs} worker(s): no matching cache in {where}", file=sys.stderr, flush=True)


def grid(out: Path, quick: bool, jobs: int) -> dict:
    """The p = 10 network grid of Figs 3, 4a, 4b, computed once and cached in
    ``out/grid_p10[_quick].json`` (read from :func:`cache_dirs`; recomputed when no cached
    settings match).

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
    cached = load_cache(out, path.name, settings)
    if cached is not None:
        return cached
    start = time.perf_counter()
    tasks = [(spec["p"], n, s, spec["steps"], config, 0.01, False) for n in spec["train_nums"] for s in spec["seeds"]]
    computing(f"the p = {spec['p']} grid ({len(tasks)} networks)", out, jobs)
    runs = [r.to_dict() for r in pmap(et.run_one, tasks, jobs, "grid networks")]
    result = {"settings": settings, "seconds": round(time.perf_counter() - start, 2), "runs": runs}
    write_json(path, result)
    print(f"grid: {len(runs)} networks in {result['seconds']:.1f} s, cached in {path}")
    return json.loads(json.dumps(et.jsonable(result)))  # the same plain types as read from the cache


#: The validation grid of both compare presets (Figs 4a, 4b and validation_p10): sizes 5, 10, ...,
#: 50, 54 with 20 seeds each (seed = split and network), 5000 steps.
VALIDATION_FULL = {"p": P, "train_nums": [5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 54], "seeds": list(range(20)),
                   "steps": 5000}
VALIDATION_QUICK = {"p": P, "train_nums": [20, 45], "seeds": [0, 1], "steps": 300}


def preset_runs(out: Path, preset: str, spec: dict, jobs: int) -> list[dict]:
    """The validation grid's GridRun records for one compare preset (``paper`` or
    ``comprehension``), computed once and cached in ``out/validation_p10_<preset>_runs[_quick].json``
    (read from :func:`cache_dirs`; recomputed when no cached settings match)."""
    import dataclasses

    import efftheory as et

    config = et.COMPARE_PRESETS[preset]
    settings = {**spec, "preset": preset, "network": dataclasses.asdict(config), "delta": 0.01}
    path = out / f"validation_p10_{preset}_runs{'_quick' if spec is VALIDATION_QUICK else ''}.json"
    cached = load_cache(out, path.name, settings)
    if cached is not None:
        return cached["runs"]
    start = time.perf_counter()
    tasks = [(spec["p"], n, s, spec["steps"], config, 0.01, False) for n in spec["train_nums"] for s in spec["seeds"]]
    computing(f"the validation grid, {preset} preset ({len(tasks)} networks)", out, jobs)
    runs = [r.to_dict() for r in pmap(et.run_one, tasks, jobs, f"validation networks ({preset})")]
    write_json(path, {"settings": settings, "seconds": round(time.perf_counter() - start, 1), "runs": runs})
    print(f"validation grid ({preset}): {len(runs)} networks in {time.perf_counter() - start:.1f} s, cached in {path}")
    return json.loads(json.dumps(et.jsonable(runs)))


def validation_runs(out: Path, quick: bool, jobs: int) -> dict:
    """{preset: runs} for every compare preset (paper first)."""
    import efftheory as et

    spec = VALIDATION_QUICK if quick else VALIDATION_FULL
    return {preset: preset_runs(out, preset, spec, jobs) for preset in et.COMPARE_PRESETS}
