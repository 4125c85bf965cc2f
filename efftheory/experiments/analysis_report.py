"""The readable report of an :class:`efftheory.experiments.analysis.Analysis` (its JSON form),
shared by ``efftheory analyse`` and :meth:`efftheory.torch.Probe.summary_text`."""

from __future__ import annotations

import numpy as np

#: rows of the table over steps
TABLE_ROWS = 12


def _fmt(x, spec=".4g") -> str:
    return "n/a" if x is None or (isinstance(x, float) and not np.isfinite(x)) else format(x, spec)


def theory_lines(o: dict) -> list[str]:
    """The split's theory: parallelograms, dof, rate, ideal accuracy, critical fraction, time scale."""
    th = o["theory"]
    lines = [f"{th['theory'].capitalize()} theory of the split",
             f"  constraints in D       {th['n_constraints']} (pairs of training samples with equal labels)"]
    if th["dof"] is not None:
        lines.append(f"  free directions        dof = {th['dof']} ({'unique structure' if th['unique'] else 'not unique'})")
    if th["rate_name"] is not None:
        lines.append(f"  rate                   {th['rate_name']} = {_fmt(th['rate'])}")
    lines.append(f"  ideal test accuracy    {_fmt(th['ideal_test_accuracy'], '.4f')}")
    if th["critical_trials"]:
        side = (f"this split (frac {o['frac']:.3f}) lies {th['critical_side']} it" if th["critical_side"]
                else "not reached")
        lines.append(f"  critical fraction      r_c = {_fmt(th['critical_fraction'], '.4f')} "
                     f"({th['critical_trials']} random orders): {side}")
    if th["rate_name"] is not None:
        ts = o["time_scale"]
        lines.append(f"  time scale             {_fmt(ts, '.0f')} steps at η = {o['lr']:g}" if ts is not None
                     else f"  time scale             none (no rate: dof = {th['dof']})")
    return lines


def table_lines(o: dict) -> list[str]:
    """About :data:`TABLE_ROWS` records, evenly spaced: step, metric, predicted test accuracy
    and the theory's columns."""
    s = o["structure"]
    steps = np.asarray(o["steps"])
    T = steps.size
    picks = np.unique(np.linspace(0, T - 1, min(T, TABLE_ROWS)).round().astype(int))
    cols = [(s["metric_name"], np.asarray(s["metric"], dtype=float)),
            ("pred test acc", np.asarray(s["predicted_test_acc"], dtype=float)),
            *((k.replace("_", " "), np.asarray(v)) for k, v in s["columns"].items())]
    widths = [max(len(h), 9) for h, _ in cols]
    rows = ["  " + f"{'step':>8} " + " ".join(f"{h:>{w}}" for (h, _), w in zip(cols, widths))]
    for i in picks:
        cells = [f"{int(v[i]):>{w}d}" if v.dtype.kind in "iu" else f"{_fmt(float(v[i]), '.3f'):>{w}}"
                 for (_, v), w in zip(cols, widths)]
        rows.append("  " + f"{steps[i]:>8} " + " ".join(cells))
    return rows


def structure_lines(o: dict) -> list[str]:
    """The structure over the records, the step at which it formed, and the last record."""
    s = o["structure"]
    metric = np.asarray(s["metric"], dtype=float)
    steps = np.asarray(o["steps"])
    lines = [f"Structure of the representation, records: {o['records']} ({s['metric_name']} >= {s['threshold']:g}: "
             "formed)",
             *(table_lines(o) if o["records"] > 1 else [])]
    if o["formed_at"] is not None:
        lines.append(f"formed: first at step {o['formed_at']}")
    elif np.isfinite(metric).any():
        best = int(np.nanargmax(metric))
        lines.append(f"formed: in no record (best {s['metric_name']} {metric[best]:.3f} at step {steps[best]})")
    else:
        lines.append("formed: in no record (no record could be read)")
    fin = s["final"]
    last = [f"{s['metric_name']} {_fmt(float(metric[-1]), '.3f')}",
            f"predicted test accuracy {_fmt(float(s['predicted_test_acc'][-1]), '.3f')}"]
    if "key_frequencies" in fin:
        last.append(f"ring |f| = {abs(fin['ring_frequency'])} (coherence {_fmt(fin['coherence'], '.3f')}, "
                    f"{_fmt(fin['variance_explained'], '.0%')} of the variance in the plane)")
        last.append("key frequencies " + ", ".join(f"{k} ({w:.0%})" for k, w in fin["key_frequencies"]))
    for key in ("homomorphism_error", "min_distance"):
        if key in fin:
            last.append(f"{key.replace('_', ' ')} {_fmt(fin[key], '.3g')}")
    lines.append(f"last record (step {steps[-1]}): " + "; ".join(last))
    return lines


def report_lines(o: dict, train_from: str) -> list[str]:
    """The task line, the theory of the split and the structure over steps, of an analysis's
    JSON form ``o`` (:meth:`Analysis.to_json`); ``train_from`` says where the training set came from."""
    return [
        f"Task: {o['task_description']}: {o['n_train']} of {o['n_samples']} samples in training "
        f"(frac {o['frac']:.3f}; {train_from})",
        "",
        *theory_lines(o),
        "",
        *structure_lines(o),
    ]
