"""Do two sets of Fig 5 panels agree cell by cell? The check behind a change of the training loop
that must not change any phase (docs/theory.md §10).

Compares ``fig5{a,b,c}_phase.json`` (or the names given) of two directories: per cell the phase
and the first steps t_train, t_test and t_rqi, exactly. Prints one line per panel; exit status 1
if any value differs or a panel is missing, 0 otherwise.

    python paper_repro/fig5.py --panel all --out /tmp/now     # the panels with the code as it is
    python paper_repro/same_phases.py figures /tmp/now         # against the committed ones
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

KEYS = ("phases", "t_train", "t_test", "t_rqi")
NAMES = tuple(f"fig5{letter}_phase" for letter in "abc")


def _value(v):
    """NaN (a step never reached, as the figure data writes it) and None are the same."""
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else v


def differences(old: dict, new: dict) -> list[str]:
    """Every (key, row, column) at which two panels' figure data differ."""
    out = []
    for key in KEYS:
        a, b = old[key], new[key]
        if len(a) != len(b) or any(len(ra) != len(rb) for ra, rb in zip(a, b)):
            return [f"{key}: grids of different shapes"]
        out += [f"{key}[{iy}][{ix}]: {va!r} -> {vb!r}" for iy, (ra, rb) in enumerate(zip(a, b))
                for ix, (va, vb) in enumerate(zip(ra, rb)) if _value(va) != _value(vb)]
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old", type=Path, help="directory of the reference panels")
    ap.add_argument("new", type=Path, help="directory of the panels to check")
    ap.add_argument("--names", default=",".join(NAMES), help=f"figure names (default {','.join(NAMES)})")
    args = ap.parse_args(argv)
    status = 0
    for name in args.names.split(","):
        paths = [d / f"{name}.json" for d in (args.old, args.new)]
        if not all(p.exists() for p in paths):
            print(f"{name}: missing in {' and '.join(str(p.parent) for p in paths if not p.exists())}")
            status = 1
            continue
        old, new = (json.loads(p.read_text())["data"] for p in paths)
        diff = differences(old, new)
        cells = sum(len(row) for row in old["phases"])
        print(f"{name}: {cells} cells, {len(diff)} differing values of {', '.join(KEYS)}")
        for line in diff[:20]:
            print(f"  {line}")
        status = status or int(bool(diff))
    return status


if __name__ == "__main__":
    sys.exit(main())
