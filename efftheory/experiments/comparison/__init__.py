"""Networks over a grid of splits against the theory's predictions: the linear comparison
(addition, :mod:`.linear`) and the ring comparison (addition mod p)."""
