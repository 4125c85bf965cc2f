"""Fig 1 of the paper, at a size two cores run in a few minutes: a transformer learns
addition mod p; training curves and the token embeddings' two leading principal components
(each token's embedding standardised first) at initialisation, when test accuracy reaches 0.9,
and at the end.

The paper's run is p = 59, 80 % of the 3481 ordered pairs, d = 256, width 128, two blocks,
decoder lr 2e-4, weight decay 1, dropout 0.05: 22 GFLOP per full-batch step, about 0.4 CPU
seconds here (benchmarks/bench_transformer.py), too slow for the ~10^4 steps it needs. The
default here keeps p = 59, 80 % and the paper's dropout 0.05 and shrinks the network (SIZE
below); ``--dropout RATE`` changes the rate (written to transformer_fig1_dropoutRATE.*; without
dropout the ring is far less clean, docs/paper_results.md); ``--paper-size`` runs the paper's
sizes for ``--steps``.

    python paper_repro/transformer_fig1.py [--quick] [--paper-size] [--dropout RATE] [--steps S] --out DIR
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

try:
    import paper_repro.common  # noqa: F401
except ImportError:
    sys.path.append(str(Path(__file__).resolve().parents[1]))
from paper_repro.common import parser, prepare, save  # noqa: E402

#: p, training fraction, split seed, steps, evaluation interval and the network (TransformerConfig fields)
SIZE = {"p": 59, "frac": 0.8, "split_seed": 0, "steps": 6000, "eval_every": 50,
        "config": {"dim": 32, "width": 64, "layers": 1, "embed_lr": 1e-3, "decoder_lr": 1e-3, "decoder_wd": 1.0,
                   "dropout": 0.05, "seed": 0}}
QUICK = {"p": 11, "frac": 0.8, "split_seed": 0, "steps": 200, "eval_every": 20,
         "config": {"dim": 8, "width": 16, "layers": 1, "embed_lr": 1e-3, "decoder_lr": 1e-3, "decoder_wd": 1.0,
                    "dropout": 0.05, "seed": 0}}
PAPER_DROPOUT = 0.05


def main(argv=None) -> int:
    ap = parser(__doc__.splitlines()[0])
    ap.add_argument("--paper-size", action="store_true",
                    help="d = 256, width 128, two blocks, decoder lr 2e-4, dropout 0.05")
    ap.add_argument("--dropout", type=float, default=None, metavar="RATE",
                    help=f"dropout rate in the training passes (default the paper's {PAPER_DROPOUT})")
    ap.add_argument("--steps", type=int, default=None, help=f"training steps (default {SIZE['steps']})")
    args = ap.parse_args(argv)
    out = prepare(args)
    from efftheory.plotting.transformer import plot_transformer_training
    from efftheory.tasks import ModularAddition
    from efftheory.models.transformer.config import TransformerConfig
    from efftheory.models.transformer.training import train_transformer

    spec = dict(QUICK if args.quick else SIZE)
    if args.paper_size:
        spec["config"] = {**dataclasses.asdict(TransformerConfig.paper()), "seed": spec["config"]["seed"]}
    if args.steps is not None:
        spec["steps"] = args.steps
    if args.dropout is not None:
        spec["config"] = {**spec["config"], "dropout": args.dropout}
    config = TransformerConfig(**spec["config"])
    spec["config"] = dataclasses.asdict(config)
    split = ModularAddition(spec["p"], ordered=True).split(frac=spec["frac"], seed=spec["split_seed"])
    start = time.perf_counter()
    r = train_transformer(split, config, spec["steps"], eval_every=spec["eval_every"])
    data = {"steps": r.steps, "train_acc": r.train_acc, "test_acc": r.test_acc, "ring_frequency": r.ring_frequency,
            "ring_variance": r.ring_variance, "ring_coherence": r.ring_coherence, "ring_rqi": r.rqi,
            "steps_to_train": r.steps_to_train, "steps_to_test": r.steps_to_test,
            "steps_to_test_99": r.steps_to_test_99, "phase": r.phase, "steps_per_second": r.steps_run / r.seconds}
    name = ("transformer_fig1" + ("_paper_size" if args.paper_size else "")
            + (f"_dropout{config.dropout:g}" if config.dropout != PAPER_DROPOUT else "") + ("_quick" if args.quick else ""))
    save(out, name, plot_transformer_training(r), data, spec, time.perf_counter() - start)
    print(f"p = {spec['p']}: test acc 0.9 at step {r.steps_to_test}, 0.99 at {r.steps_to_test_99}; final test acc "
          f"{r.test_acc[-1]:.3f}; final ring fit f = {r.ring_frequency[-1]} (coherence {r.ring_coherence[-1]:.2f}, "
          f"{r.ring_variance[-1]:.0%} of the variance in the plane); {r.steps_run / r.seconds:.1f} steps/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
