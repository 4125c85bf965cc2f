"""Measure every time and speed the documentation states, and write benchmarks/DOC_TIMES.md.

Run: python -m benchmarks.doc_times [--only cli,speed,cached,quick,full] [--jobs 2]
       [--out benchmarks/DOC_TIMES.md]

Every number is a wall time of the command as a user types it (a fresh process, run from an
empty temporary directory, the repository not on ``PYTHONPATH``), except ``speed``, which times
training steps in this process after compilation. The file records the machine, the load
average before and after, and the date: on a shared machine the times grow with the load.

Topics:
  cli     ``efftheory simulate``/``train``/``critical``: the first run in a fresh numba cache
          (the kernels compile) and warm runs (median of 3).
  speed   toy-network and transformer training steps per second (one process, compiled).
  cached  each paper_repro script that draws from the committed caches in figures/, with
          ``--out`` a temporary folder (its stderr must not say "computing").
  quick   ``paper_repro/all.py --quick``: every script's smoke-test time.
  readme  the commands README.md shows, warm, as printed there (the phase example's cost is the
          worker time recorded with its committed figure, listed at the end).
  tests   the README's test command, ``python -m pytest -q``, from the repository root.
  full    the scripts whose runs are not committed, computed from scratch (long: about an hour).
The default is every topic but ``full``. The wall times the scripts recorded in the committed
figures' JSON when they were made (on this kind of machine, load unknown) are listed too: they
are what a figure costs from scratch.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPRO = ROOT / "paper_repro"
FIGURES = ROOT / "figures"
EFFTHEORY = [sys.executable, "-m", "efftheory"]

#: (script, extra arguments) of the paper_repro scripts that draw from committed caches.
CACHED = (("fig3", []), ("fig4a", []), ("fig4b", []), ("validation", []), ("ring_networks", []),
          ("critical_p59", []), ("s3_networks", []), ("transformer_wd", []), ("transformer_fig6", []),
          ("fig5", ["--panel", "all", "--budget", "1e5", "--seeds", "5", "--stored-only"]))
#: scripts with no committed runs: computed from scratch by the ``full`` topic.
FULL = (("fig4cd", []), ("fig5", ["--panel", "all"]), ("fig5d", []),
        ("transformer_fig1", []), ("generalisation_probe", []), ("comprehension_preset", []))


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    return {**env, **extra}


def timed(cmd: list[str], cwd: Path, env: dict | None = None, timeout: float = 7200) -> tuple[float, str]:
    """(wall seconds, stderr) of ``cmd``; raises if it fails."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env or _env(), capture_output=True, text=True, timeout=timeout)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return seconds, proc.stderr


def shown(cmd: list[str]) -> str:
    """The command as the docs write it."""
    text = " ".join(cmd)
    return text.replace(f"{sys.executable} -m efftheory", "efftheory").replace(f"{sys.executable} {ROOT}/", "python ")


def cli_rows(work: Path) -> list[dict]:
    """First run in an empty numba cache, then warm runs (median of 3)."""
    rows = []
    cache = work / "numba-cache"
    env = _env(NUMBA_CACHE_DIR=str(cache))
    for args in (["simulate", "--p", "10", "--frac", "0.8"], ["train", "--p", "10", "--frac", "0.8"],
                 ["critical", "--p", "10"]):
        cmd = EFFTHEORY + args
        first, _ = timed(cmd, work, env)
        warm = statistics.median(timed(cmd, work, env)[0] for _ in range(3))
        rows.append({"what": f"{args[0]}: first run after install (compiles its kernels)", "command": shown(cmd),
                     "seconds": first, "notes": "fresh numba cache; the kernels it needs compile once"})
        rows.append({"what": f"{args[0]}: warm run", "command": shown(cmd), "seconds": warm, "notes": "median of 3"})
    return rows


def speed_rows() -> list[dict]:
    """Training steps per second of the toy network (p = 10) and of the transformer (p = 23)."""
    import efftheory as et

    split = et.Addition(10).split(frac=0.8, seed=0)
    et.train_network(split, et.NetworkConfig(), 50)  # compile
    steps = 5000
    start = time.perf_counter()
    et.train_network(split, et.NetworkConfig(), steps)
    toy = time.perf_counter() - start
    rows = [{"what": "toy network training speed (p = 10, frac 0.8, paper defaults)",
             "command": f"efftheory.train_network(..., {steps} steps)", "seconds": toy,
             "notes": f"{steps / toy:.0f} steps/s"}]
    from efftheory.models.transformer.config import TransformerConfig
    from efftheory.models.transformer.training import train_transformer

    msplit = et.ModularAddition(23).split(frac=0.8, seed=0)
    train_transformer(msplit, TransformerConfig(), 20)
    steps = 300
    start = time.perf_counter()
    train_transformer(msplit, TransformerConfig(), steps)
    tf = time.perf_counter() - start
    rows.append({"what": "transformer training speed (p = 23, frac 0.8, default config)",
                 "command": f"train_transformer(..., {steps} steps)", "seconds": tf,
                 "notes": f"{steps / tf:.0f} steps/s"})
    return rows


