"""Reference implementations: slow, obviously correct numpy twins of every numba kernel.

They are the oracles of the test suite and the baselines of the benchmarks, written
independently of the fast code (they share only the network's initial parameters), so that a
difference in the maths shows up. Use them to check, not to compute: they are orders of
magnitude slower.
"""
