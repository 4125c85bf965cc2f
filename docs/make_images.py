"""Regenerate the pictures and the expected outputs that README.md and docs/guide.md show.

    python docs/make_images.py            # every example (a few minutes on two cores)
    python docs/make_images.py first      # only the README's first example

Each example is run exactly as the docs print it (the `efftheory` on PATH, from the repository
root), its text output is written to ``docs/img/<name>.txt`` and its figure to
``docs/img/<name>.png``, so what a reader sees in the docs is what the command gives. The wall
time of each run is printed with the machine's load, for the record; the times the docs state
come from ``benchmarks/bench_docs_times.py``.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IMG = Path("docs/img")

#: name -> the command as the docs print it (without --plot, which is added here).
EXAMPLES = {
    "first": "efftheory train toy --p 10 --train-num 45 --seed 3 --loss ce --decoder-lr 2e-4 --decoder-wd 7 --steps 1e4",
    "simulate": "efftheory simulate --p 59 --frac 0.4",
    "critical": "efftheory critical --p 10",
    "transformer": "efftheory train transformer --p 23 --frac 0.8",
    "modadd_toy": "efftheory train --task modadd --p 17 --frac 0.6",
    "s3": "efftheory simulate --task s3 --frac 0.5 --trials 20",
}


def run(name: str) -> None:
    command = EXAMPLES[name] + f" --plot {IMG / name}.png"
    start = time.perf_counter()
    done = subprocess.run(shlex.split(command), cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{name}: {command!r} exited {done.returncode}: {done.stderr.strip()}")
    text = "\n".join(line for line in done.stdout.splitlines() if not line.startswith("plot written"))
    (ROOT / IMG / f"{name}.txt").write_text(f"$ {EXAMPLES[name]}\n{text}\n")
    print(f"{name}: {seconds:.1f} s (load {os.getloadavg()[0]:.2f})", file=sys.stderr)


def main(names: list[str]) -> None:
    unknown = [name for name in names if name not in EXAMPLES]
    if unknown:
        sys.exit(f"unknown example {unknown[0]!r}; choose from {', '.join(EXAMPLES)}")
    (ROOT / IMG).mkdir(parents=True, exist_ok=True)
    for name in names or EXAMPLES:
        run(name)


if __name__ == "__main__":
    main(sys.argv[1:])
