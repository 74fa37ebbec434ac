"""Score new messages with what the pipeline trained: safetensors weights, JSON vocabularies and cards.

No retraining and no pickle. The neuron is w·x + b in numpy (stages/common/neuron.py); bow/tfidf featurize
with numpy and scipy (stages/common/vectorizer.py), so their cold start imports no torch, pandas or
scikit-learn. Encoders load their model once, through the same code as the featurize stage (torch and
transformers). A concat featurizer featurizes through its parts and joins them as its featurize stage did
(stages/common/features.py). A calibration fitted on val by train (in card.json) maps the logit before the
sigmoid.

Every file is checked as it is read (shapes against the card, finite weights, a threshold in (0, 1)):
a damaged one is one `error:` line naming the file and the `dvc repro` target that rebuilds it.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stages.common import layout
from stages.common.calibration import Calibration
from stages.common.errors import StageError, check_name
from stages.common.layout import (
    CARD,
    CONCAT,
    ENCODER,
    FEATURES_DIR,
    METRICS_DIR,
    MODELS_DIR,
    VECTORIZER,
    WEIGHTS,
)
from stages.common.neuron import Neuron, load_neuron
from stages.common.vectorizer import TextVectorizer, vectorizer_from_state

SHOWN_DECIMALS = 4  # what a person reads (tables, the app); --json keeps 6


def shown_probability(probability: float) -> float:
    """p(spam) rounded for a person to read, but never to 0 or 1: 0.99996 shows as 0.9999, not as a certainty
    beside another model's 0.9984 (a neuron's probability is never exactly 0 or 1 in meaning)."""
    step = 10.0**-SHOWN_DECIMALS
    return min(max(round(probability, SHOWN_DECIMALS), step), 1.0 - step)


@dataclass
class Predictor:
    threshold: float
    featurize: Callable[[list[str]], object]
    neuron: Neuron
    vectorizer: TextVectorizer | None = None  # bow/tfidf only: lets the app explain which words mattered
    calibration: Calibration | None = None  # fitted on val by train (train.FEATURIZER.calibration)

    def spam_probability(self, texts: list[str]) -> np.ndarray:
        return self.probability_of(self.featurize(texts))

    def probability_of(self, features) -> np.ndarray:
        """p(spam) of rows this predictor's `featurize` made."""
        return self.neuron.spam_probability(features, self.calibration)


@dataclass(frozen=True)
class Choice:
    featurizer: str
    note: str = ""  # why it is not the best validation MCC, when it is not


def trained_featurizers(models_dir: Path = MODELS_DIR) -> list[str]:
    return sorted(p.parent.name for p in Path(models_dir).glob(f"*/{CARD}"))


def validation_mcc(path: Path) -> float:
    name = path.stem
    try:
        mcc = json.loads(path.read_text(encoding="utf-8"))["val"]["mcc"]
    except (ValueError, KeyError, TypeError):
        mcc = None
    if isinstance(mcc, bool) or not isinstance(mcc, int | float) or not math.isfinite(mcc):
        raise StageError(f"{path}: no val.mcc number in it; rerun `dvc repro evaluate@{name}`")
    return float(mcc)


def best_featurizer(metrics_dir: Path = METRICS_DIR, models_dir: Path = MODELS_DIR) -> Choice:
    """The featurizer with the highest validation MCC (the test split stays for reporting).

    If its model is missing (DVC removes it while `train@NAME` reruns), the best trained one is used
    instead, and the note says which and why.
    """
    scored = {path.stem: validation_mcc(path) for path in sorted(Path(metrics_dir).glob("*.json"))}
    trained = set(trained_featurizers(models_dir))
    usable = {name: mcc for name, mcc in scored.items() if name in trained}
    if not usable:
        raise StageError(f"no trained and evaluated model in {models_dir}: run `spam repro` (or `dvc repro`) first")
    best, chosen = max(scored, key=scored.get), max(usable, key=usable.get)
    if best == chosen:
        return Choice(chosen)
    missing = layout.model_dir(best, models_dir) / CARD
    return Choice(
        chosen,
        f"note: the best model, {best} (val MCC {scored[best]:.4f}), has no {missing} "
        f"(retraining? run `dvc repro train@{best}`); using {chosen} (val MCC {usable[chosen]:.4f}) instead",
    )


