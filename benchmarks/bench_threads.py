"""Where a second thread starts to pay: the toy network and the transformer on one and on two
BLAS threads, over a ladder of sizes from the toy (14 MFLOP per step) to the paper's transformer
(22 GFLOP).

efftheory.runtime.threads gives a run one thread below PARALLEL_STEP_FLOPS FLOPs per step and
every allowed core from it on; this benchmark measures the crossover that threshold stands for.
Each size trains k steps (records at the two ends only, setup included; k chosen for about
2.5 s per timing) on one and on two threads, alternately, ``rounds`` times; a row gives the
medians in seconds per step, "fast" on two threads and "naive" on one, so ratio > 1 means the
second thread pays. Needs two free cores: on a busy machine the two-thread column measures the
wait for a core, not the product.

Run: python -m benchmarks.bench_threads [--rounds 3]   (also a topic of benchmarks.run_all)
"""

from __future__ import annotations

import argparse
import statistics
import time

from efftheory.models.toy.config import NetworkConfig
from efftheory.models.toy.training import train_network
from efftheory.models.transformer.config import TransformerConfig
from efftheory.models.transformer.training import train_transformer
from efftheory.runtime.threads import PARALLEL_STEP_FLOPS
from efftheory.tasks import Addition, ModularAddition
from benchmarks.timing import print_rows

#: (p, config) from the toy network to the paper's transformer
SIZES = (
    (10, NetworkConfig()),
    (23, TransformerConfig()),
    (23, TransformerConfig(dim=64, width=128)),
    (59, TransformerConfig(dim=32, width=64)),
    (59, TransformerConfig(dim=64, width=128)),
    (59, TransformerConfig(dim=128, width=128, layers=2)),
    (59, TransformerConfig.paper()),
)
SECONDS = 2.5  # aimed length of one timing
RATE_GUESS = 60e9  # FLOP/s used to pick k (a guess; the timings measure the real rate)


def _name(p: int, c) -> str:
    if isinstance(c, NetworkConfig):
        return f"toy p={p} width={c.width} depth={c.depth}"
    return f"transformer p={p} d={c.dim} width={c.width} layers={c.layers}"


def _case(p: int, config):
    """(split, train function, FLOPs per step) of one size."""
    if isinstance(config, NetworkConfig):
        split = Addition(p).split(n_train=45, seed=0)
        flops = config.flops_per_step(p, split.task.n_samples, split.n_train, split.task.n_classes)
        return split, train_network, flops
    split = ModularAddition(p, ordered=True).split(frac=0.8, seed=0)
    return split, train_transformer, config.flops_per_step(split.n_train, p)


def run(rounds: int = 3) -> list[dict]:
    rows = []
    for p, config in SIZES:
        split, train, flops = _case(p, config)
        k = max(20, int(SECONDS * RATE_GUESS / flops))
        train(split, config, steps=2, eval_every=2, threads=1)  # compile / load the kernels
        per_step = {1: [], 2: []}
        for _ in range(rounds):
            for n in (1, 2):
                start = time.perf_counter()
                train(split, config, steps=k, eval_every=k, threads=n)
                per_step[n].append((time.perf_counter() - start) / k)
        one, two = statistics.median(per_step[1]), statistics.median(per_step[2])
        policy = 2 if flops >= PARALLEL_STEP_FLOPS else 1
        rows.append({
            "name": f"{_name(p, config)}: 2 threads vs 1",
            "fast_s": two, "naive_s": one, "ratio": one / two,
            "notes": (f"{flops / 1e9:.3g} GFLOP per step, {k} steps per timing; {1 / one:.4g} vs {1 / two:.4g} "
                      f"steps/s on 1 vs 2 threads; the policy gives {policy} (times are s per step)"),
        })
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    print_rows(run(parser.parse_args(argv).rounds))


if __name__ == "__main__":
    main()
