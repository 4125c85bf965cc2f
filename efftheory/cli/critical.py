"""Probability P_unique(n) that a random training set of n samples fixes the linear structure
(dof = 0), with Wilson 95% intervals, and the critical size n_c where it crosses 1/2. With
--task modadd: the probability that the data fix the ring locally (rank p - 1). With --task s3
(no --p): the additive theory of the group, where rank p - 1 means that the training set leaves
only constant additive embeddings (a non-abelian group has no additive structure; its matrix
theory is `efftheory simulate --task s3`)."""

from __future__ import annotations

import numpy as np

from efftheory.cli._common import (
    P_HELP,
    add_task_arguments,
    check_output_path,
    check_p,
    integer,
    nonnegative_int,
    positive_int,
    save_figure,
    task_of,
)


def add_arguments(parser) -> None:
    parser.add_argument("--p", type=integer, default=None, help=P_HELP + "; required except for --task s3")
    parser.add_argument("--trials", type=positive_int, default=10_000, help="random orders (default 10000)")
    parser.add_argument("--seed", type=nonnegative_int, default=0, help="random seed (default 0)")
    parser.add_argument("--plot", metavar="PNG", help="draw P_unique against the training fraction")
    add_task_arguments(parser)


def _transition(curve) -> tuple[int, int]:
    """First and last index of the transition region: where 0 < P_unique < 1, and one row
    either side (every row when P_unique never moves)."""
    moving = np.flatnonzero((curve.p_unique > 0.0) & (curve.p_unique < 1.0))
    if moving.size == 0:
        return 0, curve.n.size - 1
    return max(moving[0] - 1, 0), min(moving[-1] + 1, curve.n.size - 1)


def _transition_size(curve) -> int:
    lo, hi = _transition(curve)
    return hi - lo + 1


def _table_rows(curve, max_rows: int = 24) -> np.ndarray:
    """Indices of the rows to print: the transition region, thinned to about max_rows."""
    lo, hi = _transition(curve)
    idx = np.unique(np.linspace(lo, hi, min(max_rows, hi - lo + 1)).round().astype(int))
    return idx


def run(args, ui):
    from efftheory.theories import theory_for

    check_p(args.p)
    task = task_of(args)  # p >= 2
    theory = theory_for(task)
    plot_path = check_output_path(args.plot, "--plot")
    with ui.progress(args.trials, "trials") as update:
        curve = theory.critical(task, args.trials, args.seed, progress=update)
    if plot_path is not None:
        from efftheory.plotting.critical import plot_critical

        save_figure(plot_critical(curve), plot_path)

    result = {
        "task": curve.task,
        "p": curve.p,
        "n_samples": curve.n_samples,
        "trials": curve.trials,
        "seed": curve.seed,
        "n": curve.n,
        "p_unique": curve.p_unique,
        "ci_low": curve.ci_low,
        "ci_high": curve.ci_high,
        "n_c": curve.n_c,
        "r_c": curve.r_c,
        "seconds": curve.seconds,
    }
    if theory.name in MEANINGS:
        result["meaning"] = MEANINGS[theory.name]
    return result, _text(curve, plot_path, result.get("meaning"))


#: What P_unique measures on a group (its additive theory), printed under the table.
GROUP_MEANING = ("for a group, 'unique' (rank p - 1) means the training set leaves only constant additive "
                 "embeddings (the additive theory cannot represent the group); equivalently, it fixes the "
                 "constant representation of the matrix theory locally. The matrix theory itself: "
                 "`efftheory simulate --task s3`")
#: theory -> what P_unique means for it, when that needs saying
MEANINGS = {"group": GROUP_MEANING}


def _text(curve, plot_path, meaning: str | None = None) -> str:
    """The readable summary: the rows of :func:`_table_rows` (the JSON has every n), n_c, r_c."""
    rows = _table_rows(curve)
    lines = [
        f"{curve.task[0].upper()}{curve.task[1:]}: N = {curve.n_samples} samples, {curve.trials} random orders (seed {curve.seed})",
        f"P_unique(n) at {len(rows)} selected n of 1..{curve.n_samples}: the transition region (0 < P_unique < 1)"
        f"{', thinned' if len(rows) < _transition_size(curve) else ''} (--json gives every n)",
        "",
        f"{'n':>6} {'fraction':>9} {'P_unique':>9}   95% interval",
    ]
    for k in rows:
        lines.append(
            f"{curve.n[k]:>6d} {curve.fractions[k]:>9.3f} {curve.p_unique[k]:>9.4f}   "
            f"[{curve.ci_low[k]:.4f}, {curve.ci_high[k]:.4f}]"
        )
    lines.append("")
    if curve.n_c is None:
        lines.append("P_unique never reaches 1/2")
    else:
        lines.append(f"critical size n_c = {curve.n_c:.2f} samples, r_c = n_c / N = {curve.r_c:.4f}")
    if meaning:
        lines.append(f"note: {meaning}")
    lines.append(f"({curve.seconds:.2f} s)" + (f"; plot written to {plot_path}" if plot_path else ""))
    return "\n".join(lines)
