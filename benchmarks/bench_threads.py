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
from efftheory.models.transformer.config import TransformerConfig
from efftheory.runtime.threads import threads_for
from benchmarks.bench_torch import Case
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


def _case(p: int, config) -> Case:
    """The size as a case of the PyTorch benchmark (its split, FLOP count and training call)."""
    if isinstance(config, NetworkConfig):
        return Case(f"toy p={p} width={config.width} depth={config.depth}", "toy", config, p, 0)
    name = f"transformer p={p} d={config.dim} width={config.width} layers={config.layers}"
    return Case(name, "transformer", config, p, 0)


def run(rounds: int = 3) -> list[dict]:
    rows = []
    for p, config in SIZES:
        case = _case(p, config)
        split = case.split()
        flops = case.flops(split)
        k = max(20, int(SECONDS * RATE_GUESS / flops))
        case.train(split, 2, 1)  # compile / load the kernels
        per_step = {1: [], 2: []}
        for _ in range(rounds):
            for n in (1, 2):
                start = time.perf_counter()
                case.train(split, k, n)
                per_step[n].append((time.perf_counter() - start) / k)
        one, two = statistics.median(per_step[1]), statistics.median(per_step[2])
        policy = threads_for(flops, allowed=2)
        rows.append({
            "name": f"{case.name}: 2 threads vs 1",
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
