"""A trained bag-of-words model in a temp directory, as the pipeline lays it out, in a second: for the
tests of `spam predict` and of damaged model files (no DVC run needed)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from safetensors.numpy import save_file

from stages.common.layout import CARD, FEATURES_DIR, METRICS_DIR, MODELS_DIR, WEIGHTS
from stages.common.params import VectorizerParams
from stages.featurize import vectorize
from tests.conftest import SAMPLE


def make_trained(root: Path, name: str = "bow", val_mcc: float = 0.9, kind: str = "count") -> Path:
    """data/features/NAME, data/models/NAME (weights: + for spam words, - for ham words), reports/metrics."""
    rows = [line.split("\t", 1) for line in SAMPLE.read_text(encoding="utf-8").splitlines() if "\t" in line]
    messages = pd.DataFrame({"id": [str(i) for i in range(len(rows))], "text": [text for _, text in rows]})
    labels = np.array([label == "spam" for label, _ in rows], dtype=float)
    matrix, state = vectorize(messages, messages["id"], VectorizerParams(kind=kind, max_features=500))
    (root / FEATURES_DIR / name).mkdir(parents=True)
    (root / FEATURES_DIR / name / "vectorizer.json").write_text(json.dumps(state))
    weight = np.asarray(matrix[labels == 1].mean(axis=0) - matrix[labels == 0].mean(axis=0), dtype=np.float32)
    (root / MODELS_DIR / name).mkdir(parents=True)
    save_file(
        {"weight": weight.reshape(1, -1), "bias": np.array([-1.0], np.float32)}, root / MODELS_DIR / name / WEIGHTS
    )
    card = {"featurizer": name, "n_features": int(matrix.shape[1]), "threshold": 0.5}
    (root / MODELS_DIR / name / CARD).write_text(json.dumps(card))
    (root / METRICS_DIR).mkdir(parents=True, exist_ok=True)
    (root / METRICS_DIR / f"{name}.json").write_text(json.dumps({"val": {"mcc": val_mcc}}))
    return root
