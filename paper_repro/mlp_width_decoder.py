"""Where the toy's negative result on addition mod p ends: generalisation against the embedding
width d and the decoder (docs/theory.md, "The embedding MLP"). Not a paper figure.

Every network sees the same input E_a + E_b (one shared embedding, summed, as in the paper's toy)
and differs only in what reads it:

- ``relu``: ReLU(E_a + E_b) W_out, the embedding MLP (AdamW, lr LR, weight decay WD on everything);
- ``tanh``: the toy's decoder, a 2 x WIDTH tanh MLP, trained with the same AdamW setting;
- ``tanh, toy setting``: the toy's decoder with the toy's modular-addition setting (embedding lr
  1e-2, decoder lr 1e-4, no weight decay; docs/theory.md §13).

For each decoder, width d in DIMS and seed in SEEDS (split and network): one run of STEPS steps at
p = P, fraction FRAC (unordered pairs). Cells: how many of the seeds generalised (final test
accuracy >= 0.9) and their mean final test accuracy.

Writes <out>/mlp_width_decoder.png and .json; runs cached in <out>/mlp_width_decoder_runs.json.

    python paper_repro/mlp_width_decoder.py [--quick] [--out DIR] [--jobs J]
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

try:
    import paper_repro.common  # noqa: F401
except ImportError:
    sys.path.append(str(Path(__file__).resolve().parents[1]))
from paper_repro.common import parser, pmap, prepare, save, write_json

NAME = "mlp_width_decoder"
DECODERS = ("relu", "tanh", "tanh, toy setting")
FULL = {"p": 31, "frac": 0.7, "dims": [2, 8, 24, 128], "seeds": [0, 1], "steps": 10_000, "lr": 3e-3, "wd": 0.3,
        "width": 200}
QUICK = {"p": 11, "frac": 0.7, "dims": [2, 8], "seeds": [0], "steps": 100, "lr": 3e-3, "wd": 1.0, "width": 16}


def run_one(decoder: str, dim: int, seed: int, spec: dict) -> dict:
    """One network: its final accuracies, steps to test accuracy 0.9 and phase."""
    import efftheory as et
    from efftheory.models.embed_mlp import EmbedMLPConfig, train_embed_mlp

    split = et.ModularAddition(spec["p"]).split(frac=spec["frac"], seed=seed)
    lr, wd = spec["lr"], spec["wd"]
    if decoder == "relu":
        result = train_embed_mlp(split, EmbedMLPConfig(dim=dim, lr=lr, wd=wd, seed=seed), spec["steps"],
                                 eval_every=spec["steps"])
    else:
        if decoder == "tanh":
            config = et.NetworkConfig(loss="ce", dim=dim, width=spec["width"], embed_lr=lr, decoder_lr=lr,
                                      embed_wd=wd, decoder_wd=wd, seed=seed)
        else:
            config = et.NetworkConfig(loss="ce", dim=dim, width=spec["width"], embed_lr=1e-2, decoder_lr=1e-4,
                                      seed=seed)
        result = et.train_network(split, config, spec["steps"], eval_every=spec["steps"])
    return {"decoder": decoder, "dim": dim, "seed": seed, "final_train_acc": float(result.train_acc[-1]),
            "final_test_acc": float(result.test_acc[-1]), "steps_to_train": result.steps_to_train,
            "steps_to_test": result.steps_to_test, "phase": result.phase, "seconds": round(result.seconds, 2)}


def runs(out: Path, spec: dict, jobs: int) -> list[dict]:
    settings = {**spec, "decoders": list(DECODERS), "record": "width-decoder v1"}
    path = out / f"{NAME}_runs{'_quick' if spec is QUICK else ''}.json"
    if path.exists():
        cached = json.loads(path.read_text())
        if cached.get("settings") == json.loads(json.dumps(settings)):
            return cached["runs"]
    tasks = [(dec, d, s, spec) for dec in DECODERS for d in spec["dims"] for s in spec["seeds"]]
    start = time.perf_counter()
    records = pmap(run_one, tasks, jobs)
    write_json(path, {"settings": settings, "seconds": round(time.perf_counter() - start, 1), "runs": records})
    return records


def table(records: list[dict], spec: dict) -> dict:
    """Per decoder (rows) and width (columns): generalised counts and mean final test accuracy."""
    gen, mean = [], []
    for dec in DECODERS:
        gen.append([sum(r["final_test_acc"] >= 0.9 for r in records if r["decoder"] == dec and r["dim"] == d)
                    for d in spec["dims"]])
        mean.append([sum(r["final_test_acc"] for r in records if r["decoder"] == dec and r["dim"] == d)
                     / len(spec["seeds"]) for d in spec["dims"]])
    return {"decoders": list(DECODERS), "dims": spec["dims"], "n_seeds": len(spec["seeds"]), "generalised": gen,
            "mean_test_acc": mean}


def plot(t: dict, spec: dict):
    from paper_repro.common import pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.8), layout="constrained")
    im = ax.imshow(t["mean_test_acc"], vmin=0, vmax=1, cmap="viridis", aspect="auto")
    for i in range(len(t["decoders"])):
        for j in range(len(t["dims"])):
            acc = t["mean_test_acc"][i][j]
            ax.text(j, i, f"{t['generalised'][i][j]}/{t['n_seeds']}\n{acc:.2f}", ha="center", va="center",
                    color="k" if acc > 0.6 else "w", fontsize=10)
    ax.set_xticks(range(len(t["dims"])), [str(d) for d in t["dims"]])
    ax.set_yticks(range(len(t["decoders"])), t["decoders"])
    ax.set(xlabel="embedding width d",
           title=f"addition mod {spec['p']}, frac {spec['frac']:g}, {spec['steps']} steps: generalised / seeds, "
                 "mean test acc")
    fig.colorbar(im, ax=ax, label="mean final test accuracy")
    return fig


def main(argv=None) -> int:
    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    out = prepare(args)
    spec = QUICK if args.quick else FULL
    start = time.perf_counter()
    records = runs(out, spec, args.jobs)
    t = table(records, spec)
    save(out, NAME + ("_quick" if args.quick else ""), plot(t, spec), {"table": t, "runs": records}, spec,
         time.perf_counter() - start)
    for i, dec in enumerate(t["decoders"]):
        cells = ", ".join(f"d={d}: {g}/{t['n_seeds']} ({a:.2f})"
                          for d, g, a in zip(t["dims"], t["generalised"][i], t["mean_test_acc"][i]))
        print(f"{dec}: {cells}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
