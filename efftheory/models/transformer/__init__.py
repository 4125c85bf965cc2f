"""The paper's transformer on addition mod p (docs/theory.md §15): :mod:`.config`
(TransformerConfig), :mod:`.layout` (where parameters and activations sit), :mod:`.ops` (the
loops between the matrix products), :mod:`.kernels` (forward, backward, dropout sites, the chunk
loop), :mod:`.training` (train_transformer), :mod:`.cell` (its sweep cell) and :mod:`.model` (the
transformer as a :class:`~efftheory.models.base.Model`)."""
