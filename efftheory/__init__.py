"""efftheory: the effective theory of representation learning behind grokking, simulated and
checked against small real networks (Liu et al., NeurIPS 2022; see docs/theory.md).

The public API is what this module exports (``__all__``); the modules behind it are the
implementation and may change.

    >>> import efftheory as et
    >>> split = et.Addition(10).split(frac=0.8, seed=0)
    >>> theory = et.linear_theory(split)        # Hessian, spectrum, dof, grokking rate, ideal accuracy
    >>> run = et.train_network(split, et.NetworkConfig(seed=0), steps=2000)
"""

from __future__ import annotations

from efftheory import _numba_cache

_numba_cache.configure()  # first: numba must learn where to cache before it is imported

from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("efftheory")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"

from efftheory.errors import InputError
from efftheory.tasks import Addition, Split
from efftheory.theory import LinearTheory, linear_theory
from efftheory.critical import CriticalCurve, critical_curve
from efftheory.metrics import normalize, predicted_accuracy, rqi
from efftheory.dynamics import ExactFlow, Trajectory, effective_gradient, effective_loss, evolve
from efftheory.simulation import Simulation, simulate
from efftheory.network import NetworkConfig, TrainResult, train_network
from efftheory.phases import PHASES, phase_of
from efftheory.sweep import PRESETS as PHASE_PRESETS
from efftheory.sweep import Axis, Grid, SweepResult, SweepSettings, first_split_seed, run_sweep
from efftheory.tasks import ModularAddition, Task, make_task
from efftheory.simulation import adam_structure_step, exact_structure_time
from efftheory.dynamics import default_step, time_scale
from efftheory.network import init_params
from efftheory.theory import parallelogram_quads, parallelograms
from efftheory.comparison import PRESETS as COMPARE_PRESETS
from efftheory.comparison import ComparisonSummary, GridRun, effective_counterpart, run_one, summarise
from efftheory.stats import wilson_interval
from efftheory.parallel import pmap
from efftheory.files import atomic_write, jsonable, save_figure, write_json
from efftheory.tasks import FiniteGroup, permutation_matrices, symmetric_group
from efftheory.metrics import matrix_predicted_accuracy, matrix_rqi
from efftheory.network_ring import NetworkRing, network_ring
from efftheory.comparison import RingRun, RingSummary, run_ring_one, summarise_rings
from efftheory.transformer import TransformerConfig, TransformerResult, train_transformer

__all__ = [
    "__version__",
    "InputError",
    "Task",
    "Addition",
    "ModularAddition",
    "make_task",
    "Split",
    "LinearTheory",
    "linear_theory",
    "parallelograms",
    "parallelogram_quads",
    "CriticalCurve",
    "critical_curve",
    "normalize",
    "rqi",
    "predicted_accuracy",
    "effective_loss",
    "effective_gradient",
    "ExactFlow",
    "Trajectory",
    "evolve",
    "time_scale",
    "default_step",
    "exact_structure_time",
    "adam_structure_step",
    "Simulation",
    "simulate",
    "NetworkConfig",
    "TrainResult",
    "train_network",
    "init_params",
    "PHASES",
    "phase_of",
    "Axis",
    "Grid",
    "SweepSettings",
    "SweepResult",
    "run_sweep",
    "PHASE_PRESETS",
    "first_split_seed",
    "COMPARE_PRESETS",
    "GridRun",
    "ComparisonSummary",
    "run_one",
    "summarise",
    "effective_counterpart",
    "wilson_interval",
    "pmap",
    "atomic_write",
    "jsonable",
    "write_json",
    "save_figure",
    "FiniteGroup",
    "symmetric_group",
    "permutation_matrices",
    "matrix_rqi",
    "matrix_predicted_accuracy",
    "NetworkRing",
    "network_ring",
    "RingRun",
    "RingSummary",
    "run_ring_one",
    "summarise_rings",
    "TransformerConfig",
    "TransformerResult",
    "train_transformer",
]
