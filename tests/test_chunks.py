"""The chunk driver every trainer shares (efftheory.models.chunks): which steps each call runs,
the progress it reports, and where a stop leaves the run."""

from __future__ import annotations

import numpy as np

from efftheory.models.chunks import Records, run_in_chunks
from efftheory.models.shared_kernels import DIVERGED, RAN


def _fake_loop(rec, steps, eval_every, stop_at=None):
    """A loop kernel in Python: records steps 0, k, 2k, ... and the last; stops at ``stop_at``."""
    calls = []

    def run_chunk(t0, t1):
        calls.append((t0, t1))
        for t in range(t0, t1):
            if t % eval_every == 0 or t == steps or t == stop_at:
                rec.f[rec.rows, 0] = t
                rec.pos[0] += 1
            if t == stop_at:
                return DIVERGED
        return RAN

    return run_chunk, calls


def test_every_step_runs_once_in_order_and_progress_adds_up_to_the_budget():
    rec = Records.allocate(1234, 10, 3)
    run, calls = _fake_loop(rec, 1234, 10)
    seen = []
    outcome, done = run_in_chunks(run, 1234, 500, rec, progress=seen.append)
    assert outcome == RAN and done == 1234
    assert calls == [(0, 500), (500, 1000), (1000, 1235)]  # step 1234 is evaluated, not updated
    assert seen == [500, 500, 234] and sum(seen) == 1234
    assert rec.rows == 1234 // 10 + 2 and rec.last_step() == 1234
    assert rec.f.shape[0] >= rec.rows  # the buffer holds every record


def test_a_stop_ends_the_run_at_its_recorded_step():
    rec = Records.allocate(1000, 10, 3, n_first=2)
    run, calls = _fake_loop(rec, 1000, 10, stop_at=617)
    seen = []
    outcome, done = run_in_chunks(run, 1000, 300, rec, progress=seen.append)
    assert outcome == DIVERGED and done == 617 and sum(seen) == 617
    assert calls[-1] == (600, 900)
    assert rec.firsts() == (None, None)


def test_until_stops_between_chunks():
    rec = Records.allocate(1000, 10, 3)
    run, calls = _fake_loop(rec, 1000, 10)
    outcome, done = run_in_chunks(run, 1000, 100, rec, until=lambda: rec.last_step() >= 250)
    assert outcome == RAN and done == 300 and calls[-1] == (200, 300)


def test_records_allocate_their_shapes():
    rec = Records.allocate(100, 7, 5, (4, 3), n_first=3)
    assert rec.f.shape == (100 // 7 + 3, 5) and np.isnan(rec.f).all()
    assert rec.emb.shape == (100 // 7 + 3, 4, 3) and rec.first.tolist() == [-1, -1, -1] and rec.rows == 0


def test_records_too_large_for_memory_are_refused_before_the_run():
    import pytest

    from efftheory.errors import InputError
    from efftheory.models.chunks import MAX_RECORD_BYTES

    # the paper's transformer (59 x 256 embeddings) evaluated at every one of 10^5 steps: 12 GB
    with pytest.raises(InputError, match=r"evaluate every (\d+) steps or more") as err:
        Records.allocate(100_000, 1, 5, (59, 256))
    least = int(err.value.args[0].split("evaluate every ")[1].split()[0])
    assert least > 1
    n = 100_000 // least + 3  # the advice fits, and one less would not
    assert n * 8 * (5 + 59 * 256) <= MAX_RECORD_BYTES < (100_000 // (least - 1) + 3) * 8 * (5 + 59 * 256)


def test_train_refuses_records_too_large_in_one_line(cli_error):
    cli_error("train", "transformer", "--paper-size", "--p", "59", "--frac", "0.8", "--steps", "1e5",
              "--eval-every", "1", needles=["recording every 1 of 100000 steps", "--eval-every"])

