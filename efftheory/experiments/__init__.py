"""Experiments built on the tasks, theories and models: the comparison of networks with the
theory over a grid of splits, phase sweeps, and reading a network's embeddings as a ring."""