def _read_json(path: Path, rerun: str) -> object:
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise StageError(f"{path} is not valid JSON; rerun `{rerun}`") from None


def read_card(model_dir: Path, featurizer: str) -> tuple[int, float, Calibration | None]:
    """(n_features, threshold, calibration) from card.json, checked."""
    path, rerun = Path(model_dir) / CARD, f"dvc repro train@{featurizer}"
    card = _read_json(path, rerun)
    if not isinstance(card, dict):
        raise StageError(f"{path} is not a JSON object; rerun `{rerun}`")
    missing = [key for key in ("n_features", "threshold") if key not in card]
    if missing:
        raise StageError(f"{path} has no {' or '.join(missing)}; rerun `{rerun}`")
    n_features, threshold = card["n_features"], card["threshold"]
    if type(n_features) is not int or n_features < 1:
        raise StageError(f"{path}: n_features must be a positive integer, got {str(n_features)[:80]}; rerun `{rerun}`")
    if type(threshold) not in (int, float) or not 0 < threshold < 1:
        raise StageError(f"{path}: threshold must be a number in (0, 1), got {str(threshold)[:80]}; rerun `{rerun}`")
    return n_features, float(threshold), read_calibration(card.get("calibration"), path, rerun)


def read_calibration(state: object, path: Path, rerun: str) -> Calibration | None:
    """The card's calibration (absent or null: none), checked: a known method, a positive finite scale."""
    if state is None:
        return None
    number = lambda v: type(v) in (int, float) and math.isfinite(v)  # noqa: E731
    if (
        not isinstance(state, dict)
        or set(state) != {"method", "scale", "shift"}
        or state["method"] not in ("none", "platt", "temperature")
        or not (number(state["scale"]) and state["scale"] > 0 and number(state["shift"]))
    ):
        raise StageError(
            f"{path}: calibration must be {{method, scale > 0, shift}}, got {str(state)[:80]}; rerun `{rerun}`"
        )
    return Calibration.from_card(state)


def load_vectorizer(feature_dir: Path, featurizer: str, n_features: int) -> TextVectorizer:
    path, rerun = Path(feature_dir) / VECTORIZER, f"dvc repro featurize@{featurizer}"
    try:
        vectorizer = vectorizer_from_state(_read_json(path, rerun))
    except (ValueError, TypeError) as exc:
        raise StageError(f"{path}: {' '.join(str(exc).split())[:120]}; rerun `{rerun}`") from None
    if vectorizer.n_features != n_features:
        raise StageError(
            f"{path} has {vectorizer.n_features} terms but the model was trained on {n_features}; "
            f"rerun `dvc repro train@{featurizer}`"
        )
    return vectorizer


def load_predictor(featurizer: str, models_dir: Path = MODELS_DIR, features_dir: Path = FEATURES_DIR) -> Predictor:
    model_dir, feature_dir = layout.model_dir(featurizer, models_dir), layout.features_dir(featurizer, features_dir)
    if not (model_dir / CARD).exists():
        known = ", ".join(trained_featurizers(models_dir)) or "none yet"
        raise StageError(
            f"no trained model for featurizer {featurizer!r} in {model_dir} (trained: {known}); "
            f"run `dvc repro train@{featurizer}`"
        )
    n_features, threshold, calibration = read_card(model_dir, featurizer)
    neuron = load_neuron(model_dir, featurizer, n_features)
    if (feature_dir / VECTORIZER).exists():
        vectorizer = load_vectorizer(feature_dir, featurizer, n_features)
        return Predictor(threshold, vectorizer.transform, neuron, vectorizer, calibration)
    return Predictor(threshold, text_featurizer(featurizer, Path(features_dir)), neuron, None, calibration)


