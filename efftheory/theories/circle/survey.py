"""Ring probabilities over training fractions: a table of :func:`efftheory.theories.circle.probability.ring_probability`.

    python -m efftheory.theories.circle.survey --p 23 --fracs 0.1,0.2,0.3,0.4,0.6 --trials 1000 --seed 0
    python -m efftheory.theories.circle.survey --p 59 --fracs 0.05,0.1,0.2,0.4 --trials 500 --seed 0 --json

Each row: the fraction of trials (random training set + uniform random phases, gradient descent
at lr = 1/λ_max(Ĥ_mod) until max |∇ℓ| < gtol) ending in each outcome, with Wilson 95% intervals,
how many trials came to rest within the step budget, the median number of free directions of
the training sets and the wall time.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from efftheory.theories.circle.flow import DEFAULT_GTOL
from efftheory.theories.circle.ring import OUTCOMES
from efftheory.theories.circle.probability import RingProbability, ring_probability
from efftheory.errors import InputError

#: what ``--help`` says (the module docstring without its code markup)
DESCRIPTION = """\
Ring probabilities of the circle theory of addition mod p over training fractions: for each
fraction, the share of trials (a random training set and uniform random phases, gradient descent
at lr = 1/λ_max of the circle Hessian until max |∇ℓ| < gtol) ending in each outcome, with Wilson 95%
intervals; how many trials came to rest within the step budget, the median number of free
directions of the training sets and the wall time.

examples:
  python -m efftheory.theories.circle.survey --p 23 --fracs 0.1,0.2,0.3,0.4,0.6 --trials 1000 --seed 0
  python -m efftheory.theories.circle.survey --p 59 --fracs 0.05,0.1,0.2,0.4 --trials 500 --seed 0 --json"""


def row(res: RingProbability, seconds: float) -> dict:
    """One JSON-ready summary of a :class:`RingProbability`."""
    return {
        "p": res.p, "frac": res.frac, "n_train": res.n_train, "trials": res.trials, "seed": res.seed,
        "fraction": res.fraction, "ci_low": res.ci_low, "ci_high": res.ci_high,
        "converged": int(res.converged.sum()), "median_steps": float(np.median(res.steps)),
        "median_free_directions": float(np.median(res.free_directions)),
        "median_stalled_loss": float(np.median(res.loss[res.outcomes == "stalled"])) if (res.outcomes == "stalled").any() else None,
        "max_steps": res.max_steps, "gtol": res.gtol, "loss_tol": res.loss_tol,
        "coherence_min": res.coherence_min, "seconds": round(seconds, 2),
    }


def _print(r: dict) -> None:
    cells = "  ".join(f"{o} {r['fraction'][o]:.3f} [{r['ci_low'][o]:.3f}, {r['ci_high'][o]:.3f}]" for o in OUTCOMES)
    print(f"p={r['p']} frac={r['frac']:g} n={r['n_train']} trials={r['trials']}: {cells}; "
          f"at rest {r['converged']}/{r['trials']}, median steps {r['median_steps']:.0f}, "
          f"median free dirs {r['median_free_directions']:g}, {r['seconds']:.1f} s", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m efftheory.theories.circle.survey", description=DESCRIPTION,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--p", type=int, required=True, help="the modulus: addition mod p")
    ap.add_argument("--fracs", required=True, help="comma-separated training fractions")
    ap.add_argument("--trials", type=int, default=200, help="random starts per fraction (default 200)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the training sets and phases (default 0)")
    ap.add_argument("--max-steps", type=int, default=100_000,
                    help="descent steps per trial before it counts as not at rest (default 100000)")
    ap.add_argument("--gtol", type=float, default=DEFAULT_GTOL,
                    help=f"at rest when max |∇ℓ| < GTOL (default {DEFAULT_GTOL:g})")
    ap.add_argument("--json", action="store_true", help="one JSON object per fraction on stdout")
    args = ap.parse_args(argv)
    try:
        fracs = [float(x) for x in args.fracs.split(",")]
        for frac in fracs:
            start = time.perf_counter()
            res = ring_probability(args.p, frac, args.trials, args.seed, max_steps=args.max_steps, gtol=args.gtol)
            r = row(res, time.perf_counter() - start)
            print(json.dumps(r), flush=True) if args.json else _print(r)
    except (InputError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
