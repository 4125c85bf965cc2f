"""The embedding MLP ReLU(E_a + E_b) W_out on addition mod 67: it memorises, its weights turn
periodic, and it generalises (docs/theory.md, "The embedding MLP"). Not a figure of the paper:
the network of the "memorise or generalise" study of modular addition (24 neurons, AdamW with
weight decay 1), read with efftheory's Fourier analysis.

Settings: p = 67, unordered pairs, training fraction 0.5 of the table (split seed 0), network
seed 0, d = 128 (``--dim 24``: the study's 24 neurons, written as mlp_modadd_d24), CE head, lr 3e-3,
weight decay 0.3, 30 000 full-batch steps, evaluated every 100.

Writes <out>/mlp_modadd.png (accuracy, participation number, three neurons' weights against
the input before and after, the spectrum over steps) and <out>/mlp_modadd.json (steps to train and
test accuracy 0.9, final key frequencies, participation number and Gini, the curves).

    python paper_repro/mlp_modadd.py [--quick] [--out DIR] [--dim D]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

try:
    import paper_repro.common  # noqa: F401
except ImportError:
    sys.path.append(str(Path(__file__).resolve().parents[1]))
from paper_repro.common import parser, prepare, save

NAME = "mlp_modadd"
FULL = {"p": 67, "frac": 0.5, "seed": 0, "lr": 3e-3, "wd": 0.3, "dim": 128, "loss": "ce", "steps": 30_000,
        "eval_every": 100}
QUICK = {**FULL, "p": 23, "steps": 300, "eval_every": 10}


def run(spec: dict):
    import efftheory as et
    from efftheory.models.embed_mlp import EmbedMLPConfig, train_embed_mlp

    split = et.ModularAddition(spec["p"]).split(frac=spec["frac"], seed=spec["seed"])
    config = EmbedMLPConfig(dim=spec["dim"], loss=spec["loss"], lr=spec["lr"], wd=spec["wd"], seed=spec["seed"])
    return train_embed_mlp(split, config, spec["steps"], eval_every=spec["eval_every"])


def figure_data(result) -> dict:
    from efftheory.theories.circle.fourier import fourier_spectrum

    spec = fourier_spectrum(result.raw_embeddings)
    final = fourier_spectrum(result.E_final)
    return {
        "steps_to_train": result.steps_to_train, "steps_to_test": result.steps_to_test, "phase": result.phase,
        "final_train_acc": float(result.train_acc[-1]), "final_test_acc": float(result.test_acc[-1]),
        "key_frequencies": final.key_frequencies(), "final_share": final.share.tolist(),
        "final_participation": float(final.participation), "final_gini": float(final.gini),
        "initial_participation": float(spec.participation[0]), "initial_gini": float(spec.gini[0]),
        "steps": result.steps.tolist(), "train_acc": result.train_acc.tolist(), "test_acc": result.test_acc.tolist(),
        "participation": spec.participation.tolist(), "gini": spec.gini.tolist(),
        "run_seconds": round(result.seconds, 2),
    }


def main(argv=None) -> int:
    from efftheory.plotting.embed_mlp import plot_embed_mlp_training

    ap = parser(__doc__.splitlines()[0])
    ap.add_argument("--dim", type=int, default=None, help=f"embedding width (default {FULL['dim']})")
    args = ap.parse_args(argv)
    out = prepare(args)
    spec = QUICK if args.quick else FULL
    name = NAME + ("_quick" if args.quick else "")
    if args.dim is not None and args.dim != spec["dim"]:
        spec, name = {**spec, "dim": args.dim}, f"{name}_d{args.dim}"
    start = time.perf_counter()
    result = run(spec)
    d = figure_data(result)
    save(out, name, plot_embed_mlp_training(result), d, spec, time.perf_counter() - start)
    print(f"p = {spec['p']}: train acc 0.9 at step {d['steps_to_train']}, test acc 0.9 at step {d['steps_to_test']} "
          f"({d['phase']}); final test acc {d['final_test_acc']:.3f}; key frequencies {d['key_frequencies']}; "
          f"participation {d['initial_participation']:.1f} -> {d['final_participation']:.2f}, "
          f"Gini {d['initial_gini']:.2f} -> {d['final_gini']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
