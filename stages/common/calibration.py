"""Do the neuron's probabilities mean what they say? Brier score, expected calibration error (ECE),
reliability tables, and the optional recalibration fitted on the val split (train.FEATURIZER.calibration).

Both recalibrations are monotone maps of the logit: platt, sigmoid(a * logit + b); temperature,
sigmoid(logit / T). With a > 0 they keep the ranking (ROC and PR curves do not change); the threshold
is chosen on the calibrated val probabilities, so it is a threshold on the probability that is printed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from stages.common.precision import round_significant

ECE_BINS = 15  # equal-width bins over [0, 1], as in Guo et al. (2017), "On calibration of modern neural networks"


@dataclass(frozen=True)
class Calibration:
    """calibrated logit = scale * logit + shift (temperature: scale = 1 / T, shift = 0)."""

    method: str = "none"
    scale: float = 1.0
    shift: float = 0.0

    def __call__(self, logits: np.ndarray) -> np.ndarray:
        return self.scale * np.asarray(logits, dtype=np.float64) + self.shift

    def to_card(self) -> dict:
        return asdict(self)

    @classmethod
    def from_card(cls, card: dict | None) -> Calibration | None:
        return cls(**card) if card else None


def log_loss(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean negative log-likelihood of the labels under sigmoid(logits), computed stably."""
    from scipy.special import log_expit  # train and evaluate only: 0.13 s that `spam predict` need not pay

    y = np.asarray(labels, dtype=np.float64)
    return float(-np.mean(y * log_expit(logits) + (1 - y) * log_expit(-logits)))


def fit_calibration(logits: np.ndarray, labels: np.ndarray, method: str) -> Calibration:
    """Fit on val logits by minimising the val log loss. The parameters are rounded to 6 significant digits: the
    optimiser's last bits depend on the CPU's kernels, and they go into the card and every probability."""
    from scipy.optimize import minimize, minimize_scalar  # train only: `spam predict` reads a fitted one
    from scipy.special import expit

    logits, y = np.asarray(logits, dtype=np.float64), np.asarray(labels, dtype=np.float64)
    if method == "none":
        return Calibration()
    if method == "temperature":  # one parameter, log T in [-5, 5]: T from 0.007 to 148
        found = minimize_scalar(lambda log_t: log_loss(logits * np.exp(-log_t), y), bounds=(-5, 5), method="bounded")
        return Calibration("temperature", round_significant(float(np.exp(-found.x))), 0.0)
    if method == "platt":

        def loss_and_gradient(ab: np.ndarray) -> tuple[float, np.ndarray]:
            z = ab[0] * logits + ab[1]
            residual = expit(z) - y
            return log_loss(z, y), np.array([np.mean(residual * logits), np.mean(residual)])

        found = minimize(loss_and_gradient, x0=np.array([1.0, 0.0]), jac=True, method="L-BFGS-B",
                         bounds=[(1e-6, None), (None, None)])  # fmt: skip  # a > 0 keeps the ranking
        return Calibration("platt", round_significant(float(found.x[0])), round_significant(float(found.x[1])))
    raise ValueError(f"unknown calibration method {method!r}: none, platt or temperature")


def brier_score(labels: np.ndarray, probabilities: np.ndarray) -> float:
    return float(np.mean((np.asarray(probabilities, dtype=np.float64) - labels) ** 2))


def _binned(labels: np.ndarray, probabilities: np.ndarray, bins: int) -> list[tuple[int, float, float, int]]:
    """(bin, mean predicted, fraction spam, count) per non-empty equal-width bin."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.float64)
    # Bin i holds (i/bins, (i+1)/bins]; probability 0 goes to the first bin.
    index = np.clip(np.ceil(probabilities * bins).astype(int) - 1, 0, bins - 1)
    return [
        (b, float(probabilities[index == b].mean()), float(labels[index == b].mean()), int((index == b).sum()))
        for b in range(bins)
        if (index == b).any()
    ]


def reliability_table(labels: np.ndarray, probabilities: np.ndarray, bins: int = ECE_BINS) -> list[dict]:
    """One row per non-empty equal-width bin: its range, mean predicted probability, fraction spam, count."""
    return [
        {
            "bin_low": round(b / bins, 6),
            "bin_high": round((b + 1) / bins, 6),
            "mean_predicted": round(predicted, 6),
            "fraction_spam": round(observed, 6),
            "count": count,
        }
        for b, predicted, observed, count in _binned(labels, probabilities, bins)
    ]


def expected_calibration_error(labels: np.ndarray, probabilities: np.ndarray, bins: int = ECE_BINS) -> float:
    """sum over bins of (share of messages in the bin) x |fraction spam - mean predicted probability|."""
    rows = _binned(labels, probabilities, bins)
    total = sum(count for *_, count in rows)
    return float(sum(count / total * abs(observed - predicted) for _, predicted, observed, count in rows))
