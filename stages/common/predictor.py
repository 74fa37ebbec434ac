"""Score new messages with what the pipeline trained: safetensors weights, JSON vocabularies and cards.

No retraining and no pickle. bow/tfidf never import transformers (cold start stays ~1 s); encoders load
their model once, through the same code as the featurize stage.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stages.common.calibration import Calibration
from stages.common.cli import StageError
from stages.common.features import CONCAT, ENCODER, VECTORIZER, join_blocks, load_vectorizer
from stages.common.io import read_json
from stages.common.neuron import CARD, Standardizer, load_neuron, predict_proba

MODELS_DIR, FEATURES_DIR, METRICS_DIR = Path("data/models"), Path("data/features"), Path("reports/metrics")


@dataclass
class Predictor:
    featurizer: str
    threshold: float
    featurize: Callable[[list[str]], object]
    model: object
    standardizer: Standardizer
    vectorizer: object | None = None  # bow/tfidf only: lets the app explain which words mattered
    calibration: Calibration | None = None  # fitted on val by train (train.FEATURIZER.calibration)

    def spam_probability(self, texts: list[str]) -> np.ndarray:
        return predict_proba(self.model, self.standardizer, self.featurize(texts), self.calibration)


def trained_featurizers(models_dir: Path = MODELS_DIR) -> list[str]:
    return sorted(p.parent.name for p in Path(models_dir).glob(f"*/{CARD}"))


def best_featurizer(metrics_dir: Path = METRICS_DIR, models_dir: Path = MODELS_DIR) -> str:
    """The trained featurizer with the highest validation MCC (the test split stays for reporting)."""
    scored = {}
    for name in trained_featurizers(models_dir):
        path = Path(metrics_dir) / f"{name}.json"
        if path.exists():
            scored[name] = read_json(path)["val"]["mcc"]
    if not scored:
        raise StageError(f"no trained and evaluated model in {models_dir}: run `spam repro` (or `dvc repro`) first")
    return max(scored, key=scored.get)


def load_predictor(featurizer: str, models_dir: Path = MODELS_DIR, features_dir: Path = FEATURES_DIR) -> Predictor:
    model_dir = Path(models_dir) / featurizer
    if not (model_dir / CARD).exists():
        known = ", ".join(trained_featurizers(models_dir)) or "none yet"
        raise StageError(
            f"no trained model for featurizer {featurizer!r} in {model_dir} (trained: {known}); "
            f"run `dvc repro train@{featurizer}`"
        )
    model, standardizer = load_neuron(model_dir)
    card = read_json(model_dir / CARD)
    featurize, vectorizer = text_featurizer(featurizer, Path(features_dir))
    calibration = Calibration.from_card(card.get("calibration"))
    return Predictor(featurizer, float(card["threshold"]), featurize, model, standardizer, vectorizer, calibration)


def text_featurizer(featurizer: str, features_dir: Path) -> tuple[Callable[[list[str]], object], object | None]:
    """(texts -> features, the vectorizer for bow/tfidf or None), from what featurize saved."""
    feature_dir = features_dir / featurizer
    if (feature_dir / VECTORIZER).exists():
        vectorizer = load_vectorizer(feature_dir)
        return vectorizer.transform, vectorizer
    if (feature_dir / ENCODER).exists():
        return encoder_featurize(featurizer, read_json(feature_dir / ENCODER)["params"]), None
    if (feature_dir / CONCAT).exists():  # featurize through the parts, then join as the concat stage did
        state = read_json(feature_dir / CONCAT)
        parts = [text_featurizer(part, features_dir)[0] for part in state["parts"]]
        return lambda texts: join_blocks([part(texts) for part in parts], state), None
    raise StageError(f"no vectorizer, encoder or concat card in {feature_dir}: run `dvc repro featurize@{featurizer}`")


def encoder_featurize(featurizer: str, params: dict) -> Callable[[list[str]], np.ndarray]:
    from stages.common.encoders import encode, load_encoder  # imports transformers: dense featurizers only
    from stages.common.params import EncoderParams

    encoder = load_encoder(EncoderParams(**params), featurizer)
    return lambda texts: encode(encoder, texts)
