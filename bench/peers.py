"""Each neuron against its peers on the same split and features.

Peers: scikit-learn LogisticRegression (C tuned on val MCC) on the same matrix, and the course's
recipe (SGD lr 0.02, 10,000 full-batch iterations, threshold 0.25) on the bow features, trained by
the same code as the pipeline's neuron so the time ratio compares recipes, not implementations.
Thresholds other than the recipe's are chosen on val (max F1), like the pipeline.

Run after `dvc repro` (it reads data/features, data/split and params.yaml):
    python bench/peers.py
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, matthews_corrcoef

from stages.common.features import SPLITS, Split, load_splits
from stages.common.layout import MESSAGES_FILE, SPLIT_FILE, features_dir
from stages.common.neuron import best_f1_threshold
from stages.common.params import TrainParams, load_params
from stages.common.standardise import Standardiser
from stages.common.training import train_neuron

COURSE_RECIPE = TrainParams(optimizer="sgd", lr=0.02, epochs=10_000, patience=0, threshold=0.25)


def scores_at(y_test: np.ndarray, test_scores: np.ndarray, threshold: float) -> tuple[float, float]:
    predicted = test_scores >= threshold
    return f1_score(y_test, predicted), matthews_corrcoef(y_test, predicted)


def arrays(splits: dict[str, Split]) -> tuple:
    """x_train, y_train, x_val, y_val, x_test, y_test."""
    return tuple(part for name in SPLITS for part in (splits[name].features, splits[name].labels))


def logistic_regression(splits) -> tuple[str, float, float, float]:
    x_train, y_train, x_val, y_val, x_test, y_test = arrays(splits)
    if not sp.issparse(x_train):  # dense embeddings: standardise with train statistics, as the neuron does
        scale = Standardiser.fit(x_train)
        x_train, x_val, x_test = (scale(x) for x in (x_train, x_val, x_test))
    best = None
    started = time.perf_counter()
    for c in (0.01, 0.03, 0.1, 0.3, 1, 3, 10, 30, 100):
        model = LogisticRegression(C=c, max_iter=5000).fit(x_train, y_train)
        val_scores = model.predict_proba(x_val)[:, 1]
        threshold = best_f1_threshold(y_val, val_scores)
        val_mcc = matthews_corrcoef(y_val, val_scores >= threshold)
        if best is None or val_mcc > best[0]:
            best = (val_mcc, c, threshold, model)
    seconds = time.perf_counter() - started
    _, c, threshold, model = best
    return (
        f"LogisticRegression (C={c:g}, tuned on val)",
        *scores_at(y_test, model.predict_proba(x_test)[:, 1], threshold),
        seconds,
    )


def neuron(splits, params: TrainParams) -> tuple[float, float, float]:
    x_train, y_train, x_val, y_val, x_test, y_test = arrays(splits)
    result = train_neuron(x_train, y_train, x_val, y_val, params)
    val_scores = result.neuron.spam_probability(x_val)
    threshold = best_f1_threshold(y_val, val_scores) if params.threshold == "auto" else params.threshold
    return *scores_at(y_test, result.neuron.spam_probability(x_test), threshold), result.seconds


def main() -> None:
    params = load_params()
    rows = []
    built = [name for name in params.featurizers if features_dir(name).is_dir()]
    if missing := [name for name in params.featurizers if name not in built]:
        print(f"left out (no features built; offline?): {', '.join(missing)}")
    # Warm torch up once (thread pools, first-call dispatch) so that no timed fit pays for it.
    warm = load_splits(features_dir(built[0]), MESSAGES_FILE, SPLIT_FILE)
    val = warm["val"]
    train_neuron(val.features, val.labels, val.features, val.labels, TrainParams(epochs=5))
    for name in built:
        splits = load_splits(features_dir(name), MESSAGES_FILE, SPLIT_FILE)
        rows.append((name, "neuron (params.yaml)", *neuron(splits, params.train[name])))
        rows.append((name, *logistic_regression(splits)))
        if name == "bow":
            rows.append((name, "course recipe (SGD 0.02 x 10,000, thr 0.25)", *neuron(splits, COURSE_RECIPE)))
    print(f"{'features':<9} {'model':<46} {'test F1':>8} {'test MCC':>9} {'fit s':>7}")
    for name, model, f1, mcc, seconds in rows:
        print(f"{name:<9} {model:<46} {f1:>8.4f} {mcc:>9.4f} {seconds:>7.2f}")
    times = {(r[0], r[1].split(" ")[0]): r[4] for r in rows}
    if ("bow", "course") in times:
        ratio = times[("bow", "neuron")] / times[("bow", "course")]
        print(f"\nbow neuron training time / course recipe's: {ratio:.3f}")


if __name__ == "__main__":
    main()
