"""The circle theory of addition mod p (docs/theory.md §13): one phase per symbol, rings as the
zero-loss solutions. :mod:`.ring` reads phases (and embeddings) as a ring and classifies an end
state, :mod:`.theory` linearises at a ring, :mod:`.flow` runs gradient descent on ℓ_circ,
:mod:`.probability` and :mod:`.survey` give the probability of a ring against the training
fraction, :mod:`.simulation` the flow of one split, :mod:`.interface` the theory as a
:class:`~efftheory.theories.base.Theory`."""
