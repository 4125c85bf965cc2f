"""Apply the theory to a network's embeddings from any framework.

Reads one embedding matrix (p x d) or a stack of them over training steps (T x p x d) from a
.npy file, a named array of a .npz file, or a tensor by name from a PyTorch checkpoint (.pt or
.pth, when torch is installed), with the task (--task, --p, --ordered) and the training set
(--train FILE of sample indices or (a, b) pairs, or --frac / --train-num with --seed to draw it
as efftheory does). Prints the split's theory (parallelograms, dof, rate, ideal accuracy, the
critical fraction and the side of it the split lies on, the time scale at the embedding learning
rate --lr), then the representation's structure at every record as the task's theory reads it
(RQI and predicted accuracy for addition; ring frequency, coherence, circle RQI, key Fourier
frequencies and predicted accuracy for addition mod p; matrix RQI and representation scores for
s3) and the first step at which the structure has formed (metric >= 0.95). With --layernorm each
token's embedding is standardised first, as a network that reads it through a LayerNorm sees it
(efftheory's transformer records its ring that way). docs/analyse.md has examples.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from efftheory.cli._common import (
    P_HELP,
    add_task_arguments,
    check_output_path,
    check_p,
    fraction,
    int_list,
    integer,
    nonnegative_int,
    positive_float,
    positive_int,
    save_figure,
    task_of,
)
from efftheory.cli._wording import plural
from efftheory.errors import InputError

#: array names tried, in order, when --array / --steps-array / the training array is not given
DEFAULT_ARRAY, DEFAULT_STEPS, DEFAULT_TRAIN = "embeddings", "steps", "train"


def add_arguments(parser) -> None:
    parser.add_argument("file", metavar="FILE", help="embeddings: .npy, .npz (a named array) or .pt/.pth (a tensor "
                                                     "by name; needs torch)")
    parser.add_argument("--array", metavar="NAME", default=None,
                        help=f"the array (.npz) or tensor (.pt: a key of the checkpoint or of a dict inside it, e.g. "
                             f"embed.weight) holding the embeddings (default: '{DEFAULT_ARRAY}' or the only one)")
    steps = parser.add_mutually_exclusive_group()
    steps.add_argument("--steps-array", metavar="NAME", default=None,
                       help=f"the array of the records' step numbers in FILE (default: '{DEFAULT_STEPS}' if FILE "
                            "has it, else 0, 1, 2, ...)")
    steps.add_argument("--steps", type=int_list, default=None, metavar="S0,S1,...",
                       help="the records' step numbers")
    steps.add_argument("--every", type=positive_int, default=None, metavar="K",
                       help="the records were taken at steps 0, K, 2K, ...")
    parser.add_argument("--p", type=integer, default=None, help=P_HELP + "; required except for --task s3")
    add_task_arguments(parser)
    train = parser.add_mutually_exclusive_group(required=True)
    train.add_argument("--train", metavar="FILE",
                       help="the training set: sample indices (one column: the task's sample order) or pairs "
                            "(two columns: a b) in a .npy, .npz (array 'train' or the only one), .txt or .csv file")
    train.add_argument("--frac", type=fraction, help="draw the training set: this fraction of the samples")
    train.add_argument("--train-num", type=integer, help="draw the training set: this many samples")
    parser.add_argument("--seed", type=nonnegative_int, default=0, help="seed of the drawn training set (default 0)")
    parser.add_argument("--layernorm", action="store_true",
                        help="read each token's embedding through a LayerNorm (standardised over its components), "
                             "as a network with a LayerNorm after its embedding sees it")
    parser.add_argument("--lr", type=positive_float, default=1e-3,
                        help="the network's embedding learning rate η, for the theory's time scale (default 1e-3)")
    parser.add_argument("--critical-trials", type=nonnegative_int, default=2000,
                        help="random orders for the critical fraction (default 2000; 0 skips it)")
    parser.add_argument("--plot", metavar="PNG", help="draw the structure over steps and the last record")


# ---------------------------------------------------------------- reading files


def _array_names(arrays: dict) -> str:
    names = sorted(arrays)
    return ", ".join(names[:12]) + (f", ... ({len(names)} in all)" if len(names) > 12 else "")


def _pick(arrays: dict, name: str | None, default: str, path, option: str, required: bool = True):
    """The array ``name`` (or ``default``, or the only array) of a file's arrays; None when not
    ``required`` and nothing fits."""
    if name is not None:
        if name not in arrays:
            raise InputError(f"{option} {name!r} is not in {path} (it holds: {_array_names(arrays)})")
        return arrays[name]
    if default in arrays:
        return arrays[default]
    if required and len(arrays) == 1:
        return next(iter(arrays.values()))
    if required:
        raise InputError(f"{path} holds several arrays and none is called {default!r}: name one with {option} "
                         f"({_array_names(arrays)})")
    return None


def _load_arrays(path: Path, option: str) -> dict:
    """Every array of a .npy (under its file name), .npz or .pt/.pth file, by name."""
    suffix = path.suffix.lower()
    if not path.is_file():
        raise InputError(f"{option} {str(path)!r}: no such file")
    try:
        if suffix == ".npy":
            return {path.stem: np.load(path, allow_pickle=False)}
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
    except (ValueError, OSError, EOFError) as err:
        raise InputError(f"{option} {str(path)!r} is not a readable {suffix} file ({err})") from None
    if suffix in (".pt", ".pth"):
        try:
            from efftheory.torch import checkpoint_arrays
        except ImportError:
            raise InputError(f"{option} {str(path)!r}: reading a PyTorch checkpoint needs torch "
                             "(pip install 'efftheory[torch]')") from None
        return checkpoint_arrays(path)
    raise InputError(f"{option} {str(path)!r}: unknown file type {suffix or '(none)'!r}; use .npy, .npz, .pt or .pth")


def _load_train(path: Path):
    """Training indices or pairs from --train: .npy/.npz/.pt as arrays, .txt/.csv as numbers."""
    if path.suffix.lower() in (".txt", ".csv"):
        if not path.is_file():
            raise InputError(f"--train {str(path)!r}: no such file")
        try:
            return np.loadtxt(path, delimiter="," if path.suffix.lower() == ".csv" else None, ndmin=1)
        except ValueError as err:
            raise InputError(f"--train {str(path)!r}: not a table of numbers ({err})") from None
    return _pick(_load_arrays(path, "--train"), None, DEFAULT_TRAIN, path, "--train")


def _split(args, task):
    from efftheory.experiments.analysis import split_from_pairs
    from efftheory.tasks import Split

    if args.train is None:
        return task.split(frac=args.frac, n_train=args.train_num, seed=args.seed), (
            f"drawn with seed {args.seed}")
    train = np.asarray(_load_train(Path(args.train)))
    if train.ndim == 2 and train.shape[1] == 2:
        if not task.ordered and np.any(train[:, 0] > train[:, 1]):
            raise InputError(f"--train {args.train!r} holds pairs (a, b) with a > b: for a network trained on ordered "
                             "pairs give --ordered (pairs with a <= b only are read as unordered samples)")
        return split_from_pairs(task, train), f"pairs from {args.train}"
    if train.ndim == 1 or (train.ndim == 2 and train.shape[1] == 1):
        return Split.from_indices(task, train.ravel()), f"sample indices from {args.train}"
    raise InputError(f"--train {args.train!r}: expected sample indices (n,) or pairs (n, 2), got shape {train.shape}")


def _steps(args, arrays: dict, path, T: int):
    if args.steps is not None:
        return args.steps
    if args.every is not None:
        return np.arange(T) * args.every
    return _pick(arrays, args.steps_array, DEFAULT_STEPS, path, "--steps-array", required=args.steps_array is not None)


# ---------------------------------------------------------------- run


def run(args, ui):
    from efftheory.experiments.analysis import analyse

    plot_path = check_output_path(args.plot, "--plot")
    check_p(args.p)
    task = task_of(args)
    path = Path(args.file)
    arrays = _load_arrays(path, "FILE")
    E = np.asarray(_pick(arrays, args.array, DEFAULT_ARRAY, path, "--array"))
    split, origin = _split(args, task)
    reading = "layernorm" if args.layernorm else "raw"
    steps = _steps(args, arrays, path, E.shape[0] if E.ndim >= 3 else 1)
    with ui.progress(args.critical_trials or None, "critical fraction") as update:
        result = analyse(E, split, steps, reading=reading, lr=args.lr, critical_trials=args.critical_trials,
                         progress=update)
    if plot_path is not None:
        from efftheory.plotting.analyse import plot_analysis

        save_figure(plot_analysis(result, title=path.name), plot_path)
    out = {"file": str(path), "array": args.array, "shape": list(E.shape), "train_from": origin,
           **result.to_json()}
    return out, _text(out, plot_path)


# ---------------------------------------------------------------- text


def _text(o, plot_path) -> str:
    from efftheory.experiments.analysis_report import report_lines

    shape = o["shape"]
    steps = o["steps"]
    span = f"steps {steps[0]}..{steps[-1]}" if o["records"] > 1 else f"step {steps[0]}"
    read = ", read through a LayerNorm" if o["reading"] == "layernorm" else ""
    lines = [
        f"Embeddings: {o['file']}" + (f" '{o['array']}'" if o["array"] else "") + f", shape {tuple(shape)}: "
        f"{plural(o['records'], 'record')} ({span}){read}",
        *report_lines(o, o["train_from"]),
    ]
    if plot_path:
        lines.append(f"plot written to {plot_path}")
    return "\n".join(lines)
