"""efftheory against PyTorch: training steps per second of the toy network and the transformer
beside faithful PyTorch twins (benchmarks/torch_twins.py), on one and two threads.

Cases (float32, full batch, the same AdamW groups on both sides):
- toy p = 10, MSE and CE: Addition(10), 45 training samples (split seed 0), width 200, depth 2;
- transformer p = 23, d 32 (one block, width 64), without dropout and with dropout 0.1: the ordered
  pairs of addition mod 23, 80 % in training (423 samples);
- the paper's transformer (p = 59, d 256, width 128, two blocks, dropout 0.05; 2785 samples).

Order of work, in one process:
1. numerical agreement: each twin starts from efftheory's initial parameters and both sides
   train 10 steps; the training loss after them is compared (relative difference; dropout off,
   since the two sides draw different masks);
2. ``--rounds`` rounds; in each, per thread count and case, efftheory, PyTorch eager and PyTorch
   under ``torch.compile`` are timed one after the other, so all three see the same load; the
   table gives the medians over the rounds and the load (``uptime``) before and after.

A timing is one call: efftheory's ``train_network`` / ``train_transformer`` over k steps with
records at the two ends only (setup and the two evaluations included), the twin's ``step()`` k
times or as many as fit in three times efftheory's time (torch on two threads of a busy machine
can crawl), after one untimed step at the round's thread count (``torch.compile`` compiles again
when the thread count changes). k is 2000 for the toy, 300 for the default transformer and 24
for the paper's, so setup and the two evaluations are a small part of efftheory's time (about
0.4 s of 4-7 s at the paper's size). efftheory gets ``threads`` from its policy (efftheory.runtime.threads.threads_for) given the
row's cores; torch gets ``torch.set_num_threads`` of them.

The last column is efftheory's FLOP rate (the models' own ``flops_per_step``) as a share of the
rate of one float32 1024^3 matrix product on one thread, measured in every round of the same run
(median); on two threads it is still the share of one core's rate.

Without torch the efftheory rows still run and the PyTorch columns say why they are empty; if
``torch.compile`` fails here its column carries the error.

Run: python -m benchmarks.bench_torch [--rounds 3] [--threads 1,2] [--no-compile] [--cases 0,1,...]
         [--out benchmarks/RESULTS.md] [--section TITLE]
It rewrites the section TITLE (default "PyTorch peer") of the --out file, or appends it, after
every round (an interrupted run keeps the rounds it finished).
"""

from __future__ import annotations

import argparse
import datetime as dt
import inspect
import os
import platform
import statistics
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from efftheory.models.toy.config import NetworkConfig
from efftheory.models.toy.training import train_network
from efftheory.models.transformer.config import TransformerConfig
from efftheory.models.transformer.training import train_transformer
from efftheory.tasks import Addition, ModularAddition

HERE = Path(__file__).resolve().parent
SECTION = "PyTorch peer"
AGREE_STEPS = 10


@dataclass(frozen=True)
class Case:
    name: str
    model: str  # "toy" or "transformer"
    config: object
    p: int
    steps: int  # steps per timing

    def split(self):
        if self.model == "toy":
            return Addition(self.p).split(n_train=45, seed=0)
        return ModularAddition(self.p, ordered=True).split(frac=0.8, seed=0)

    def flops(self, split) -> int:
        if self.model == "transformer":
            return self.config.flops_per_step(split.n_train, split.p)
        if hasattr(self.config, "flops_per_step"):
            return self.config.flops_per_step(split.p, split.task.n_samples, split.n_train, split.task.n_classes)
        from benchmarks.bench_cellspeed import flops_per_step  # the same count, before it moved to the config

        f = flops_per_step(self.config.layer_dims(split.task.n_classes), split.task.n_samples, split.n_train)
        return f["forward"] + f["backward"] + f["adamw"]

    def train(self, split, steps: int, threads: int):
        fn = train_network if self.model == "toy" else train_transformer
        kw = {"threads": threads} if "threads" in inspect.signature(fn).parameters else {}  # older trees: none
        return fn(split, self.config, steps=steps, eval_every=steps, **kw)

    def twin(self, split, config=None):
        from benchmarks import torch_twins

        cls = torch_twins.ToyTwin if self.model == "toy" else torch_twins.TransformerTwin
        return cls(split, config or self.config)


