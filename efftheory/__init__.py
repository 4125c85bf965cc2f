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

from efftheory.runtime import numba_cache as _numba_cache

if _numba_cache.configure() != "none":  # first: numba must learn where to cache before it is imported
    _numba_cache.announce_compilation()  # one line on stderr when kernels compile into an empty cache

from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("efftheory")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"

from efftheory.errors import InputError
from efftheory.tasks import Addition, Split
from efftheory.theories.linear.theory import LinearTheory, linear_theory
from efftheory.theories.linear.critical import CriticalCurve, critical_curve
from efftheory.theories.linear.metrics import normalize, predicted_accuracy, rqi
from efftheory.theories.linear.dynamics import ExactFlow, Trajectory, effective_gradient, effective_loss, evolve
from efftheory.theories.linear.simulation import Simulation, simulate
from efftheory.models.toy.kernels import NetworkConfig, train_network
from efftheory.models.base import TrainResult
from efftheory.models.phases import PHASES, phase_of
from efftheory.experiments.sweep.engine import PRESETS as PHASE_PRESETS
from efftheory.experiments.sweep.engine import Axis, Grid, SweepResult, SweepSettings, first_split_seed, run_sweep
from efftheory.tasks import ModularAddition, Task, make_task
from efftheory.theories.linear.simulation import adam_structure_step, exact_structure_time
from efftheory.theories.linear.dynamics import default_step, time_scale
from efftheory.models.toy.kernels import init_params
from efftheory.theories.linear.theory import parallelogram_quads, parallelograms
from efftheory.experiments.comparison.linear import PRESETS as COMPARE_PRESETS
from efftheory.experiments.comparison.linear import ComparisonSummary, GridRun, effective_counterpart, run_one, summarise
from efftheory.stats import wilson_interval
from efftheory.runtime.parallel import pmap
from efftheory.runtime.files import atomic_write, jsonable, save_figure, write_json
from efftheory.tasks import FiniteGroup, permutation_matrices, symmetric_group
from efftheory.theories.linear.metrics import matrix_predicted_accuracy, matrix_rqi
from efftheory.experiments.network_ring import NetworkRing, network_ring
from efftheory.experiments.comparison.linear import RingRun, RingSummary, run_ring_one, summarise_rings
from efftheory.models.transformer.kernels import TransformerConfig, TransformerResult, train_transformer

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
