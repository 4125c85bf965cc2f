"""Networks over a grid of splits against the theory's predictions: additive networks against the
linear theory (:mod:`.linear`, with the trajectory comparison of :mod:`.trajectories`) and
networks on addition mod p read as rings against the circle theory (:mod:`.ring`)."""
