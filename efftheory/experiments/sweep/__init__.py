"""Phase sweeps: a grid of two training hyper-parameters (:mod:`.grid`), one run per cell and
seed under shared settings (:mod:`.settings`), stored as they finish and resumed (:mod:`.engine`,
on :mod:`efftheory.runtime.store`), read back (:mod:`.result`); the paper's panels
(:mod:`.presets`), a stand-in cell (:mod:`.cells`) and runs shared between sweeps
(:mod:`.shared_runs`). A model's own cell is part of the model (:attr:`efftheory.models.Model.cell`)."""
