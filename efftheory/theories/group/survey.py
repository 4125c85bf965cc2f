"""Outcome probabilities of the matrix theory over training fractions: a table of
:func:`efftheory.theories.group.outcomes.outcome_curve`.

    python -m efftheory.theories.group.survey --fracs 0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1.0 --trials 500 --seed 0
    python -m efftheory.theories.group.survey --fracs 0.5,1.0 --trials 200 --k 4 --json --plot curve.png

Each row: the fraction of trials (random training set of round(frac · 36) samples of S3 +
Haar-random rotations, Riemannian descent until it comes to rest) ending faithful, unfaithful,
stalled or fits-without-representation, with Wilson 95% intervals, how many came to rest within
the step budget, the median number of quads and the wall time.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time

import numpy as np

from efftheory.errors import InputError
from efftheory.theories.group.flow import DEFAULT_MAX_STEPS
from efftheory.theories.group.score import OUTCOMES
from efftheory.theories.group.outcomes import outcome_curve
from efftheory.tasks import make_task

#: what ``--help`` says (the module docstring without its code markup)
DESCRIPTION = """\
Outcomes of the matrix theory of the group S3 over training fractions: for each fraction, the
share of trials (a random training set of round(frac x 36) samples and Haar-random rotations,
Riemannian descent until it comes to rest) ending faithful, unfaithful, stalled or
fits-without-representation, with Wilson 95% intervals; how many came to rest within the step
budget, the median number of quads and the wall time.

examples:
  python -m efftheory.theories.group.survey --fracs 0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1.0 --trials 500 --seed 0
  python -m efftheory.theories.group.survey --fracs 0.5,1.0 --trials 200 --k 4 --json --plot curve.png"""


def rows(curve, seconds: float) -> list[dict]:
    """One JSON-ready summary per fraction of a :class:`GroupOutcomeCurve`."""
    out = []
    for i, frac in enumerate(curve.fracs):
        stalled = curve.outcome[i] == "stalled"
        out.append({
            "task": curve.task, "k": curve.k, "frac": float(frac), "n_train": int(curve.n_train[i]),
            "trials": curve.trials, "seed": curve.seed,
            "fraction": {o: float(curve.fraction[i, j]) for j, o in enumerate(OUTCOMES)},
            "ci_low": {o: float(curve.ci_low[i, j]) for j, o in enumerate(OUTCOMES)},
            "ci_high": {o: float(curve.ci_high[i, j]) for j, o in enumerate(OUTCOMES)},
            "at_rest": int(curve.converged[i].sum()), "median_quads": float(np.median(curve.n_quads[i])),
            "stalled_losses": sorted({round(float(x), 4) for x in curve.train_loss[i][stalled]}),
            "max_steps": curve.max_steps, "seconds": round(seconds, 2),
        })
    return out


#: fields of a GroupOutcomeCurve indexed by fraction (first axis)
_PER_FRACTION = ("fracs", "n_train", "counts", "fraction", "ci_low", "ci_high", "outcome", "train_loss",
                 "full_loss", "min_distance", "n_quads", "steps", "converged")


def merge(curves: list):
    """One curve from curves computed one fraction at a time (same task, k, trials, seed)."""
    return dataclasses.replace(curves[0], **{f: np.concatenate([getattr(c, f) for c in curves]) for f in _PER_FRACTION})


def _print(r: dict) -> None:
    cells = "  ".join(f"{o} {r['fraction'][o]:.3f} [{r['ci_low'][o]:.3f}, {r['ci_high'][o]:.3f}]" for o in OUTCOMES)
    print(f"k={r['k']} frac={r['frac']:g} n={r['n_train']} trials={r['trials']}: {cells}; "
          f"at rest {r['at_rest']}/{r['trials']}, median quads {r['median_quads']:g}", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m efftheory.theories.group.survey", description=DESCRIPTION,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fracs", required=True, help="comma-separated training fractions")
    ap.add_argument("--trials", type=int, default=200, help="random starts per fraction (default 200)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the training sets and starts (default 0)")
    ap.add_argument("--k", type=int, default=3, help="rotation size: SO(k) (default 3)")
    ap.add_argument("--max-steps", type=int, default=DEFAULT_MAX_STEPS,
                    help=f"descent steps per trial before it counts as not at rest (default {DEFAULT_MAX_STEPS})")
    ap.add_argument("--json", action="store_true", help="one JSON object per fraction on stdout")
    ap.add_argument("--plot", metavar="PNG", help="draw the outcome fractions against the training fraction")
    args = ap.parse_args(argv)
    try:
        from efftheory.runtime.files import check_writable_file

        plot = check_writable_file(args.plot, "--plot") if args.plot else None
        fracs = [float(x) for x in args.fracs.split(",")]
        task = make_task("s3")
        curves = []
        for frac in fracs:  # one row at a time, so a long survey prints as it goes
            start = time.perf_counter()
            curves.append(outcome_curve(task, [frac], args.trials, args.seed, k=args.k, max_steps=args.max_steps))
            for r in rows(curves[-1], time.perf_counter() - start):
                print(json.dumps(r), flush=True) if args.json else _print(r)
        if plot is not None:
            from efftheory.runtime.files import save_figure
            from efftheory.plotting.group import plot_outcome_curve

            save_figure(plot_outcome_curve(merge(curves)), plot)
    except (InputError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
