"""``efftheory train embed-mlp``: the generic report of a run beside its task's theory and, on
addition mod p, the Fourier analysis of the embedding (docs/theory.md §17): its key frequencies,
participation number and Gini coefficient at the start and the end, and the linear theory's
predicted first frequency from the network's own start. ``--plot`` draws the Fourier figure."""

from __future__ import annotations

from efftheory.cli import _train_generic as generic
from efftheory.cli._common import save_figure
from efftheory.cli.reports import Report

TASK_HELP = "modadd: addition mod p (default); add: integer addition; parity: the parity of 3 of --p bits"
add_arguments = generic.add_arguments
config = generic.config
train_options = generic.train_options


def _fourier(split, result) -> dict:
    from efftheory.theories.circle.fourier import fourier_spectrum
    from efftheory.theories.circle.frequencies import predict_frequencies

    start, end = fourier_spectrum(result.E0), fourier_spectrum(result.E_final)
    predicted = None
    if split.p % 2 == 1:  # the Fourier planes of the prediction are those of odd p
        pred = predict_frequencies(split, result.E0)
        predicted = {f"s={h:g}": int(r[0]) for h, r in zip(pred.horizons, pred.ranked)}
    return {"key_frequencies": end.key_frequencies(), "dominant_frequency": int(end.dominant()),
            "participation": [float(start.participation), float(end.participation)],
            "gini": [float(start.gini), float(end.gini)], "predicted_first": predicted}


def _run_ring(args, split, config, result, plot_path, save_path):
    """The generic report with the Fourier fields; the Fourier figure for --plot."""
    out, text = generic._run(args, split, config, result, None, save_path)
    f = _fourier(split, result)
    out["fourier"] = f
    text += (f"\nFourier: key frequencies {', '.join(map(str, f['key_frequencies']))} (dominant "
             f"{f['dominant_frequency']}); participation {f['participation'][0]:.1f} -> {f['participation'][1]:.2f}, "
             f"Gini {f['gini'][0]:.2f} -> {f['gini'][1]:.2f}")
    if f["predicted_first"]:
        text += "; linear theory's first frequency from E0: " + ", ".join(
            f"{k} {v}" for k, v in f["predicted_first"].items())
    if plot_path is not None:
        from efftheory.plotting.embed_mlp import plot_embed_mlp_training

        save_figure(plot_embed_mlp_training(result), plot_path)
        text += f"\nplot written to {plot_path}"
    return out, text


REPORTS = {"circle": Report(run=_run_ring)}
