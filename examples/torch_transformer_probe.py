"""The paper's transformer trained in PyTorch, watched by efftheory's probe.

A plain PyTorch training loop (full batch, AdamW with two parameter groups) trains the
transformer of docs/theory.md §15 on addition mod p (ordered pairs) and calls
``efftheory.torch.Probe`` once per step; every ``--every`` steps the probe reads the token
embeddings through a LayerNorm (as the network sees them) and records the circle theory's
measures: ring frequency and coherence, circle RQI, key Fourier frequencies, predicted accuracy.
At the end it prints the probe's summary, the network's accuracies, and writes the probe's
JSON lines and figure.

The network starts from exactly the initial parameters of efftheory's own transformer
(``efftheory.models.transformer.kernels.init_params`` for the same config and seed), so with ``--compare`` the
script also trains efftheory's numpy/numba transformer on the same split and reports how closely
the two runs track each other (embeddings, accuracies, circle RQI).

    python examples/torch_transformer_probe.py --p 23 --frac 0.8 --steps 3000 --every 20 \
        --plot probe.png --jsonl probe.jsonl [--compare]

Needs torch (``pip install 'efftheory[torch]'``).
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch
import torch.nn.functional as F

from efftheory.tasks import ModularAddition
from efftheory.torch import Probe
from efftheory.models.transformer.layout import init_params
from efftheory.models.transformer.ops import LN_EPS
from efftheory.models.transformer.config import TransformerConfig

DTYPES = {"float32": torch.float32, "float64": torch.float64}


class Transformer(torch.nn.Module):
    """efftheory's transformer (docs/theory.md §15) in PyTorch, its parameters copied from a
    flat efftheory parameter vector θ (``init_params``), tensor for tensor.

    Pre-LayerNorm blocks x <- x + Attn(LN1(x)), x <- x + FF(LN2(x)) on the two token vectors,
    single-head attention over the two positions, a final LayerNorm, the two outputs concatenated
    and mapped to p logits. Weights are stored as efftheory stores them (x @ W, W: fan_in x fan_out).
    With ``config.dropout`` > 0, PyTorch's own dropout acts in training mode where efftheory's
    does (attention weights, attention output, feed-forward hidden units and output); its masks
    are torch's, not efftheory's hashed ones, so such a run is not compared with efftheory's.
    """

    def __init__(self, theta: np.ndarray, layout, config: TransformerConfig, dtype=torch.float32):
        super().__init__()
        P = layout.unpack(np.asarray(theta, dtype=np.float64))
        par = lambda a: torch.nn.Parameter(torch.tensor(np.array(a), dtype=dtype))  # noqa: E731
        self.embed = torch.nn.Embedding(layout.p, layout.dim, dtype=dtype)
        with torch.no_grad():
            self.embed.weight.copy_(torch.tensor(P["E"], dtype=dtype))
        self.blocks = torch.nn.ModuleList()
        for blk in P["blocks"]:
            m = torch.nn.Module()
            for name, value in blk.items():
                setattr(m, name, par(value))
            self.blocks.append(m)
        self.final_ln = config.final_ln
        if config.final_ln:
            self.lnf_g, self.lnf_b = par(P["lnf_g"]), par(P["lnf_b"])
        self.W_out, self.b_out = par(P["W_out"]), par(P["b_out"])
        self.d = layout.dim
        self.rate = float(config.dropout)

    def forward(self, pairs: torch.Tensor) -> torch.Tensor:
        """Logits (n, p) of the samples ``pairs`` (n, 2)."""
        d = self.d
        drop = lambda t: F.dropout(t, self.rate, self.training) if self.rate else t  # noqa: E731
        x = self.embed(pairs)  # (n, 2, d)
        for b in self.blocks:
            h = F.layer_norm(x, (d,), b.ln1_g, b.ln1_b, LN_EPS)
            q, k, v = (h @ b.W_qkv + b.b_qkv).split(d, dim=-1)
            a = drop(torch.softmax(q @ k.transpose(1, 2) / math.sqrt(d), dim=-1))
            x = x + drop((a @ v) @ b.W_o + b.b_o)
            h = F.layer_norm(x, (d,), b.ln2_g, b.ln2_b, LN_EPS)
            x = x + drop(drop(torch.relu(h @ b.W_1 + b.c_1)) @ b.W_2 + b.c_2)
        if self.final_ln:
            x = F.layer_norm(x, (d,), self.lnf_g, self.lnf_b, LN_EPS)
        return x.reshape(x.shape[0], 2 * d) @ self.W_out + self.b_out

    def optimizer(self, config: TransformerConfig) -> torch.optim.AdamW:
        """AdamW on two groups, as efftheory trains: the embeddings and everything else."""
        rest = [p for name, p in self.named_parameters() if not name.startswith("embed.")]
        return torch.optim.AdamW([
            {"params": [self.embed.weight], "lr": config.embed_lr, "weight_decay": config.embed_wd},
            {"params": rest, "lr": config.decoder_lr, "weight_decay": config.decoder_wd},
        ], betas=(0.9, 0.999), eps=1e-8)


def train(split, config: TransformerConfig, steps: int, every: int, *, reading: str = "layernorm",
          jsonl=None, dtype=torch.float32):
    """Train the twin from efftheory's initial parameters; the probe records every ``every``
    steps. Returns (probe, dict of recorded arrays: steps, train_acc, test_acc, embeddings)."""
    theta0, layout = init_params(split.p, config)
    model = Transformer(theta0, layout, config, dtype)
    opt = model.optimizer(config)
    task = split.task
    x_tr, y_tr = torch.tensor(task.pairs[split.train]), torch.tensor(task.labels[split.train])
    x_te, y_te = torch.tensor(task.pairs[split.test]), torch.tensor(task.labels[split.test])
    probe = Probe(model.embed, task, task.pairs[split.train], every=every, reading=reading, path=jsonl,
                  lr=config.embed_lr)
    acc = {"train_acc": [], "test_acc": []}
    for step in range(steps + 1):
        if probe(step) is not None:
            model.eval()  # the accuracies read the network without dropout
            with torch.no_grad():
                acc["train_acc"].append(float((model(x_tr).argmax(1) == y_tr).double().mean()))
                acc["test_acc"].append(float((model(x_te).argmax(1) == y_te).double().mean()))
            model.train()
        if step == steps:
            break
        loss = F.cross_entropy(model(x_tr), y_tr)
        opt.zero_grad()
        loss.backward()
        opt.step()
    probe.close()
    return probe, {"steps": probe.steps, "embeddings": np.stack(probe._stack),
                   **{k: np.asarray(v) for k, v in acc.items()}}


def first_at(steps, values, level=0.9):
    hit = np.flatnonzero(np.asarray(values) >= level)
    return int(steps[hit[0]]) if hit.size else None


def compare(split, config, steps, every, torch_run, torch_analysis) -> dict:
    """efftheory's own transformer on the same split and config, against the PyTorch run."""
    from efftheory.experiments.analysis import analyse
    from efftheory.models.transformer.training import train_transformer

    start = time.perf_counter()
    res = train_transformer(split, config, steps, eval_every=every)
    seconds = time.perf_counter() - start
    E_ours, E_torch = res.raw_embeddings, torch_run["embeddings"]
    scale = np.max(np.abs(E_ours), axis=(1, 2))
    rel = np.max(np.abs(E_torch - E_ours), axis=(1, 2)) / scale  # (T,) per record
    ours = analyse(E_ours, split, res.steps, reading="layernorm", critical_trials=0)
    out = {"efftheory_seconds": seconds,
           "max_rel_embedding_diff": float(rel.max()),
           "rel_embedding_diff_at": {int(s): float(r) for s, r in zip(res.steps, rel)
                                     if s in (every, 100, 200, 500, 1000, 2000, 4000) or s == res.steps[-1]},
           "first_step_rel_diff_above_1e-6": first_at(res.steps, rel, 1e-6),
           "first_step_rel_diff_above_1e-3": first_at(res.steps, rel, 1e-3),
           "first_step_rel_diff_above_0.1": first_at(res.steps, rel, 0.1),
           "max_train_acc_diff": float(np.max(np.abs(torch_run["train_acc"] - res.train_acc))),
           "max_test_acc_diff": float(np.max(np.abs(torch_run["test_acc"] - res.test_acc))),
           "steps_to_test_efftheory": res.steps_to_test,
           "steps_to_test_torch": first_at(torch_run["steps"], torch_run["test_acc"]),
           "max_circle_rqi_diff": float(np.nanmax(np.abs(ours.track.metric - torch_analysis.track.metric))),
           "final_ring_frequency": [int(ours.track.columns["frequency"][-1]),
                                    int(torch_analysis.track.columns["frequency"][-1])]}
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--p", type=int, default=23)
    ap.add_argument("--frac", type=float, default=0.8)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--every", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0, help="network seed (efftheory's init) and split seed")
    ap.add_argument("--decoder-wd", type=float, default=1.0)
    ap.add_argument("--dropout", type=float, default=0.0, help="PyTorch's dropout in training (not with --compare)")
    ap.add_argument("--dtype", choices=tuple(DTYPES), default="float32")
    ap.add_argument("--jsonl", default=None, help="the probe's JSON lines")
    ap.add_argument("--plot", default=None, help="the probe's figure (PNG)")
    ap.add_argument("--compare", action="store_true", help="also train efftheory's transformer and compare")
    args = ap.parse_args(argv)
    if args.compare and args.dropout:
        ap.error("--compare needs --dropout 0: PyTorch's dropout masks are not efftheory's")
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    split = ModularAddition(args.p, ordered=True).split(frac=args.frac, seed=args.seed)
    config = TransformerConfig(seed=args.seed, decoder_wd=args.decoder_wd, dropout=args.dropout, dtype=args.dtype)
    start = time.perf_counter()
    probe, run = train(split, config, args.steps, args.every, jsonl=args.jsonl, dtype=DTYPES[args.dtype])
    seconds = time.perf_counter() - start
    analysis = probe.summary()
    print(probe.summary_text())
    print(f"PyTorch run: {args.steps} steps in {seconds:.1f} s; train acc {run['train_acc'][-1]:.3f}, "
          f"test acc {run['test_acc'][-1]:.3f}; test acc >= 0.9 first at step "
          f"{first_at(run['steps'], run['test_acc'])}")
    if args.plot:
        fig = probe.plot(title="PyTorch transformer")
        ax = fig.axes[0]  # the network's own accuracies beside what the probe read
        x = np.maximum(run["steps"], 1)
        ax.plot(x, run["train_acc"], color="k", lw=1, ls=":", label="network train accuracy")
        ax.plot(x, run["test_acc"], color="k", lw=1.2, label="network test accuracy")
        ax.legend(fontsize=7, loc="upper left")
        fig.savefig(args.plot, dpi=130)
        print(f"plot written to {args.plot}")
    if args.compare:
        for key, value in compare(split, config, args.steps, args.every, run, analysis).items():
            print(f"  {key}: {value}")


if __name__ == "__main__":
    main()