CASES = (
    Case("toy p = 10, MSE", "toy", NetworkConfig(loss="mse"), 10, 2000),
    Case("toy p = 10, CE", "toy", NetworkConfig(loss="ce"), 10, 2000),
    Case("transformer p = 23, d 32", "transformer", TransformerConfig(), 23, 300),
    Case("transformer p = 23, dropout 0.1", "transformer", TransformerConfig(dropout=0.1), 23, 300),
    Case("transformer paper size (p = 59, d 256, 2 blocks, dropout 0.05)", "transformer", TransformerConfig.paper(),
         59, 24),
)


def gemm_rate(n: int = 1024, tries: int = 3) -> float:
    """FLOP/s of one float32 n^3 matrix product on one thread, best of ``tries``."""
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n)).astype(np.float32) for _ in range(2))
    best = np.inf
    with threadpool_limits(limits=1, user_api="blas"):
        a @ b
        for _ in range(tries):
            start = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


def _seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _twin_rate(twin, steps: int, budget: float) -> float:
    """Steps per second of ``twin.step()`` over ``steps`` steps, or fewer once ``budget`` seconds
    have passed (a thread count that makes torch crawl would otherwise hold the run for minutes)."""
    start = time.perf_counter()
    done = 0
    while done < steps:
        twin.step()
        done += 1
        if time.perf_counter() - start > budget:
            break
    return done / (time.perf_counter() - start)


def _torch():
    """(torch module, None) or (None, why it is not importable)."""
    try:
        import torch
    except ImportError as err:
        return None, f"torch not importable ({err}); PyTorch columns skipped"
    return torch, None


def _no_dropout(config):
    return type(config)(**{**config.__dict__, "dropout": 0.0}) if getattr(config, "dropout", 0.0) else config


def agreement(case: Case) -> dict:
    """Loss after AGREE_STEPS steps from identical initial weights: efftheory, the eager twin, and
    (the caller fills it) the compiled twin; dropout off."""
    from benchmarks.torch_twins import loss_after

    split, config = case.split(), _no_dropout(case.config)
    ours = float(Case(case.name, case.model, config, case.p, case.steps).train(split, AGREE_STEPS, 1).train_loss[-1])
    theirs = loss_after(case.twin(split, config), AGREE_STEPS)
    return {"efftheory": ours, "eager": theirs, "rel": abs(theirs - ours) / abs(ours)}


def _compiled(case: Case, split, torch):
    """(compiled twin, None) or (None, the error's first line)."""
    from benchmarks.torch_twins import compiled

    try:
        return compiled(case.twin(split)), None
    except Exception as err:  # noqa: BLE001  whatever torch.compile raises is the finding
        return None, f"{type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ''}"


