"""The S3 matrix toy network against the matrix effective theory (not a paper figure).

Question: when the training set determines the representation (the matrix theory linearised at
the faithful representation sign(a) P_a has no free direction, docs/theory.md "Groups and
matrix representations"), do the matrices a network learns satisfy the equal-product
parallelograms, i.e. is the network's representation the group's?

Networks: the paper's permutation toy (3x3 matrix embeddings multiplied into the MLP decoder,
L1 penalty 1e-3, embeddings initialised in [-0.05, 0.05), 24 of the 36 ordered samples for
training) at a comprehension cell of Fig 5d (decoder lr 1e-3, decoder weight decay 1), 1e4
steps, seeds 0-19 (seed = split and network). Per run: test accuracy, phase, the paper's matrix
RQI, and the learnt matrices scored against S3 (efftheory.theories.group.score.score_matrices, after
scaling to the mean squared norm of rotations): the full-table loss on the equal-product pairs
and the same loss on pairs with different products (the contrast: a representation makes the
first 0 and keeps the second large), and the homomorphism error of the nearest rotations.
Writes <out>/s3_networks.png and <out>/s3_networks.json (runs cached in the JSON's data).

    python paper_repro/s3_networks.py [--quick] --out DIR [--jobs J]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

try:
    import paper_repro.common  # noqa: F401
except ImportError:
    sys.path.append(str(Path(__file__).resolve().parents[1]))
from paper_repro.common import computing, load_cache, parser, pmap, prepare, pyplot, save

NAME = "s3_networks"
FULL = {"seeds": 20, "steps": 10_000, "decoder_lr": 1e-3, "decoder_wd": 1.0, "n_train": 24}
QUICK = {"seeds": 2, "steps": 300, "decoder_lr": 1e-3, "decoder_wd": 1.0, "n_train": 24}


def unequal_quads(task):
    """(M, 4) symbol quadruples of every pair of distinct samples with DIFFERENT products."""
    import itertools

    import numpy as np

    pairs, labels = task.pairs, task.labels
    rows = [(*pairs[i], *pairs[j]) for i, j in itertools.combinations(range(task.n_samples), 2)
            if labels[i] != labels[j]]
    return np.array(rows, dtype=np.int64)


def one_run(seed: int, spec: dict) -> dict:
    """Train one matrix toy network and score its matrices against S3 and against the theory."""
    import dataclasses

    import numpy as np

    import efftheory as et
    from efftheory.theories.group.loss import group_loss, sign_permutation_matrices
    from efftheory.theories.group.score import score_matrices
    from efftheory.theories.group.theory import representation_theory
    from efftheory.experiments.sweep.presets import MATRIX_TOY

    task = et.make_task("s3")
    split = task.split(n_train=spec["n_train"], seed=seed)
    config = dataclasses.replace(et.NetworkConfig(**MATRIX_TOY, seed=seed), decoder_lr=spec["decoder_lr"],
                                 decoder_wd=spec["decoder_wd"])
    run = et.train_network(split, config, spec["steps"], eval_every=max(1, spec["steps"] // 50))
    M = run.E_final.reshape(task.p, 3, 3)
    score = score_matrices(task, M, split.train, normalise=True)
    Mn = M * score.scale
    projected = score_matrices(task, M, split.train, normalise=True, project=True)
    theory = representation_theory(task, sign_permutation_matrices(3), split.train)
    return {
        "seed": seed, "phase": run.phase, "steps_to_test": run.steps_to_test,
        "final_test_acc": float(run.test_acc[-1]), "final_train_acc": float(run.train_acc[-1]),
        "matrix_rqi": float(run.rqi[-1]),
        "equal_product_loss": float(score.full_loss),
        "unequal_product_loss": float(group_loss(Mn, unequal_quads(task))),
        "train_loss": float(score.train_loss),
        "homomorphism_error_nearest_rotations": float(projected.homomorphism_error),
        "outcome_nearest_rotations": str(projected.outcome),
        "theory_locally_unique": bool(theory.locally_unique), "theory_free_directions": int(theory.free_directions),
    }


def plot(d: dict):
    import numpy as np

    plt = pyplot()
    fig, ax = plt.subplots(1, 2, figsize=(15, 6), constrained_layout=True)
    runs = d["runs"]
    eq = np.array([r["equal_product_loss"] for r in runs])
    ne = np.array([r["unequal_product_loss"] for r in runs])
    gen = np.array([r["steps_to_test"] is not None for r in runs])
    uniq = np.array([r["theory_locally_unique"] for r in runs])
    # one colour per outcome in both panels: blue generalised, red did not
    for mask, marker, colour, label in ((gen & uniq, "o", "C0", "generalised, split determines the representation"),
                                        (gen & ~uniq, "s", "C1", "generalised, split leaves free directions"),
                                        (~gen, "x", "C3", "did not generalise")):
        ax[0].scatter(ne[mask], eq[mask], marker=marker, color=colour, label=f"{label} ({mask.sum()})")
    lim = max(eq.max(), ne.max()) * 1.1
    ax[0].plot([0, lim], [0, lim], color="grey", lw=0.8, label="equal losses")
    ax[0].set(xlabel="loss on pairs with different products (normalised matrices)",
              ylabel="loss on equal-product pairs (0 for a representation)",
              title="the networks' matrices against S3")
    ax[0].legend(fontsize=9)
    seeds = np.arange(len(runs))
    rqi = np.array([r["matrix_rqi"] for r in runs])
    colours = ["C0" if g else "C3" for g in gen]
    ax[1].bar(seeds, rqi, color=colours)
    # a marker at every value, so that a run whose RQI is 0 still shows
    ax[1].scatter(seeds, rqi, marker="_", s=120, color=colours, clip_on=False, zorder=3)
    ax[1].axhline(0.95, color="k", ls="--", lw=1, label="RQI 0.95")
    ax[1].set_xticks(seeds)
    ax[1].set(xlabel="seed (split and network)", ylabel="the paper's matrix RQI at the end",
              title=f"matrix RQI after {d['settings']['steps']} steps (blue: generalised, red: did not)",
              ylim=(-0.03, 1.02))
    ax[1].legend(fontsize=9)
    return fig


def main(argv=None) -> int:
    import numpy as np

    ap = parser(__doc__.splitlines()[0])
    args = ap.parse_args(argv)
    out = prepare(args)
    spec = QUICK if args.quick else FULL
    start = time.perf_counter()
    name = NAME + ("_quick" if args.quick else "")
    cached = load_cache(out, f"{name}.json", spec)  # the runs are kept in the figure's own JSON
    if cached is not None:
        runs = cached["data"]["runs"]
        runs_seconds = cached["data"].get("runs_seconds", cached["seconds"])  # what computing them took
    else:
        computing(f"{spec['seeds']} S3 networks", out, args.jobs)
        runs = pmap(one_run, [(s, spec) for s in range(spec["seeds"])], args.jobs, "S3 networks")
        runs_seconds = round(time.perf_counter() - start, 2)
    gen = [r for r in runs if r["steps_to_test"] is not None]
    summary = {
        "runs": len(runs), "generalised": len(gen),
        "locally_unique_splits": sum(r["theory_locally_unique"] for r in runs),
        "median_equal_product_loss_generalised": float(np.median([r["equal_product_loss"] for r in gen])) if gen else None,
        "median_unequal_product_loss_generalised": float(np.median([r["unequal_product_loss"] for r in gen])) if gen else None,
        "median_matrix_rqi_generalised": float(np.median([r["matrix_rqi"] for r in gen])) if gen else None,
        "outcomes_nearest_rotations": {o: sum(r["outcome_nearest_rotations"] == o for r in runs)
                                       for o in sorted({r["outcome_nearest_rotations"] for r in runs})},
    }
    d = {"settings": spec, "summary": summary, "runs": runs, "runs_seconds": runs_seconds}
    save(out, name, plot(d), d, spec, time.perf_counter() - start)
    print(summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
