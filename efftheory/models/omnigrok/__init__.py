"""The Omnigrok MLP on images: a ReLU MLP started at a large weight norm (:mod:`.training`; its
numba kernels :mod:`.kernels`; the registered :class:`~efftheory.models.base.Model` :mod:`.model`)."""