def measure(cases, threads=(1, 2), rounds: int = 3, use_compile: bool = True, log=print, on_round=None) -> dict:
    """Agreement, then ``rounds`` alternating rounds; ``on_round(results so far)`` after each."""
    torch, why = _torch()
    state = []
    for case in cases:
        split = case.split()
        case.train(split, 2, 1)  # compile numba's kernels or load its cache
        entry = {"case": case, "split": split, "flops": case.flops(split), "eff": {n: [] for n in threads},
                 "eager": {n: [] for n in threads}, "compiled": {n: [] for n in threads}, "compile_error": None}
        if torch is not None:
            log(f"agreement: {case.name}")
            entry["agree"] = agreement(case)
            entry["eager_twin"] = case.twin(split)
            if use_compile:
                log(f"torch.compile: {case.name}")
                entry["compiled_twin"], entry["compile_error"] = _compiled(case, split, torch)
                if entry["compiled_twin"] is not None and not getattr(case.config, "dropout", 0.0):
                    from benchmarks.torch_twins import loss_after

                    # fresh: compiling took step 1; the timings below do not care where it stands
                    entry["agree"]["compiled"] = loss_after(entry["compiled_twin"], AGREE_STEPS - 1)
        state.append(entry)
    rates = []
    for r in range(rounds):
        rates.append(gemm_rate())
        for n in threads:
            if torch is not None:
                torch.set_num_threads(n)
            for e in state:
                case, split, k = e["case"], e["split"], e["case"].steps
                policy = _policy_threads(e["flops"], n)
                e.setdefault("policy", {})[n] = policy
                e["eff"][n].append(k / _seconds(lambda: case.train(split, k, policy)))
                if torch is not None:
                    budget = 3 * k / e["eff"][n][-1]  # three times what efftheory took
                    for kind in ("eager", "compiled"):
                        twin = e.get(f"{kind}_twin")
                        if twin is not None:
                            # one untimed step at this thread count first: torch.compile compiles
                            # again when the thread count changes, and that is not a step's cost
                            twin.step()
                            e[kind][n].append(_twin_rate(twin, k, budget))
                log(f"round {r + 1}/{rounds}, {n} thread(s), {case.name}: efftheory {e['eff'][n][-1]:.4g} steps/s"
                    + (f", eager {e['eager'][n][-1]:.4g}" if e["eager"][n] else "")
                    + (f", compiled {e['compiled'][n][-1]:.4g}" if e["compiled"][n] else ""))
        res = {"state": state, "gemm": rates, "torch": torch, "why": why, "threads": threads, "rounds": r + 1,
               "use_compile": use_compile}
        if on_round is not None:
            on_round(res)
    return res


def _policy_threads(flops: int, n: int) -> int:
    try:
        from efftheory.runtime.threads import threads_for
    except ImportError:  # a tree before the policy: one thread always
        return 1
    return threads_for(flops, allowed=n)


def _med(xs):
    return statistics.median(xs) if xs else None


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def _cpu() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def blas_kernels() -> str:
    """Which OpenBLAS kernels this process runs (threadpoolctl's "architecture") and the
    environment variables that choose them: a machine may pin an older kernel
    (OPENBLAS_CORETYPE), which halves the large-product rate on a newer CPU."""
    from threadpoolctl import threadpool_info

    import scipy.linalg.cython_blas  # noqa: F401  numba's BLAS: loaded, so that it is listed

    kinds = sorted({f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')}" for i in threadpool_info()
                    if i.get("user_api") == "blas"})
    env = ", ".join(f"{k}={os.environ[k]}" for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ)
    return "; ".join(kinds) + f" ({env or 'OPENBLAS_CORETYPE not set: OpenBLAS chose for this CPU'})"