def script_rows(scripts, work: Path, jobs: int, label: str) -> list[dict]:
    """Each script once into a fresh --out folder; a cached script must not compute."""
    rows = []
    for name, extra in scripts:
        out = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=work))
        cmd = [sys.executable, str(REPRO / f"{name}.py"), *extra, "--out", str(out), "--jobs", str(jobs)]
        print(f"  {name} {' '.join(extra)}", file=sys.stderr, flush=True)
        seconds, err = timed(cmd, work)
        computed = "computing" in err
        rows.append({"what": f"paper_repro {name} ({label})", "command": shown(cmd).replace(str(out), "OUT"),
                     "seconds": seconds,
                     "notes": "RECOMPUTED: no matching committed cache" if computed and label == "from cache" else ""})
    return rows


def quick_rows(work: Path, jobs: int) -> list[dict]:
    """paper_repro/all.py --quick, with each script's own time."""
    out = work / "quick"
    cmd = [sys.executable, str(REPRO / "all.py"), "--quick", "--out", str(out), "--jobs", str(jobs)]
    seconds, _ = timed(cmd, work)
    each = json.loads((out / "runtimes_quick.json").read_text())["seconds"]
    rows = [{"what": f"paper_repro {name} --quick", "command": f"python paper_repro/{name}.py --quick --out OUT",
             "seconds": s, "notes": "inside all.py --quick"} for name, s in each.items()]
    rows.append({"what": "paper_repro all.py --quick (every script)", "command": shown(cmd).replace(str(out), "OUT"),
                 "seconds": seconds, "notes": ""})
    return rows


#: the README's commands, in its order (name, arguments after ``efftheory``)
README_COMMANDS = (
    ("first example", ["train", "toy", "--p", "10", "--train-num", "45", "--seed", "3", "--loss", "ce",
                       "--decoder-lr", "2e-4", "--decoder-wd", "7", "--steps", "1e4", "--plot", "grokking.png"]),
    ("simulate", ["simulate", "--p", "59", "--frac", "0.4", "--plot", "sim.png"]),
    ("transformer", ["train", "transformer", "--p", "23", "--frac", "0.8", "--save", "tf.npz", "--plot", "tf.png"]),
    ("analyse", ["analyse", "tf.npz", "--task", "modadd", "--p", "23", "--ordered", "--train", "tf.npz",
                 "--layernorm"]),
    ("omnigrok", ["train", "omnigrok", "--task", "digits", "--train-num", "300", "--alpha", "8", "--wd", "0.1",
                  "--steps", "12000", "--eval-every", "100"]),
)


def readme_rows(work: Path) -> list[dict]:
    """Each README command warm: run once to compile what it needs, then timed."""
    rows = []
    for name, args in README_COMMANDS:
        timed(EFFTHEORY + args, work)
        seconds, _ = timed(EFFTHEORY + args, work)
        rows.append({"what": f"README: {name}", "command": shown(EFFTHEORY + args), "seconds": seconds, "notes": ""})
    return rows


