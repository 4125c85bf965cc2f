"""Counter-based dropout masks: the hash is SplitMix64 (published outputs), the keep rate and
the scale are right, and a mask depends only on (key, counter)."""

from __future__ import annotations

import numpy as np
import pytest

from efftheory.models.dropout import base_key, keep_factor, step_key, uniform
from efftheory.reference import transformer as naive

# the hash's arithmetic is modulo 2^64 on purpose: run as plain Python (CI's pass with the JIT
# off) numpy warns of the wrap-around that the compiled kernel does silently
pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")

# the first five outputs of the reference SplitMix64 generator seeded with 1234567
SPLITMIX_1234567 = (6457827717110365317, 3203168211198807973, 9817491932198370423, 4593380528125082431,
                    16408922859458223821)


def test_uniform_reads_the_splitmix64_sequence():
    """u(key, c) is the top 53 bits of output c + 1 of SplitMix64 seeded with the key."""
    for c, out in enumerate(SPLITMIX_1234567):
        assert uniform(np.uint64(1234567), c) == (out >> 11) / 2.0**53


def test_kernel_and_numpy_twin_draw_the_same_masks():
    key = step_key(base_key(3), 17)
    assert int(key) == naive.step_key(base_key(3), 17)
    twin = naive.dropout_multipliers(0.3, key, 1, 2, (5, 2, 7))
    fast = np.array([keep_factor(key, (4 * 1 + 2) * 2**40 + i, 0.3) for i in range(70)]).reshape(5, 2, 7)
    np.testing.assert_array_equal(fast, twin)


@pytest.mark.parametrize("rate", [0.05, 0.5, 0.9])
def test_keep_rate_and_scale(rate):
    """Over 20000 units the kept share is 1 − rate within 5 standard errors and the mean
    multiplier is 1 (inverted dropout keeps the expected activation)."""
    key = step_key(base_key(0), 0)
    f = np.array([keep_factor(key, c, rate) for c in range(20000)])
    kept = f > 0
    se = np.sqrt(rate * (1 - rate) / f.size)
    assert abs(kept.mean() - (1 - rate)) < 5 * se
    np.testing.assert_allclose(f[kept], 1.0 / (1.0 - rate))
    assert abs(f.mean() - 1.0) < 5 * se / (1 - rate)


def test_steps_and_seeds_draw_different_masks():
    def mask(seed, t):
        key = step_key(base_key(seed), t)
        return np.array([keep_factor(key, c, 0.5) for c in range(256)])

    a = mask(0, 0)
    assert not np.array_equal(a, mask(0, 1))
    assert not np.array_equal(a, mask(1, 0))
    np.testing.assert_array_equal(a, mask(0, 0))
    # neighbouring steps' masks are uncorrelated: about half the units agree
    assert 0.35 < np.mean((a > 0) == (mask(0, 1) > 0)) < 0.65


def test_uniform_covers_the_unit_interval():
    key = step_key(base_key(5), 2)
    u = np.array([uniform(key, c) for c in range(10000)])
    assert u.min() >= 0.0 and u.max() < 1.0
    counts, _ = np.histogram(u, bins=10, range=(0, 1))
    assert counts.min() > 850 and counts.max() < 1150  # 1000 expected per bin, sd about 30
