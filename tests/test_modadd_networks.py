"""Networks on modular addition read as rings, against the circle theory (docs/theory.md §13):
ring fits of constructed embeddings, the network/theory comparison of one run and of a grid,
and the commands ``train|compare|phase --task modadd``."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from efftheory.theories.circle.ring import circle_rqi, classify_outcome, modular_quads, ring_fit, ring_frequency
from efftheory.theories.circle.probability import ring_probability
from efftheory.theories.circle.flow import settle
from efftheory.models.toy.model import MODADD_CONFIG
from efftheory.experiments.comparison.ring import RingRun, run_ring_one, summarise_rings
from efftheory.experiments.network_ring import network_ring
from efftheory.theories.circle.ring import fit_phases
from efftheory.reference import circle as naive
from efftheory.stats import wilson_interval
from efftheory.tasks import Addition, ModularAddition


def ring_embeddings(p, f, d=2, seed=0, radius=1.7):
    """An exact ring of frequency f (p, d): cos/sin of 2πfa/p in a random plane of R^d, scaled and shifted."""
    a = np.arange(p)
    plane = np.stack([np.cos(2 * np.pi * f * a / p + 0.4), np.sin(2 * np.pi * f * a / p + 0.4)], axis=1)
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    return radius * plane @ Q[:2] + rng.standard_normal(d)


# ---------------------------------------------------------------- constructed rings


@pytest.mark.parametrize("p, f, d", [(13, 1, 2), (13, 5, 2), (17, 8, 2), (17, 3, 4), (11, 10, 3)])
def test_ring_fit_reads_the_frequency_of_an_exact_ring(p, f, d):
    fit = ring_fit(ring_embeddings(p, f, d, seed=f))
    assert abs(fit.frequency) == min(f, p - f)  # f and p - f: one ring, either orientation
    if d == 2:
        assert fit.coherence == pytest.approx(1.0, abs=1e-12) and fit.variance_explained == pytest.approx(1.0)
        assert circle_rqi(fit.phases, modular_quads(p)) == 1.0
    else:
        # a circle in a plane tilted against the axes: the per-dimension normalisation (docs §7)
        # stretches it into an ellipse, so the phases are no longer evenly spaced
        assert 0.95 < fit.coherence < 1.0


def test_in_two_dimensions_the_fit_is_invariant_under_per_dimension_scale_and_shift():
    # a circle has equal variance along every axis; scaling one axis and normalising undoes it exactly
    E = ring_embeddings(13, 4, seed=7)
    fit, scaled = ring_fit(E), ring_fit(E * np.array([3.0, -0.2]) + np.array([5.0, -1.0]))
    assert abs(scaled.frequency) == 4 and scaled.coherence == pytest.approx(1.0, abs=1e-12)
    assert circle_rqi(scaled.phases, modular_quads(13)) == 1.0 and abs(fit.frequency) == 4


def test_fit_phases_leaves_unfittable_steps_out():
    p = 11
    good = ring_embeddings(p, 3)
    stack = np.stack([good, np.full((p, 2), np.nan), np.c_[good[:, 0], np.ones(p)]])
    phases, coh, var = fit_phases(stack)
    assert np.all(np.isfinite(phases[0])) and coh[0] == pytest.approx(1.0)
    assert np.all(np.isnan(phases[1:])) and np.all(np.isnan(coh[1:])) and np.all(np.isnan(var[1:]))


def test_fit_phases_is_ring_fit_at_every_step():
    rng = np.random.default_rng(4)
    E = rng.standard_normal((40, 9, 3))
    E[7, :, 1] = 2.5  # one constant dimension: that step is fitted in the remaining plane
    E[8, :, :2] = 0.0  # two constant dimensions: no plane
    phases, coh, var = fit_phases(E)
    for t in range(40):
        if t == 8:
            assert np.isnan(coh[t])
            continue
        fit = ring_fit(E[t])
        assert abs(ring_frequency(phases[t])[0]) == abs(fit.frequency)
        assert coh[t] == pytest.approx(fit.coherence, abs=1e-12) and var[t] == pytest.approx(fit.variance_explained)
        assert circle_rqi(phases[t], modular_quads(9)) == circle_rqi(fit.phases, modular_quads(9))


def _fake_run(p, frac, E0, embeddings, seed=0):
    """What network_ring reads of a TrainResult, built by hand."""
    split = ModularAddition(p).split(frac=frac, seed=seed)
    steps = np.arange(len(embeddings)) * 10
    return SimpleNamespace(split=split, config=SimpleNamespace(dim=E0.shape[1]), E0=E0,
                           embeddings=np.asarray(embeddings), steps=steps)


def test_network_ring_of_a_constructed_run_and_the_mirror():
    p, g = 13, 3
    E0 = ring_embeddings(p, g, seed=1)  # already a ring: the circle flow stays there
    random = np.random.default_rng(0).standard_normal((p, 2))
    for final_f, match in ((g, True), (p - g, True), (5, False)):
        run = _fake_run(p, 0.6, E0, [random, ring_embeddings(p, 1, seed=2), ring_embeddings(p, final_f, seed=3)])
        ring = network_ring(run)
        assert ring.theory_outcome == "ring" and abs(ring.theory_frequency) == g and ring.theory_steps <= 1
        assert ring.ringed and ring.final_frequency == min(final_f, p - final_f)
        assert ring.frequency_match is match
        # the first step (random phases) is no ring; the second already is (frequency 1)
        assert ring.circle_rqi[0] < 0.2 and ring.circle_rqi[1] == 1.0 and ring.steps_to_ring == 10
        np.testing.assert_allclose(ring.theta0, ring_fit(E0).phases)
    d = ring.to_dict()
    assert d["ring_frequency"] == 5 and d["theory_frequency"] == g and d["frequency_match"] is False


def test_network_ring_without_a_ring_compares_nothing():
    p = 13
    E0 = ring_embeddings(p, 2)
    collapsed_end = np.ones((p, 2))  # constant embeddings: no plane to fit, no ring
    ring = network_ring(_fake_run(p, 0.6, E0, [E0, collapsed_end]))
    assert not ring.ringed and ring.frequency_match is None and ring.circle_rqi[-1] == 0.0
    assert ring.final_frequency == 0 and np.isnan(ring.coherence[-1])


def test_network_ring_refuses_a_line_and_addition():
    from efftheory.errors import InputError

    E0 = np.random.default_rng(0).standard_normal((7, 1))
    with pytest.raises(InputError, match="a ring needs a plane"):
        network_ring(_fake_run(7, 0.6, E0, [E0]))
    run = _fake_run(7, 0.6, np.ones((7, 2)), [np.ones((7, 2))])
    run.split = Addition(7).split(frac=0.6, seed=0)
    with pytest.raises(InputError, match="modular addition"):
        network_ring(run)


def test_settle_matches_the_twin_per_member_on_its_own_training_set():
    p = 9
    samples = naive.samples(p)
    rng = np.random.default_rng(3)
    train = [np.array([samples[i] for i in np.sort(rng.choice(len(samples), 25, replace=False))]) for _ in range(2)]
    theta0 = rng.uniform(0, 2 * np.pi, (2, p))
    rest = settle(theta0, train, max_steps=400, gtol=1e-9)
    for b in range(2):
        qs = naive.quads(p, [tuple(s) for s in train[b]])
        lr = 1.0 / (np.linalg.eigvalsh(naive.hessian(p, qs))[-1] / len(qs))
        theta, loss, steps = naive.descend(theta0[b], qs, lr, 400, 1e-9)
        assert rest.lr[b] == pytest.approx(lr, rel=1e-12) and rest.steps[b] == steps
        np.testing.assert_allclose(rest.theta[b], theta, atol=1e-9)
        assert rest.loss[b] == pytest.approx(loss, abs=1e-12)
    assert list(rest.outcomes) == list(classify_outcome(rest.theta, rest.loss))


# ---------------------------------------------------------------- a real network


@pytest.fixture(scope="module")
def real_run():
    from efftheory.models.toy.training import train_network

    split = ModularAddition(11).split(frac=0.6, seed=1)
    import dataclasses

    result = train_network(split, dataclasses.replace(MODADD_CONFIG, seed=1), 400, eval_every=20)
    return result, network_ring(result)


def test_network_ring_of_a_real_run_is_the_ring_fit_of_its_embeddings(real_run):
    result, ring = real_run
    p = 11
    assert ring.steps.tolist() == result.steps.tolist() and ring.phases.shape == (len(result.steps), p)
    for t in (0, len(result.steps) // 2, -1):
        fit = ring_fit(result.embeddings[t])
        assert abs(ring.frequency[t]) == abs(fit.frequency) and ring.coherence[t] == pytest.approx(fit.coherence)
        assert ring.circle_rqi[t] == circle_rqi(fit.phases, modular_quads(p))
    assert ring.ringed == (ring.circle_rqi[-1] >= 0.95)
    # the theory starts from E0's own phases and ends where the descent on this training set rests
    np.testing.assert_allclose(ring.theta0, ring_fit(result.E0).phases)
    rest = settle(ring.theta0, result.split.train_pairs)
    np.testing.assert_allclose(ring.theory_theta, rest.theta[0])
    assert ring.theory_outcome == rest.outcomes[0]
    if ring.theory_outcome == "ring":
        assert abs(ring.theory_frequency) == abs(ring_frequency(ring.theory_theta)[0])


# ---------------------------------------------------------------- grid summary


def _ring_run(n, seed, ringed, generalised, outcome, match, f=3):
    return RingRun(n_train=n, seed=seed, frac=n / 66, free_directions=0, final_train_acc=1.0,
                   final_test_acc=1.0 if generalised else 0.2, generalised=generalised, steps_to_test=None,
                   phase="memorization", diverged=False, ringed=ringed, steps_to_ring=None, ring_frequency=f,
                   ring_coherence=1.0, ring_circle_rqi=1.0 if ringed else 0.1, ring_variance_explained=1.0,
                   theory_outcome=outcome, theory_frequency=3, frequency_match=match, seconds=0.1)


def test_summarise_rings_counts_and_intervals():
    runs = [_ring_run(30, 0, True, True, "ring", True), _ring_run(30, 1, True, False, "ring", False),
            _ring_run(30, 2, False, False, "stalled", None), _ring_run(50, 0, True, True, "ring", True),
            _ring_run(50, 1, False, False, "ring", None),
            RingRun(**{**_ring_run(50, 2, True, True, "ring", True).to_dict(), "diverged": True})]
    s = summarise_rings(runs, 11, 66)
    assert s.runs == 6 and s.diverged == 1 and s.n == [30, 50] and s.frac == [30 / 66, 50 / 66]
    assert s.ring_rate == [2 / 3, 1 / 2] and s.ring_ci[0] == wilson_interval(2, 3)
    assert s.generalised_rate == [1 / 3, 1 / 2] and s.flow_ring_rate == [2 / 3, 1.0]
    assert s.match_counts == [(1, 2), (1, 1)] and s.match_total == (2, 3)
    assert s.match_total_rate == pytest.approx(2 / 3) and s.match_total_ci == wilson_interval(2, 3)
    assert s.chance_match == 1 / 5 and s.theory_ring_probability == [None, None]


# ---------------------------------------------------------------- commands


SMALL = ["--task", "modadd", "--p", "11", "--frac", "0.6", "--steps", "200", "--width", "24", "--seed", "1"]


def test_train_modadd_json(cli_json, tmp_path):
    out = cli_json("train", *SMALL, "--plot", str(tmp_path / "r.png"), "--save", str(tmp_path / "r.npz"))
    for key in ("ring_frequency", "ring_coherence", "ring_variance_explained", "ring_circle_rqi", "ringed",
                "theory_outcome", "theory_frequency", "frequency_match", "final_test_acc", "phase",
                "ring_free_directions", "steps_to_ring"):
        assert key in out, key
    assert out["task"] == "modadd" and out["dim"] == 2 and out["loss"] == "ce" and out["steps"] == 200
    assert out["theory_outcome"] in ("ring", "collapsed", "stalled", "fits-without-ring")
    assert out["frequency_match"] is None or (out["ringed"] and out["theory_outcome"] == "ring")
    assert out["ring_variance_explained"] == pytest.approx(1.0)  # d = 2: the plane is everything
    data = np.load(tmp_path / "r.npz")
    assert data["ring_circle_rqi"][-1] == pytest.approx(out["ring_circle_rqi"])
    assert abs(int(data["ring_frequency"][-1])) == out["ring_frequency"]
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"


def test_train_add_is_unchanged_by_the_task_option(cli_json):
    base = ["--p", "6", "--train-num", "16", "--steps", "60", "--width", "16", "--seed", "2"]
    plain, explicit = cli_json("train", *base), cli_json("train", *base, "--task", "add")
    for key in ("final_test_acc", "final_rqi", "steps_to_train", "loss", "dof"):
        assert plain[key] == explicit[key]
    assert plain["loss"] == "mse" and "ring_frequency" not in plain


@pytest.mark.parametrize("args, needle", [
    (["--task", "modadd", "--p", "11", "--frac", "0.6", "--dim", "1"], "a ring needs a plane"),
    (["--task", "modadd", "--p", "2", "--frac", "0.6"], "p >= 3"),
    (["--task", "mod", "--p", "11", "--frac", "0.6"], "invalid choice"),
])
def test_train_modadd_bad_input_is_one_line(cli_error, args, needle):
    cli_error("train", *args, needles=[needle])


def test_compare_modadd_tiny_grid(cli_json):
    out = cli_json("compare", "--task", "modadd", "--p", "11", "--fracs", "0.5,0.8", "--seeds", "0,1",
                   "--steps", "60", "--width", "16", "--jobs", "1", "--ring-trials", "40")
    assert out["task"] == "modadd" and out["train_nums"] == [33, 53] and out["runs"] == 4
    assert len(out["ring_rate"]) == 2 and len(out["ring_ci"]) == 2 and len(out["theory_ring_probability"]) == 2
    recs = out["run_records"]
    for k, n in enumerate(out["train_nums"]):
        mine = [r for r in recs if r["n_train"] == n]
        assert out["ring_rate"][k] == sum(r["ringed"] for r in mine) / len(mine)
        assert out["flow_ring_rate"][k] == sum(r["theory_outcome"] == "ring" for r in mine) / len(mine)
        prob = ring_probability(11, n / 66, 40, seed=0)
        assert out["theory_ring_probability"][k] == prob.fraction["ring"]
    for r in recs:
        assert (r["frequency_match"] is None) == (not (r["ringed"] and r["theory_outcome"] == "ring"))
    assert out["chance_frequency_match"] == 0.2 and out["settings"]["dim"] == 2


@pytest.mark.parametrize("args, needle", [
    (["--fracs", "0.5,1.5"], "--fracs must be a comma-separated list of fractions"),
    (["--fracs", "0.01"], "outside [2, 65]"),
    (["--dim", "1"], "a ring needs a plane"),
    (["--preset", "comprehension"], "--preset is for --task add"),
])
def test_compare_modadd_bad_input_is_one_line(cli_error, args, needle):
    cli_error("compare", "--task", "modadd", "--p", "11", "--seeds", "0", "--steps", "10", "--jobs", "1", *args,
              needles=[needle])


def test_run_ring_one_is_the_network_and_its_ring():
    task = ModularAddition(11)
    run = run_ring_one(task, 40, 3, 50, MODADD_CONFIG)
    assert run.n_train == 40 and run.seed == 3 and run.frac == 40 / 66
    assert run.ringed == (run.ring_circle_rqi >= 0.95)


# ---------------------------------------------------------------- phase --task modadd


def test_phase_modadd_2x2(cli_json, tmp_path):
    out = cli_json("phase", "--task", "modadd", "--p", "11", "--frac", "0.6", "--x", "embed_lr",
                   "--x-range", "1e-3:1e-2:2:log", "--y", "decoder_lr", "--y-range", "1e-4:1e-3:2:log",
                   "--steps", "40", "--jobs", "1", "--out", str(tmp_path / "s"))
    assert out["task"] == "modadd" and out["network"] == {"dim": 2, "loss": "ce"} and out["runs"] == 4
    assert np.array(out["phases"]).shape == (2, 2)


def test_network_cell_builds_the_named_task_and_add_is_unchanged():
    import dataclasses

    from efftheory.models.toy.config import NetworkConfig
    from efftheory.models.toy.training import train_network
    from efftheory.experiments.sweep.settings import SweepSettings
    from efftheory.models.toy.cell import network_cell

    settings = {"embed_lr": 1e-2, "decoder_lr": 1e-3}
    mod = SweepSettings(p=11, frac=0.6, steps=30, network={"dim": 2, "loss": "ce"}, task="modadd", early_stop=False)
    out = network_cell(settings, mod.run_fixed(0))
    split = ModularAddition(11).split(frac=0.6, seed=0)
    direct = train_network(split, NetworkConfig(dim=2, loss="ce", seed=0, **settings), 30)
    assert out["final_test_acc"] == float(direct.test_acc[-1]) and out["t_train"] == direct.steps_to_train
    # addition: the manifest has no task key (old sweeps resume), and the cell is what it was
    add = SweepSettings(p=6, n_train=16, steps=30, early_stop=False)
    assert "task" not in add.to_dict() and add.task == "add" and mod.to_dict()["task"] == "modadd"
    fixed = add.run_fixed(0)
    same = network_cell(settings, {**fixed, "task": "add"})
    assert network_cell(settings, fixed) == same
    direct = train_network(Addition(6).split(n_train=16, seed=0), dataclasses.replace(NetworkConfig(seed=0), **settings), 30)
    assert same["final_test_acc"] == float(direct.test_acc[-1]) and same["final_rqi"] == float(direct.rqi[-1])