def test_rows(work: Path) -> list[dict]:
    """The README's test command from the repository root: first with an empty numba cache (every
    kernel compiles), then again with the cache it filled."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    env = _env(NUMBA_CACHE_DIR=str(work / "test-cache"))
    rows = []
    for note in ("empty numba cache: every kernel compiles once", "kernels cached"):
        seconds, _ = timed(cmd, ROOT, env, timeout=3600)
        rows.append({"what": "README: the test command", "command": "python -m pytest -q", "seconds": seconds,
                     "notes": note})
    return rows


def recorded_rows() -> list[dict]:
    """What each committed figure and cache recorded about its own making (not measured now):
    the script's wall time and, for phase diagrams, the workers' summed time per run."""
    rows = []
    for path in sorted(FIGURES.glob("*.json")):
        obj = json.loads(path.read_text())
        if not isinstance(obj, dict) or obj.get("seconds") is None:
            continue
        data = obj.get("data") if isinstance(obj.get("data"), dict) else {}
        cpu = data.get("cell_seconds_total")
        if data.get("runs_seconds") is not None:  # a figure drawn from runs cached in its own JSON
            rows.append({"what": f"computing the runs of figures/{path.name}", "command": "(recorded in the file)",
                         "seconds": data["runs_seconds"], "notes": "wall time when its runs were computed"})
        runs = f"{len(obj['runs'])} networks" if isinstance(obj.get("runs"), list) else ""
        notes = "; ".join(x for x in (runs, "" if cpu is None else f"worker time of its runs {cpu:.0f} s") if x)
        rows.append({"what": f"figures/{path.name}", "command": "(recorded in the file)", "seconds": obj["seconds"],
                     "notes": notes})
    for results in sorted(FIGURES.glob("**/results.jsonl")):
        lines = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
        rows.append({"what": f"{results.parent.relative_to(ROOT)}/ (run store)", "command": "(summed over its runs)",
                     "seconds": sum(r.get("seconds") or 0.0 for r in lines),
                     "notes": f"worker time of its {len(lines)} runs (divide by the workers for a wall time)"})
    return rows


def _loads(load) -> str:
    return " ".join(f"{x:.2f}" for x in load)


def section(title: str, rows: list[dict], jobs: int, load_before, load_after) -> str:
    """One measured section: when, under what load, then the table."""
    import datetime as dt

    when = f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC"
    out = [f"## {title}", "", f"Measured {when} with `--jobs {jobs}`; load average (1, 5, 15 min) "
           f"{_loads(load_before)} before, {_loads(load_after)} after.", "",
           "| what | command | seconds | notes |", "| --- | --- | ---: | --- |"]
    out += [f"| {r['what']} | `{r['command']}` | {r['seconds']:.1f} | {r['notes']} |" for r in rows]
    return "\n".join(out) + "\n"


def kept_sections(path: Path) -> dict[str, str]:
    """``{title: text}`` of the sections of an earlier DOC_TIMES.md (kept when not measured again)."""
    if not path.is_file():
        return {}
    head, *parts = path.read_text().split("\n## ")
    # a file written before sections carried their own date: its header's date and loads
    when = " ".join(line[2:] for line in head.splitlines() if line.startswith(("- date", "- load")))
    kept = {}
    for part in parts:
        title, body = part.split("\n", 1)
        if not body.lstrip().startswith("Measured") and title != RECORDED:
            body = f"\nMeasured in an earlier run (its {when}).\n" + body
        kept[title] = f"## {title}\n{body.rstrip()}\n"
    return kept


def render(sections: dict[str, str], load_start) -> str:
    from benchmarks.run_all import machine_lines

    out = ["# Times and speeds stated in the docs", "",
           "Written by `python -m benchmarks.doc_times`; the docs quote these numbers. Wall times of a",
           "fresh process unless noted. Each section says when it was measured and under what load",
           "(a section not measured again by a later run is kept as it was). The machine, and the last run:", ""]
    out += machine_lines(load_start) + [""]
    return "\n".join(out) + "\n" + "\n".join(sections.values())


TOPICS = ("cli", "speed", "readme", "tests", "cached", "quick", "full")
TITLES = {"cli": "Command line", "speed": "Training speed", "cached": "paper_repro from the committed caches",
          "quick": "paper_repro --quick",
          "readme": "The README's commands", "tests": "The test command", "full": "paper_repro from scratch (no committed runs)"}
RECORDED = "Recorded by the scripts when the committed files were made (not measured now; load then unknown)"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="cli,speed,cached,quick", help=f"comma-separated, from {', '.join(TOPICS)}")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes of the paper_repro scripts (default 2)")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "DOC_TIMES.md")
    args = ap.parse_args(argv)
    chosen = args.only.split(",")
    if set(chosen) - set(TOPICS):
        ap.error(f"--only: unknown topic(s) {', '.join(sorted(set(chosen) - set(TOPICS)))}")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    start_load = os.getloadavg()
    old = kept_sections(args.out)
    sections = {}
    with tempfile.TemporaryDirectory(prefix="doc-times-") as tmp:
        work = Path(tmp)
        steps = {"cli": lambda: cli_rows(work), "speed": speed_rows,
                 "cached": lambda: script_rows(CACHED, work, args.jobs, "from cache"),
                 "quick": lambda: quick_rows(work, args.jobs),
                 "readme": lambda: readme_rows(work), "tests": lambda: test_rows(work),
                 "full": lambda: script_rows(FULL, work, args.jobs, "from scratch")}
        for topic in TOPICS:
            title = TITLES[topic]
            if topic in chosen:
                print(f"== {topic}", file=sys.stderr, flush=True)
                load = os.getloadavg()
                rows = steps[topic]()
                sections[title] = section(title, rows, args.jobs, load, os.getloadavg())
            elif title in old:
                sections[title] = old[title]
    sections[RECORDED] = f"## {RECORDED}\n\n" + section(RECORDED, recorded_rows(), args.jobs, (), ()).split("\n", 4)[4]
    text = render(sections, start_load)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, args.out)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
