"""The linear theory of addition (docs/theory.md §3-§9): the Hessian of the parallelogram loss,
its spectrum, dof, grokking rate and ideal accuracy (:mod:`.theory`), the critical training-set
size (:mod:`.critical`), the effective dynamics (:mod:`.dynamics`, :mod:`.simulation`), the
representation quality index (:mod:`.metrics`), and the theory as a
:class:`~efftheory.theories.base.Theory` (:mod:`.interface`)."""
