"""PyTorch side of efftheory: a probe for a plain training loop, and tensors from checkpoints.

The only module of efftheory that imports torch (``pip install 'efftheory[torch]'``);
``import efftheory`` does not import it.

:class:`Probe` reads a network's embedding matrix every ``every`` steps and records what the
task's theory says about it (the same measures as ``efftheory analyse``,
:mod:`efftheory.experiments.analysis`), to memory and optionally to a JSON-lines file::

    probe = Probe(model.embed, "modadd", train_pairs, every=100, reading="layernorm",
                  path="probe.jsonl")
    for step in range(steps + 1):
        probe(step)                      # parameters after `step` updates
        if step == steps:
            break
        loss = loss_fn(model(x), y); opt.zero_grad(); loss.backward(); opt.step()
    print(probe.summary_text()); probe.plot().savefig("probe.png")

:func:`checkpoint_arrays` reads every tensor of a ``torch.save`` file as numpy arrays by name
(``efftheory analyse run.pt --array embed.weight``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch

from efftheory.errors import InputError, require
from efftheory.runtime.files import jsonable
from efftheory.tasks import Split, Task, make_task

__all__ = ["Probe", "checkpoint_arrays", "embedding_matrix"]


# ---------------------------------------------------------------- checkpoints


def _flatten(obj, prefix: str, out: dict) -> None:
    """Tensors (and lists of numbers or of equal-shape tensors) of a checkpoint by key path."""
    if isinstance(obj, torch.Tensor):
        out[prefix] = obj.detach().cpu().numpy()
    elif isinstance(obj, dict):
        for key, value in obj.items():
            _flatten(value, f"{prefix}/{key}" if prefix else str(key), out)
    elif isinstance(obj, (list, tuple)) and obj:
        if all(isinstance(x, torch.Tensor) for x in obj) and len({tuple(x.shape) for x in obj}) == 1:
            out[prefix] = torch.stack([x.detach().cpu() for x in obj]).numpy()
        elif all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in obj):
            out[prefix] = np.asarray(obj)
        else:
            for i, value in enumerate(obj):
                _flatten(value, f"{prefix}/{i}" if prefix else str(i), out)


def checkpoint_arrays(path) -> dict[str, np.ndarray]:
    """Every tensor of a ``torch.save`` file (a tensor, a state dict, or dicts and lists of
    them), as numpy arrays named by their key path (``model/embed.weight``); a name's last part
    (``embed.weight``) names it too when no other tensor ends the same way. A lone tensor is
    named after the file. Loaded with ``weights_only=True`` (no code from the file runs)."""
    path = Path(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many kinds (pickle, zip, weights_only refusals)
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InputError(f"{str(path)!r} is not a readable PyTorch checkpoint ({reason})") from None
    out: dict[str, np.ndarray] = {}
    _flatten(obj, "" if not isinstance(obj, torch.Tensor) else path.stem, out)
    tails: dict[str, list[str]] = {}
    for name in out:
        tails.setdefault(name.rsplit("/", 1)[-1], []).append(name)
    for tail, names in tails.items():
        if len(names) == 1 and tail not in out:
            out[tail] = out[names[0]]
    require(bool(out), f"{str(path)!r} holds no tensor")
    return out


# ---------------------------------------------------------------- the probe


def embedding_matrix(source) -> np.ndarray:
    """The current embeddings of ``source`` as a float64 numpy array: an ``nn.Embedding`` (its
    weight), any module with a ``weight``, a tensor or parameter, or a callable returning one."""
    if callable(source) and not isinstance(source, (torch.nn.Module, torch.Tensor)):
        source = source()
    if isinstance(source, torch.nn.Module):
        require(isinstance(getattr(source, "weight", None), torch.Tensor),
                f"the module {type(source).__name__} has no weight tensor to read")
        source = source.weight
    require(isinstance(source, torch.Tensor), f"embedding must be a tensor, a module with a weight or a callable, "
                                              f"got {type(source).__name__}")
    return source.detach().to("cpu", torch.float64).numpy().copy()


def _task_of(task, p: int, train_pairs: np.ndarray, ordered: bool | None) -> Task:
    if isinstance(task, Task):
        return task
    require(isinstance(task, str), f"task must be a name (add, modadd, s3) or a Task, got {type(task).__name__}")
    if ordered is None:  # pairs (a, b) with a > b only exist in an ordered training set
        ordered = bool(np.any(train_pairs[:, 0] > train_pairs[:, 1]))
    from efftheory.tasks import TASKS

    require(task in TASKS, f"task must be one of {', '.join(TASKS)}, got {task!r}")
    return make_task(task, None if task == "s3" else p, ordered=ordered)


class Probe:
    """Records the theory's reading of a network's embeddings during training (module docstring).

    Args:
        embedding: what to read (:func:`embedding_matrix`): (p, d) embeddings, or for a group
            (p, k, k) matrices.
        task: "add", "modadd", "s3" or an efftheory Task; p is the embedding's row count.
        train_pairs: (n, 2) training samples (a, b), array, tensor or list; for a named task
            ``ordered`` defaults to whether any pair has a > b.
        every: record at the steps that are multiples of it.
        reading: "raw" or "layernorm" (each token standardised first, as a LayerNorm sees it).
        path: optional JSON-lines file, one object per record, written and flushed as it comes
            (opened, and emptied, when the probe is made).
        lr: the embedding learning rate η of the theory's time scale.
        critical_trials: random orders for the critical fraction in :meth:`summary`.

    Attributes:
        records: list of dicts, one per record: step, the metric, predicted accuracies and the
            theory's columns (the JSON lines).
        split: the training split.
    """

    def __init__(self, embedding, task, train_pairs, every: int = 1, *, ordered: bool | None = None,
                 reading: str = "raw", path=None, lr: float = 1e-3, critical_trials: int = 0):
        from efftheory.experiments.analysis import split_from_pairs
        from efftheory.theories import theory_for
        from efftheory.theories.track import READINGS

        require(isinstance(every, int) and not isinstance(every, bool) and every >= 1,
                f"every must be a positive integer, got {every!r}")
        require(reading in READINGS, f"reading must be one of {', '.join(READINGS)}, got {reading!r}")
        self.embedding, self.every, self.reading = embedding, every, reading
        self.lr, self.critical_trials = lr, critical_trials
        pairs = train_pairs.detach().cpu().numpy() if isinstance(train_pairs, torch.Tensor) else np.asarray(train_pairs)
        require(pairs.ndim == 2 and pairs.shape[1] == 2, f"train_pairs must be (n, 2), got shape {pairs.shape}")
        E = embedding_matrix(embedding)
        self.task = _task_of(task, E.shape[0], pairs, ordered)
        self.split: Split = split_from_pairs(self.task, pairs)
        self._theory = theory_for(self.task)
        self._theory.track(E, self.split, reading)  # refuse a wrong shape now, not at the first record
        self.records: list[dict] = []
        self._stack: list[np.ndarray] = []
        self._steps: list[int] = []
        self._file = None
        if path is not None:
            self._file = open(os.fspath(path), "w", encoding="utf-8")

    def __call__(self, step: int) -> dict | None:
        """Record at ``step`` (the number of updates done) if it is a multiple of ``every``;
        returns the record, or None when this step is not recorded."""
        require(isinstance(step, int) and step >= 0, f"step must be a non-negative integer, got {step!r}")
        if step % self.every:
            return None
        if self._steps and step <= self._steps[-1]:
            require(False, f"steps must increase: step {step} after step {self._steps[-1]}")
        E = embedding_matrix(self.embedding)
        track = self._theory.track(E, self.split, self.reading)
        record = {"step": step, track.metric_name.replace(" ", "_"): float(track.metric[0]),
                  "predicted_test_acc": float(track.predicted_test_acc[0]),
                  "predicted_full_acc": float(track.predicted_full_acc[0]),
                  **{k: v[0].item() for k, v in track.columns.items()}}
        if "key_frequencies" in track.final:
            record["key_frequencies"] = track.final["key_frequencies"]
        self.records.append(record)
        self._stack.append(E)
        self._steps.append(step)
        if self._file is not None:
            self._file.write(json.dumps(jsonable(record)) + "\n")
            self._file.flush()
        return record

    def close(self) -> None:
        """Close the JSON-lines file (records stay in memory)."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def __del__(self):  # pragma: no cover - interpreter shutdown order varies
        try:
            self.close()
        except Exception:
            pass

    @property
    def steps(self) -> np.ndarray:
        """(T,) recorded steps."""
        return np.asarray(self._steps, dtype=np.int64)

    def summary(self):
        """The :class:`efftheory.experiments.analysis.Analysis` of every record so far."""
        from efftheory.experiments.analysis import analyse

        require(bool(self._stack), "the probe has recorded nothing yet")
        return analyse(np.stack(self._stack), self.split, self.steps, reading=self.reading, lr=self.lr,
                       critical_trials=self.critical_trials)

    def summary_text(self) -> str:
        """:meth:`summary` as ``efftheory analyse`` prints it."""
        from efftheory.experiments.analysis_report import report_lines

        analysis = self.summary()
        return "\n".join(report_lines(analysis.to_json(), f"{self.split.n_train} training pairs given to the probe"))

    def plot(self, title: str = "probe"):
        """The figure of ``efftheory analyse --plot`` for the records so far."""
        from efftheory.plotting.analyse import plot_analysis

        return plot_analysis(self.summary(), title=title)
