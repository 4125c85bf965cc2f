"""The grid of a phase sweep: two :class:`Axis` objects over training hyper-parameters
(:data:`AXES`), crossed into a :class:`Grid` of cells."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from efftheory.errors import InputError, require

# axis name -> (human label, kind, lowest allowed value, lowest value included?)
AXES = {
    "embed_lr": ("embedding learning rate", float, 0.0, False),
    "decoder_lr": ("decoder learning rate", float, 0.0, False),
    "embed_wd": ("embedding weight decay", float, 0.0, True),
    "decoder_wd": ("decoder weight decay", float, 0.0, True),
    "frac": ("training fraction", float, 0.0, False),
    "init_scale": ("embedding init scale", float, 0.0, False),
    "decoder_init_scale": ("decoder init scale", float, 0.0, False),
    "width": ("decoder width", int, 1, True),
    "dim": ("embedding dimension", int, 1, True),
    "dropout": ("dropout rate (transformer)", float, 0.0, True),
    # the Omnigrok MLP on images (efftheory.models.omnigrok)
    "alpha": ("initial scale alpha", float, 0.0, False),
    "wd": ("weight decay", float, 0.0, True),
    "train_num": ("training images", int, 1, True),
    # the embedding MLP (efftheory.models.embed_mlp): one optimiser, so one learning rate
    "lr": ("learning rate (one optimiser)", float, 0.0, False),
}


#: the most runs (grid cells times network seeds) one sweep may hold, and so the most points an
#: axis may have. Checked before anything is allocated: the largest sweep of the paper (Fig 5b
#: over 5 seeds) has 550 runs; 1e5 runs of the fastest real cell (about 1 s each) is a day of a
#: core, and a store of 1e5 lines is 40 MB.
MAX_RUNS = 100_000


@dataclass(frozen=True)
class Axis:
    """``n`` values of hyper-parameter ``name`` from ``lo`` to ``hi`` (inclusive), linear or log,
    or an explicit list of values (``points``, e.g. the irregular weight decays of Fig 5d).

    ``values`` is a tuple of ``n`` increasing Python numbers (ints for ``width``/``dim``); log
    axes space ``log10`` evenly and hit both ends exactly. With ``points`` the values are those
    (strictly increasing), ``lo``/``hi``/``n`` their first, last and count (use
    :meth:`from_values`), and the axis is not log.
    """

    name: str
    lo: float
    hi: float
    n: int
    log: bool = False
    points: tuple | None = None

    @classmethod
    def from_values(cls, name: str, values) -> "Axis":
        """An axis over exactly these values (strictly increasing)."""
        values = tuple(values)
        require(len(values) >= 1, f"{name}: the value list is empty")
        return cls(name, values[0], values[-1], len(values), False, values)

    def __post_init__(self) -> None:
        require(self.name in AXES, f"unknown axis {self.name!r} (choose from {', '.join(AXES)})")
        require(isinstance(self.n, numbers.Integral) and self.n >= 1, f"{self.name}: N must be >= 1, got {self.n!r}")
        require(self.n <= MAX_RUNS, f"{self.name}: N = {self.n} points is above the most a sweep may run "
                                    f"({MAX_RUNS} runs)")
        if self.points is not None:
            self._check_points()
            return
        lo, hi = float(self.lo), float(self.hi)
        require(math.isfinite(lo) and math.isfinite(hi), f"{self.name}: range {self.spec()} is not finite")
        if self.n == 1:
            require(lo == hi, f"{self.name}: one point needs LO == HI, got {self.spec()}")
        else:
            require(lo < hi, f"{self.name}: need LO < HI, got {self.spec()}")
        if self.log:
            require(lo > 0, f"{self.name}: a log axis needs LO > 0, got {self.spec()}")
        _, kind, floor, inclusive = AXES[self.name]
        bad = [v for v in self.values if not (v >= floor if inclusive else v > floor)]
        if bad:
            raise InputError(f"{self.name}: value {bad[0]!r} out of range in {self.spec()}")
        if self.name == "frac":
            require(self.hi < 1, f"frac: the test set must not be empty, got HI={self.hi!r}")
        if kind is int:
            require(len(set(self.values)) == self.n, f"{self.name}: {self.spec()} rounds to repeated integers")

    def _check_points(self) -> None:
        _, kind, floor, inclusive = AXES[self.name]
        pts = self.points
        ok = all(isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v) for v in pts)
        require(ok, f"{self.name}: the values {self.spec()} are not all finite numbers")
        if kind is int:
            require(all(float(v).is_integer() for v in pts), f"{self.name}: the values {self.spec()} are not whole")
        pts = tuple(int(v) for v in pts) if kind is int else tuple(float(v) for v in pts)
        require(len(pts) == self.n and pts[0] == float(self.lo) and pts[-1] == float(self.hi) and not self.log,
                f"{self.name}: an explicit value list sets lo, hi and n itself (use Axis.from_values)")
        require(all(a < b for a, b in zip(pts, pts[1:])), f"{self.name}: the values {self.spec()} must increase")
        bad = [v for v in pts if not (v >= floor if inclusive else v > floor)]
        if bad:
            raise InputError(f"{self.name}: value {bad[0]!r} out of range in {self.spec()}")
        if self.name == "frac":
            require(pts[-1] < 1, f"frac: the test set must not be empty, got {pts[-1]!r}")
        object.__setattr__(self, "points", pts)

    @classmethod
    def parse(cls, name: str, text: str) -> "Axis":
        """``"1e-5:1e-2:10:log"`` or ``"0:10:11"`` -> Axis; a comma list ``"0,1,2,5,10"`` gives
        exactly those values."""
        if "," in text:
            try:
                values = [float(v) for v in text.split(",")]
            except ValueError:
                raise InputError(f"{name}: {text!r} is not a list of numbers like 0,1,2,5") from None
            return cls.from_values(name, values)
        parts = text.split(":")
        require(
            len(parts) in (3, 4) and (len(parts) == 3 or parts[3] in ("log", "lin")),
            f"{name}: range {text!r} is not LO:HI:N[:log]",
        )
        try:
            lo, hi, n = float(parts[0]), float(parts[1]), int(parts[2])
        except ValueError:
            raise InputError(f"{name}: range {text!r} is not LO:HI:N[:log]") from None
        return cls(name, lo, hi, n, len(parts) == 4 and parts[3] == "log")

    def spec(self) -> str:
        if self.points is not None:
            return ",".join(f"{v:g}" if isinstance(v, float) else repr(v) for v in self.points)
        return f"{self.lo!r}:{self.hi!r}:{self.n}" + (":log" if self.log else "")

    @property
    def label(self) -> str:
        return AXES[self.name][0]

    @property
    def values(self) -> tuple:
        if self.points is not None:
            return self.points
        lo, hi, n = float(self.lo), float(self.hi), int(self.n)
        if n == 1:
            raw = np.array([lo])
        elif self.log:
            raw = np.logspace(math.log10(lo), math.log10(hi), n)
            raw[0], raw[-1] = lo, hi  # exact ends, not 10**log10(x)
        else:
            raw = np.linspace(lo, hi, n)
        if AXES[self.name][1] is int:
            return tuple(int(round(v)) for v in raw)
        return tuple(float(v) for v in raw)

    def to_dict(self) -> dict:
        out = {"name": self.name, "lo": float(self.lo), "hi": float(self.hi), "n": int(self.n), "log": bool(self.log)}
        if self.points is not None:  # only then: manifests of range axes stay as they were
            out["values"] = list(self.points)
        return out


@dataclass(frozen=True)
class Grid:
    """The cells ``(ix, iy)`` of ``x`` crossed with ``y``; shape ``(ny, nx)`` (rows are y)."""

    x: Axis
    y: Axis

    def __post_init__(self) -> None:
        require(self.x.name != self.y.name, f"--x and --y are both {self.x.name!r}")
        require(self.size <= MAX_RUNS, f"the grid has {self.x.n} x {self.y.n} = {self.size} cells, above the most "
                                       f"a sweep may run ({MAX_RUNS} runs)")

    @property
    def shape(self) -> tuple[int, int]:
        return (self.y.n, self.x.n)

    @property
    def size(self) -> int:
        return self.x.n * self.y.n

    def cells(self) -> list[tuple[int, int, dict]]:
        """``(ix, iy, settings)`` for every cell, row by row (y outer, x inner)."""
        xs, ys = self.x.values, self.y.values
        return [(ix, iy, {self.x.name: xs[ix], self.y.name: ys[iy]}) for iy in range(self.y.n) for ix in range(self.x.n)]

    def to_dict(self) -> dict:
        return {"x": self.x.to_dict(), "y": self.y.to_dict()}