def render(res: dict, title: str, before: str, after: str, command: str) -> str:
    torch, gemm = res["torch"], _med(res["gemm"])
    lines = [f"## {title}", "", f"Written by `{command}`.", "",
             f"- date: {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC",
             f"- machine: {platform.system()} {platform.machine()}, {os.cpu_count()} cores, {_cpu()}",
             f"- efftheory: numpy {np.__version__}, numba {__import__('numba').__version__}; "
             + (f"torch {torch.__version__}" if torch else res["why"]),
             f"- BLAS kernels: {blas_kernels()}",
             f"- load (`uptime`) before: {before}", f"- load (`uptime`) after: {after}",
             f"- one float32 1024^3 product on one thread: {gemm / 1e9:.1f} GFLOP/s (median of {len(res['gemm'])} "
             f"rounds: {', '.join(f'{g / 1e9:.0f}' for g in res['gemm'])})",
             f"- medians of {res['rounds']} alternating rounds; steps/s", ""]
    lines += ["| case | threads | efftheory steps/s | PyTorch eager | ratio | torch.compile | ratio | share of the "
              "1024^3 product rate (efftheory) |", "|---|---|---|---|---|---|---|---|"]
    for n in res["threads"]:
        for e in res["state"]:
            eff, eager, comp = _med(e["eff"][n]), _med(e["eager"][n]), _med(e["compiled"][n])
            share = eff * e["flops"] / gemm
            used = e["policy"][n]
            thr = f"{n}" + (f" (efftheory used {used})" if used != n else "")
            comp_text = f"{comp:.4g}" if comp else ("failed" if e["compile_error"] else "")
            lines.append(
                f"| {e['case'].name} | {thr} | {eff:.4g} | {'' if eager is None else f'{eager:.4g}'} | "
                f"{'' if eager is None else f'{eff / eager:.2f}x'} | {comp_text} | "
                f"{'' if not comp else f'{eff / comp:.2f}x'} | {share:.0%}" + (" of one core" if n > 1 else "") + " |")
    lines += ["", "Numerical agreement (training loss after 10 steps from efftheory's initial weights, dropout off):", ""]
    for e in res["state"]:
        a = e.get("agree")
        if a:
            comp = f"; torch.compile {a['compiled']:.9g}" if "compiled" in a else ""
            lines.append(f"- {e['case'].name}: efftheory {a['efftheory']:.9g}, PyTorch eager {a['eager']:.9g} "
                         f"(relative difference {a['rel']:.1e}){comp}")
    errors = {e["compile_error"] for e in res["state"] if e["compile_error"]}
    if errors:
        lines += ["", "torch.compile failed here: " + "; ".join(sorted(errors))]
    if torch is None:
        lines += ["", res["why"]]
    lines += ["", "Per-round steps/s (efftheory / eager / compiled):", ""]
    for n in res["threads"]:
        for e in res["state"]:
            rounds = zip(e["eff"][n], e["eager"][n] or [None] * len(e["eff"][n]),
                         e["compiled"][n] or [None] * len(e["eff"][n]))
            lines.append(f"- {e['case'].name}, {n} thread(s): " + "; ".join(
                " / ".join("-" if x is None else f"{x:.4g}" for x in trio) for trio in rounds))
    return "\n".join(lines) + "\n"


def write_section(path: Path, title: str, text: str) -> None:
    """Replace the section ``## title`` of ``path`` (up to the next ``## ``) with ``text``, or
    append it; written to a temporary file and renamed, so the file is never half-written."""
    old = path.read_text() if path.exists() else ""
    head = f"## {title}\n"
    if head in old:
        start = old.index(head)
        nxt = old.find("\n## ", start + len(head))
        new = old[:start] + text + ("" if nxt < 0 else old[nxt:])
    else:
        new = old.rstrip("\n") + "\n\n" + text if old else text
    tmp = path.with_suffix(".tmp")
    tmp.write_text(new)
    os.replace(tmp, path)


def run() -> list[dict]:
    """Rows for benchmarks.run_all: efftheory against PyTorch eager, one and two threads, one round."""
    res = measure(CASES, rounds=1, use_compile=False, log=lambda *_: None)
    rows = []
    for n in res["threads"]:
        for e in res["state"]:
            eff, eager = _med(e["eff"][n]), _med(e["eager"][n])
            rows.append({"name": f"{e['case'].name}, {n} thread(s)", "fast_s": 1 / eff,
                         "naive_s": None if eager is None else 1 / eager, "ratio": None if eager is None else eff / eager,
                         "notes": "s per step; naive = PyTorch eager twin" if eager else res["why"]})
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", default="1,2", help="comma list of thread counts (default 1,2)")
    parser.add_argument("--cases", default=None, help="comma list of case indices (default all: "
                        + ", ".join(f"{i} {c.name}" for i, c in enumerate(CASES)) + ")")
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    parser.add_argument("--out", default=str(HERE / "RESULTS.md"))
    parser.add_argument("--section", default=SECTION, help=f"section title to write (default {SECTION!r})")
    args = parser.parse_args(argv)
    threads = tuple(int(x) for x in args.threads.split(","))
    cases = CASES if args.cases is None else tuple(CASES[int(i)] for i in args.cases.split(","))
    before = _uptime()
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    command = shlex.join(["python", "-m", "benchmarks.bench_torch", *(sys.argv[1:] if argv is None else argv)])
    texts = []

    def write(res):  # after every round, so that an interrupted run keeps the rounds it finished
        texts.append(render(res, args.section, before, _uptime(), command))
        write_section(Path(args.out), args.section, texts[-1])

    measure(cases, threads, args.rounds, not args.no_compile, log, write)
    print(texts[-1])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
