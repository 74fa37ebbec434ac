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


# Embedding coordinates are rounded to a fixed step rather than to float32, whose step shrinks with the value:
# MiniLM's many coordinates near 0 sit within a float64 kernel's noise (a few 1e-15) of a float32 boundary.
# Measured (docs/internals.md#precision): about 0.3 expected changed values over the 2 million per simulated
# CPU, and one seen between an AMD EPYC and an Intel Xeon. 2**-16 (1.5e-5) is about 1e10 times that noise and
# about 1e4 times below a coordinate's typical size (median |value| 0.14), so no metric can feel it.
EMBEDDING_STEP = 2.0**-16


def round_to_step(values: np.ndarray, step: float = EMBEDDING_STEP) -> np.ndarray:
    """float64 values rounded to the nearest multiple of `step` (a power of two: exact), stored as float32
    (exact below 2**8 for a step of 2**-16; above, float32's own rounding of an already equal value)."""
    return (np.round(np.asarray(values, dtype=np.float64) / step) * step).astype(np.float32)


def to_float32(values: np.ndarray) -> np.ndarray:
    """float64 results rounded to the nearest float32, kept as float64 so that later arithmetic stays exact."""
    return np.asarray(values, dtype=np.float64).astype(np.float32).astype(np.float64)
