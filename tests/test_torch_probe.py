"""efftheory.torch: the probe, checkpoints, and the PyTorch twin of the transformer in examples/.

Skipped where torch is not installed; .ci/run installs torch==2.13.0 and runs these (-m torch).
"""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import efftheory as et  # noqa: E402
from efftheory.experiments.analysis import analyse  # noqa: E402
from efftheory.tasks import ModularAddition  # noqa: E402
from efftheory.torch import Probe, checkpoint_arrays  # noqa: E402
from efftheory.models.transformer.config import TransformerConfig  # noqa: E402
from efftheory.models.transformer.layout import init_params  # noqa: E402
from efftheory.models.transformer.training import loss_and_gradient, train_transformer  # noqa: E402
from tests.conftest import ROOT  # noqa: E402

pytestmark = pytest.mark.torch


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("torch_transformer_probe",
                                                  ROOT / "examples" / "torch_transformer_probe.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _flat_grad(model, layout, like):
    """The twin's gradients in efftheory's flat parameter order."""
    G = np.zeros_like(like)
    P = layout.unpack(G)
    P["E"][...] = model.embed.weight.grad.numpy()
    for b, blk in zip(model.blocks, P["blocks"]):
        for name in blk:
            blk[name][...] = getattr(b, name).grad.numpy()
    for name in ("lnf_g", "lnf_b", "W_out", "b_out"):
        if name in P:
            P[name][...] = getattr(model, name).grad.numpy()
    return G


@pytest.mark.parametrize("layers,final_ln", [(1, True), (2, False)])
def test_the_twin_has_efftheorys_loss_and_gradient(example, layers, final_ln):
    """float64: the PyTorch twin from efftheory's θ0 gives efftheory's loss and gradient to round-off."""
    split = ModularAddition(7, ordered=True).split(frac=0.8, seed=0)
    cfg = TransformerConfig(dim=8, width=12, layers=layers, final_ln=final_ln, dtype="float64", seed=1)
    theta0, layout = init_params(7, cfg)
    model = example.Transformer(theta0, layout, cfg, torch.float64)
    task = split.task
    loss = torch.nn.functional.cross_entropy(model(torch.tensor(task.pairs[split.train])),
                                             torch.tensor(task.labels[split.train]))
    loss.backward()
    want_loss, want_grad = loss_and_gradient(split, cfg)
    assert loss.item() == pytest.approx(want_loss, rel=1e-13)
    got = _flat_grad(model, layout, theta0)
    assert np.max(np.abs(got - want_grad)) <= 1e-12 * np.max(np.abs(want_grad))


def test_the_twin_tracks_efftheorys_transformer(example):
    """Same θ0, same split, same AdamW: after 100 float64 steps the embeddings agree to 1e-9 of
    their size and every recorded accuracy is equal."""
    split = ModularAddition(7, ordered=True).split(frac=0.8, seed=0)
    cfg = TransformerConfig(dim=8, width=16, dtype="float64", seed=0)
    probe, run = example.train(split, cfg, 100, 10, dtype=torch.float64)
    ours = train_transformer(split, cfg, 100, eval_every=10)
    assert np.array_equal(run["steps"], ours.steps)
    scale = np.max(np.abs(ours.raw_embeddings))
    assert np.max(np.abs(run["embeddings"] - ours.raw_embeddings)) < 1e-9 * scale
    assert np.array_equal(run["train_acc"], ours.train_acc) and np.array_equal(run["test_acc"], ours.test_acc)
    assert np.array_equal(probe.summary().track.metric, ours.rqi, equal_nan=True)


def test_probe_records_what_analyse_reads(tmp_path):
    split = et.Addition(9).split(frac=0.7, seed=0)
    emb = torch.nn.Embedding(9, 2, dtype=torch.float64)
    probe = Probe(emb, "add", split.train_pairs, every=5, path=tmp_path / "p.jsonl")
    stack = []
    for step in range(21):
        if probe(step) is not None:
            stack.append(emb.weight.detach().numpy().copy())
        with torch.no_grad():  # move the embeddings towards a line
            emb.weight.mul_(0.7).add_(0.3 * torch.arange(9.0, dtype=torch.float64)[:, None])
    probe.close()
    assert probe.steps.tolist() == [0, 5, 10, 15, 20]
    want = analyse(np.stack(stack), split, probe.steps, critical_trials=0)
    lines = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [0, 5, 10, 15, 20]
    assert [r["RQI"] for r in lines] == want.track.metric.tolist() == [r["RQI"] for r in probe.records]
    assert [r["predicted_test_acc"] for r in lines] == want.track.predicted_test_acc.tolist()
    summary = probe.summary()
    assert summary.formed_at == want.formed_at and summary.formed_at is not None
    assert "Linear theory of the split" in probe.summary_text()
    assert probe.plot().axes


def test_probe_infers_the_task_and_refuses_bad_input():
    ordered = ModularAddition(7, ordered=True).split(frac=0.6, seed=0)
    probe = Probe(torch.randn(7, 3), "modadd", torch.tensor(ordered.train_pairs))
    assert probe.task.ordered and probe.task.p == 7 and np.array_equal(probe.split.train, ordered.train)
    with pytest.raises(et.InputError, match="rows"):
        Probe(torch.randn(7, 3), et.Addition(8), [[0, 1]])
    probe(0)
    with pytest.raises(et.InputError, match="increase"):
        probe(0)
    group = Probe(lambda: torch.tensor(et.permutation_matrices(3)), "s3", et.make_task("s3").pairs[:20])
    assert group(0)["matrix_RQI"] == 1.0


def test_checkpoint_tensors_by_name(tmp_path, cli_json):
    """A state dict inside a checkpoint dict; the CLI finds the tensor by its short name."""
    split = ModularAddition(11).split(frac=0.6, seed=0)
    a = np.arange(11)
    E = torch.tensor(np.stack([np.cos(2 * np.pi * 3 * a / 11), np.sin(2 * np.pi * 3 * a / 11)], axis=1))
    stack = torch.stack([torch.randn(11, 2, dtype=torch.float64), E])
    torch.save({"model": {"embed.weight": stack, "other.weight": torch.zeros(3)}, "steps": [0, 500],
                "train": torch.tensor(split.train_pairs)}, tmp_path / "run.pt")
    arrays = checkpoint_arrays(tmp_path / "run.pt")
    assert np.array_equal(arrays["embed.weight"], stack.numpy()) and "model/embed.weight" in arrays
    o = cli_json("analyse", tmp_path / "run.pt", "--array", "embed.weight", "--task", "modadd", "--p", 11,
                 "--train", tmp_path / "run.pt", "--critical-trials", 0)
    assert o["steps"] == [0, 500] and o["structure"]["metric"][1] == 1.0 and o["formed_at"] == 500


def test_an_unreadable_checkpoint_is_one_line(tmp_path, cli_error):
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    cli_error("analyse", tmp_path / "bad.pt", "--task", "add", "--p", 5, "--frac", 0.5,
              needles=("not a readable PyTorch checkpoint",))
