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


# Embedding coordinates are rounded to 12 significant bits rather than float32's 24: a float64 kernel's noise
# (a few 1e-15 of the vector's scale) then crosses a rounding boundary about 2**12 times less often.
# Measured with the real MiniLM (docs/internals.md#precision): float32 rounding expects about 0.3 changed
# values over the collection's 2 million per simulated CPU, and one was seen between an AMD EPYC and an Intel
# Xeon; 12 bits expects 7e-5. Significant bits, not a fixed step: MiniLM has coordinates near 1e-32 that
# carry signal once standardised, and a fixed step would flatten them. 2**-12 relative is 16 times finer
# than bfloat16, which embeddings are commonly stored in.
EMBEDDING_BITS = 12
EMBEDDING_ROUNDING = f"bits={EMBEDDING_BITS}"  # in every embedding cache key: vectors rounded another way are others


def round_to_bits(values: np.ndarray, bits: int = EMBEDDING_BITS) -> np.ndarray:
    """float64 values rounded to `bits` significant bits (exact arithmetic: frexp, round half to even, ldexp),
    stored as float32, which holds them exactly."""
    mantissa, exponent = np.frexp(np.asarray(values, dtype=np.float64))
    return np.ldexp(np.round(np.ldexp(mantissa, bits)), exponent - bits).astype(np.float32)


def to_float32(values: np.ndarray) -> np.ndarray:
    """float64 results rounded to the nearest float32, kept as float64 so that later arithmetic stays exact."""
    return np.asarray(values, dtype=np.float64).astype(np.float32).astype(np.float64)
