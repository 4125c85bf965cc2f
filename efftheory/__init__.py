"""efftheory: the effective theory of representation learning behind grokking, simulated and
checked against small real networks (Liu et al., NeurIPS 2022; see docs/theory.md).

The public API is what this module exports (``__all__``), grouped as the package is: tasks
(``efftheory.tasks``), theories (``efftheory.theories``: linear, circle, group), models
(``efftheory.models``: toy, transformer), experiments (``efftheory.experiments``: comparisons,
phase sweeps) and runtime helpers (``efftheory.runtime``). The modules behind it are the
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

# ---------------------------------------------------------------- errors and statistics
from efftheory.errors import InputError
from efftheory.stats import wilson_interval

# ---------------------------------------------------------------- tasks
from efftheory.tasks import (TASKS, Addition, FiniteGroup, ModularAddition, Split, Task, TaskSpec, make_task,
                             permutation_matrices, register_task, symmetric_group)
from efftheory.tasks.parallelograms import parallelogram_quads, parallelograms

# ---------------------------------------------------------------- theories: the interface
from efftheory.theories import THEORIES, Score, Structure, Theory, register_theory, theory_for

# ---------------------------------------------------------------- the linear theory
from efftheory.theories.linear.critical import CriticalCurve, critical_curve
from efftheory.theories.linear.dynamics import (ExactFlow, Trajectory, default_step, effective_gradient, effective_loss,
                                                evolve, time_scale)
from efftheory.theories.linear.metrics import matrix_predicted_accuracy, matrix_rqi, normalize, predicted_accuracy, rqi
from efftheory.theories.linear.simulation import Simulation, adam_structure_step, exact_structure_time, simulate
from efftheory.theories.linear.theory import LinearTheory, linear_theory

# ---------------------------------------------------------------- models
from efftheory.models import MODELS, Model, TrainResult, register_model
from efftheory.phases import PHASES, phase_of
from efftheory.models.toy.config import NetworkConfig
from efftheory.models.toy.kernels import init_params
from efftheory.models.toy.training import train_network
from efftheory.models.transformer.config import TransformerConfig
from efftheory.models.transformer.training import TransformerResult, train_transformer

# ---------------------------------------------------------------- experiments
from efftheory.experiments.analysis import Analysis, analyse
from efftheory.experiments.comparison.linear import PRESETS as COMPARE_PRESETS
from efftheory.experiments.comparison.linear import ComparisonSummary, GridRun, run_one, summarise
from efftheory.experiments.comparison.ring import RingRun, RingSummary, run_ring_one, summarise_rings
from efftheory.experiments.comparison.trajectories import effective_counterpart
from efftheory.experiments.network_ring import NetworkRing, network_ring
from efftheory.experiments.sweep.engine import run_sweep
from efftheory.experiments.sweep.grid import Axis, Grid
from efftheory.experiments.sweep.presets import PRESETS as PHASE_PRESETS
from efftheory.experiments.sweep.presets import first_split_seed
from efftheory.experiments.sweep.result import SweepResult
from efftheory.experiments.sweep.settings import SweepSettings

# ---------------------------------------------------------------- runtime helpers
from efftheory.runtime.files import atomic_write, jsonable, save_figure, write_json
from efftheory.runtime.parallel import pmap

__all__ = [
    "__version__",
    # errors and statistics
    "InputError", "wilson_interval",
    # tasks
    "Task", "TaskSpec", "TASKS", "register_task", "make_task", "Split", "Addition", "ModularAddition", "FiniteGroup",
    "symmetric_group", "permutation_matrices", "parallelograms", "parallelogram_quads",
    # theories: the interface
    "Theory", "Structure", "Score", "THEORIES", "register_theory", "theory_for",
    # the linear theory
    "LinearTheory", "linear_theory", "CriticalCurve", "critical_curve", "normalize", "rqi", "predicted_accuracy",
    "matrix_rqi", "matrix_predicted_accuracy", "effective_loss", "effective_gradient", "ExactFlow", "Trajectory",
    "evolve", "time_scale", "default_step", "exact_structure_time", "adam_structure_step", "Simulation", "simulate",
    # models
    "Model", "MODELS", "register_model", "TrainResult", "PHASES", "phase_of", "NetworkConfig", "train_network",
    "init_params", "TransformerConfig", "TransformerResult", "train_transformer",
    # experiments
    "Analysis",
    "analyse",
    "COMPARE_PRESETS", "GridRun", "ComparisonSummary", "run_one", "summarise", "effective_counterpart", "RingRun",
    "RingSummary", "run_ring_one", "summarise_rings", "NetworkRing", "network_ring", "Axis", "Grid",
    "SweepSettings", "SweepResult", "run_sweep", "PHASE_PRESETS", "first_split_seed",
    # runtime helpers
    "pmap", "atomic_write", "jsonable", "write_json", "save_figure",
]
