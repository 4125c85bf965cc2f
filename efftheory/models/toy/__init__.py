"""The paper's toy network (docs/theory.md §9): :mod:`.config` (NetworkConfig), :mod:`.kernels`
(forward, backward, the chunk loop), :mod:`.training` (train_network), :mod:`.cell` (its sweep
cell) and :mod:`.model` (the toy as a :class:`~efftheory.models.base.Model`)."""
