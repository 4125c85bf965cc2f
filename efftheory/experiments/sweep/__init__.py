"""Phase sweeps: a grid of two training hyper-parameters, one run per cell and seed, stored as
they finish and resumed (:mod:`.engine`), runs shared between sweeps (:mod:`.shared_runs`)."""
