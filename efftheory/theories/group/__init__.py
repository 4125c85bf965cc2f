"""The matrix theory of a finite group (docs/theory.md §14): one rotation in SO(k) per element.
:mod:`.loss` holds the equal-product pairs and ℓ_grp, :mod:`.flow` the Riemannian descent,
:mod:`.score` reads an end state, :mod:`.theory` linearises at a representation,
:mod:`.outcomes` and :mod:`.survey` give the outcomes against the training fraction,
:mod:`.simulation` the flow of one split, :mod:`.interface` the theory as a
:class:`~efftheory.theories.base.Theory`."""
