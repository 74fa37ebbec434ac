"""What the pipeline writes is the same bytes on every machine: results are computed in float64 and rounded
before they are stored, far above the last-bit differences between CPUs' kernels (docs/internals.md#precision).

A float64 kernel (a BLAS code path, a vector width, a thread count) moves a result by a few units in its 53rd
bit; rounding to float32 (24 bits) or to 6 significant digits hides that, except for a value that lands within
those few units of a rounding boundary: odds of about 1e-9 per float32 value, 1e-10 per decimal one.
"""

from __future__ import annotations

import math

import numpy as np


def round_significant(value: float, digits: int = 6) -> float:
    """A number a person reads (a loss, a calibration parameter), to `digits` significant digits."""
    return float(f"{value:.{digits}g}") if math.isfinite(value) else float(value)


def to_float32(values: np.ndarray) -> np.ndarray:
    """float64 results rounded to the nearest float32, kept as float64 so that later arithmetic stays exact."""
    return np.asarray(values, dtype=np.float64).astype(np.float32).astype(np.float64)
