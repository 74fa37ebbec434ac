"""The single neuron as it is stored and scored: p(spam) = sigmoid(w · x + b) in numpy, from float32 weights in
safetensors. train saves it and picks the threshold with it, evaluate and `spam predict` score with it: all three
see the same probabilities. Training (torch) is stages/common/training.py.

Scores are computed in float64 and rounded to float32 (stages/common/precision.py), so thresholds, metrics and
curves are the same on every machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stages.common.calibration import Calibration
from stages.common.errors import StageError
from stages.common.layout import WEIGHTS
from stages.common.precision import to_float32
from stages.common.standardise import Standardiser


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-z) without overflow, rounded to float32: the probability every stage writes and compares."""
    return to_float32(np.exp(-np.logaddexp(0.0, -np.asarray(logits, dtype=np.float64))))


@dataclass(frozen=True)
class Neuron:
    """p(spam) = sigmoid(w · x + b), x standardised with the train statistics for dense features."""

    weight: np.ndarray  # (n_features,) float64 holding float32 values
    bias: float
    scale: Standardiser = Standardiser()  # the identity for sparse features

    def logits(self, features) -> np.ndarray:
        if self.scale.mean is not None:
            features = self.scale(np.asarray(features, dtype=np.float64))
        return np.asarray(features @ self.weight, dtype=np.float64).ravel() + self.bias

    def spam_probability(self, features, calibration: Calibration | None = None) -> np.ndarray:
        logits = self.logits(features)
        return sigmoid(calibration(logits) if calibration is not None else logits)


def best_f1_threshold(labels: np.ndarray, scores: np.ndarray) -> float:
    """The score threshold (predict spam if score >= it) with the highest F1 on these labels."""
    from sklearn.metrics import precision_recall_curve  # train only

    precision, recall, thresholds = precision_recall_curve(labels, scores)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    return float(thresholds[int(np.argmax(f1[:-1]))])


def save_neuron(directory: Path, neuron: Neuron) -> None:
    """model.safetensors: weight (1, n), bias (1,), and the dense features' mean and std (n,), all float32."""
    from safetensors.numpy import save_file

    tensors = {"weight": neuron.weight.reshape(1, -1), "bias": np.array([neuron.bias])}
    if neuron.scale.mean is not None:
        tensors |= {"mean": neuron.scale.mean, "std": neuron.scale.std}
    stored = {key: np.ascontiguousarray(value, dtype=np.float32) for key, value in tensors.items()}
    save_file(stored, str(Path(directory) / WEIGHTS))


def load_neuron(model_dir: Path, featurizer: str, n_features: int) -> Neuron:
    """The weights in model.safetensors, checked against the card's n_features."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    path, rerun = Path(model_dir) / WEIGHTS, f"dvc repro train@{featurizer}"

    def bad(problem: str) -> StageError:
        return StageError(f"{path}: {problem}; rerun `{rerun}`")

    if not path.is_file():
        raise bad("missing")
    try:
        tensors = load_file(str(path))
    except (SafetensorError, ValueError, TypeError) as exc:
        raise bad(f"not a readable safetensors file ({str(exc)[:80]})") from None
    expected = {"weight": (1, n_features), "bias": (1,)}
    if "mean" in tensors or "std" in tensors:
        expected |= {"mean": (n_features,), "std": (n_features,)}
    for key, shape in expected.items():
        if key not in tensors:
            raise bad(f"no {key!r} tensor")
        if tensors[key].shape != shape:
            raise bad(f"{key!r} has shape {tensors[key].shape}, the card says {shape}")
        if not np.issubdtype(tensors[key].dtype, np.floating) or not np.isfinite(tensors[key]).all():
            raise bad(f"{key!r} holds NaN, infinite or non-float values")
    if "std" in tensors and not (tensors["std"] > 0).all():
        raise bad("'std' must be positive")
    get = lambda key: tensors[key].astype(np.float64) if key in tensors else None  # noqa: E731
    return Neuron(get("weight").ravel(), float(tensors["bias"][0]), Standardiser(get("mean"), get("std")))