def model_stamp(featurizer: str, models_dir: Path = MODELS_DIR, features_dir: Path = FEATURES_DIR) -> tuple:
    """What `load_predictor` reads, cheaply: card.json's sha256 (small; a rewrite can keep its size and, on a
    coarse clock, its mtime) and (inode, mtime, size) of the weights and the featurizer's card. Equal stamps:
    the same model on disk. A concat's parts are not looked at: changing one retrains the concat."""
    model_dir, feature_dir = layout.model_dir(featurizer, models_dir), layout.features_dir(featurizer, features_dir)
    try:
        card = hashlib.sha256((model_dir / CARD).read_bytes()).hexdigest()
    except OSError:
        card = None
    stats = []
    for path in (model_dir / WEIGHTS, feature_dir / VECTORIZER, feature_dir / ENCODER, feature_dir / CONCAT):
        try:
            stat = path.stat()
            stats.append((stat.st_ino, stat.st_mtime_ns, stat.st_size))
        except OSError:
            stats.append(None)
    return (card, *stats)


def text_featurizer(featurizer: str, features_dir: Path) -> Callable[[list[str]], object]:
    """texts -> features, from what the featurize stage saved in features_dir/featurizer."""
    feature_dir, rerun = layout.features_dir(featurizer, features_dir), f"dvc repro featurize@{featurizer}"
    if (feature_dir / VECTORIZER).exists():  # a concat's part: its own terms, not checked against a card
        try:
            return vectorizer_from_state(_read_json(feature_dir / VECTORIZER, rerun)).transform
        except (ValueError, TypeError) as exc:
            problem = " ".join(str(exc).split())[:120]
            raise StageError(f"{feature_dir / VECTORIZER}: {problem}; rerun `{rerun}`") from None
    if (feature_dir / ENCODER).exists():
        state = _read_json(feature_dir / ENCODER, rerun)
        params = state.get("params") if isinstance(state, dict) else None
        return encoder_featurize(featurizer, params, feature_dir / ENCODER)
    if (feature_dir / CONCAT).exists():
        return concat_featurize(featurizer, features_dir)
    raise StageError(f"no vectorizer, encoder or concat card in {feature_dir}: run `{rerun}`")


def concat_featurize(featurizer: str, features_dir: Path) -> Callable[[list[str]], object]:
    """Featurize through the parts, then join them as the concat featurize stage did."""
    from stages.common.features import join_blocks  # scipy.sparse; a concat's encoder part imports torch anyway

    path = layout.features_dir(featurizer, features_dir) / CONCAT
    rerun = f"dvc repro featurize@{featurizer}"
    state = _read_json(path, rerun)
    parts = state.get("parts") if isinstance(state, dict) else None
    if (
        not isinstance(parts, list)
        or not all(isinstance(part, str) for part in parts)
        or not isinstance(state.get("weights"), list)
        or not isinstance(state.get("standardise"), list)
        or not len(parts) == len(state["weights"]) == len(state["standardise"])
    ):
        raise StageError(f"{path}: needs parts, weights and standardise, one each per part; rerun `{rerun}`")
    featurizers = [text_featurizer(check_name(part), features_dir) for part in parts]
    return lambda texts: join_blocks([featurize(texts) for featurize in featurizers], state)


def encoder_featurize(featurizer: str, params: object, card: Path) -> Callable[[list[str]], np.ndarray]:
    from pydantic import ValidationError

    if isinstance(params, dict) and params.get("kind") == "static":  # model2vec: numpy only, no torch
        from stages.common.backends import encoder_dir
        from stages.common.static_encoder import load_static

        return load_static(encoder_dir(featurizer))

    from stages.common.encoders import encode, load_encoder  # imports transformers: dense featurizers only
    from stages.common.params import EncoderParams

    try:
        settings = EncoderParams.model_validate(params)
    except ValidationError:
        raise StageError(
            f"{card}: `params` is not a valid encoder block; rerun `dvc repro featurize@{featurizer}`"
        ) from None
    encoder = load_encoder(settings, featurizer)
    return lambda texts: encode(encoder, texts)
