"""(x - mean) / std with train statistics, and back: the spam neuron's dense inputs, a concat featurizer's
dense blocks, the used-car lesson's features and target, and the app's price sliders all use this one.

numpy only (the `spam predict` fast path imports it); it applies to torch tensors as well.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Standardiser:
    """Train statistics; with none (sparse features) it is the identity, so sparse input stays sparse."""

    mean: np.ndarray | None = None
    std: np.ndarray | None = None

    @classmethod
    def fit(cls, train: np.ndarray, ddof: int = 0, dtype: type = np.float64) -> Standardiser:
        """Column statistics computed in float64, stored as `dtype`; a constant column keeps std 1 (it carries
        no signal, and dividing by 0 would turn it into NaN). ddof=1: the sample std (the spam neuron's)."""
        values = np.asarray(train, dtype=np.float64)
        std = values.std(axis=0, ddof=ddof)
        return cls(values.mean(axis=0).astype(dtype), np.where(std > 0, std, 1.0).astype(dtype))

    def _stats(self, x):
        if hasattr(x, "new_tensor"):  # a torch tensor: the statistics in its dtype, on its device
            return x.new_tensor(self.mean), x.new_tensor(self.std)
        return self.mean, self.std

    def __call__(self, x):
        if self.mean is None:
            return x
        mean, std = self._stats(x)
        return (x - mean) / std

    def inverse(self, z):
        """Back to the original units: z * std + mean."""
        if self.mean is None:
            return z
        mean, std = self._stats(z)
        return z * std + mean
