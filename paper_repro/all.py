"""Every toy-model figure of the paper, one after the other: Figs 3, 4a, 4b, 4c/d, 5a-c, 5d (the S3
permutation toy, 3 network seeds), the validation of the theory against networks in both
compare presets (validation_p10), networks on modular addition against the circle theory
(ring_networks), structure formation at p = 59 against the critical size (critical_p59; its
sweep is long and resumable, so a complete store is only redrawn), and the transformer on
modular addition (transformer_fig1: the paper's Fig 1 layout; transformer_wd: decoder weight
decay against the time to generalise; transformer_fig6: its phase diagram over decoder lr and
weight decay), and the S3 matrix toy's learnt matrices against the
group (s3_networks).

    python paper_repro/all.py [--quick] --out DIR [--jobs J] [--budget STEPS] [--skip fig5,...]

Figs 3, 4a and 4b share one grid of networks (cached in grid_p10.json). Caches and run stores are
read from <out>, else from the committed figures/ when their settings match (paper_repro/common.py);
figures/ itself is written only by ``--out figures``.
Each figure writes <out>/<name>.png and <out>/<name>.json; the wall time of each script is
printed at the end and written to <out>/runtimes[_quick].json.
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

try:
    import paper_repro.common  # noqa: F401
except ImportError:
    sys.path.append(str(Path(__file__).resolve().parents[1]))
from paper_repro.common import parser, prepare, write_json

SCRIPTS = ("fig3", "fig4a", "fig4b", "fig4cd", "fig5", "fig5d", "validation", "ring_networks", "critical_p59",
           "s3_networks", "transformer_fig1", "transformer_wd", "transformer_fig6")


def main(argv=None) -> int:
    ap = parser(__doc__.splitlines()[0])
    ap.add_argument("--budget", default=None, help="Figs 5a-c step budget (default 1e4; the paper's 1e5; Fig 5d "
                                                 "keeps the paper's 1e4)")
    ap.add_argument("--skip", default="", help=f"comma-separated scripts to skip, from {', '.join(SCRIPTS)}")
    args = ap.parse_args(argv)
    out = prepare(args)
    skip = {s for s in args.skip.split(",") if s}
    if skip - set(SCRIPTS):
        ap.error(f"--skip: unknown script(s) {', '.join(sorted(skip - set(SCRIPTS)))}")
    common = (["--quick"] if args.quick else []) + ["--out", str(out), "--jobs", str(args.jobs)]
    times = {}
    for name in SCRIPTS:
        if name in skip:
            continue
        extra = ["--panel", "all"] + (["--budget", args.budget] if args.budget else []) if name == "fig5" else []
        print(f"== {name}", flush=True)
        start = time.perf_counter()
        status = importlib.import_module(f"paper_repro.{name}").main(common + extra)
        times[name] = round(time.perf_counter() - start, 1)
        if status:
            print(f"{name} failed with status {status}", file=sys.stderr)
            return status
    write_json(out / ("runtimes_quick.json" if args.quick else "runtimes.json"), {"seconds": times})
    print("wall time per script (s): " + ", ".join(f"{k} {v}" for k, v in times.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
