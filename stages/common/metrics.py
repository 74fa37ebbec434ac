"""Classification metrics, and bootstrap intervals for them on a small test set.

The test split holds ~98 spam, so one message moves recall by ~0.01: every comparison carries a 95 %
bootstrap interval. Resampling is vectorised over confusion counts, so 2,000 resamples take milliseconds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# What `dvc metrics show` lists per featurizer (reports/metrics/<F>.json), kept narrow enough for a terminal:
# the test headline, and the val MCC that picks `spam predict`'s default model. Every metric of every split
# goes to reports/eval/<F>/metrics.json (layout.ALL_METRICS, inside evaluate's eval directory).
HEADLINE_METRICS = ("accuracy", "precision", "recall", "f1", "mcc", "roc_auc")


def headline(report: dict) -> dict:
    """The narrow view of an evaluate report ({split: metrics}): test first, then val MCC."""
    return {"test": {k: report["test"][k] for k in HEADLINE_METRICS}, "val": {"mcc": report["val"]["mcc"]}}


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.divide(a, b, out=np.zeros_like(a), where=b > 0)


# Every metric computed from a confusion matrix, in the order the reports list them: the one place to add one
# (docs/extending.md#a-new-metric). Each maps arrays of counts (tp, fp, tn, fn; float, one entry per bootstrap
# resample) to the metric, 0 where undefined (MCC with one class predicted or present, as sklearn has it).
# evaluate, the bootstrap intervals, compare.json, compare.md, the HTML report and `spam compare` all read it.
COUNT_METRICS: dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]] = {
    "accuracy": lambda tp, fp, tn, fn: _ratio(tp + tn, tp + fp + tn + fn),
    "precision": lambda tp, fp, tn, fn: _ratio(tp, tp + fp),
    "recall": lambda tp, fp, tn, fn: _ratio(tp, tp + fn),
    "specificity": lambda tp, fp, tn, fn: _ratio(tn, tn + fp),
    "f1": lambda tp, fp, tn, fn: _ratio(2 * tp, 2 * tp + fp + fn),
    "mcc": lambda tp, fp, tn, fn: _ratio(tp * tn - fp * fn, np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))),
}


def classification_metrics(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict:
    """Every COUNT_METRICS value at `threshold`, the ranking metrics, and the confusion counts, for one split."""
    from sklearn import metrics as skm  # here: compare and report import this module, and never call sklearn

    predicted = (scores >= threshold).astype(int)
    tn, fp, fn, tp = skm.confusion_matrix(labels, predicted, labels=[0, 1]).ravel()
    both_classes = len(np.unique(labels)) == 2
    return {
        **{name: float(value) for name, value in metrics_from_counts(tp, fp, tn, fn).items()},
        "roc_auc": skm.roc_auc_score(labels, scores) if both_classes else None,
        "pr_auc": skm.average_precision_score(labels, scores) if both_classes else None,
        "n": int(len(labels)),
        "threshold": float(threshold),
        "tp": int(tp),
        "fp": int(fp),
        "tn": int(tn),
        "fn": int(fn),
    }


def metrics_from_counts(tp, fp, tn, fn) -> dict[str, np.ndarray]:
    """COUNT_METRICS for arrays (or single values) of confusion counts; 0 where undefined."""
    counts = [np.asarray(c, dtype=float) for c in (tp, fp, tn, fn)]
    return {name: metric(*counts) for name, metric in COUNT_METRICS.items()}


def resample_indices(n: int, resamples: int, seed: int) -> np.ndarray:
    """The same (resamples, n) draw for every featurizer, so differences are paired."""
    return np.random.default_rng(seed).integers(0, n, size=(resamples, n))


def resampled_metrics(labels: np.ndarray, predicted: np.ndarray, indices: np.ndarray) -> dict[str, np.ndarray]:
    y, p = labels[indices].astype(bool), predicted[indices].astype(bool)
    return metrics_from_counts((y & p).sum(1), (~y & p).sum(1), (~y & ~p).sum(1), (y & ~p).sum(1))


def interval(values: np.ndarray, level: float = 0.95) -> list[float]:
    """Percentile interval of bootstrap values."""
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return [round(float(low), 6), round(float(high), 6)]


@dataclass(frozen=True)
class MetricChange:
    """One metric of two featurizers on the same test messages: `dvc metrics diff`'s shape plus the paired
    95 % bootstrap interval of the change; `confirmed` when the interval excludes 0."""

    old: float
    new: float
    change: float
    ci95: list[float]
    confirmed: bool


def paired_difference(
    point_old: dict[str, float],
    point_new: dict[str, float],
    boot_old: dict[str, np.ndarray],
    boot_new: dict[str, np.ndarray],
) -> dict[str, MetricChange]:
    """Per metric: old, new, change (new - old) and the paired interval of the change.

    The bootstrap values of both must come from the same resample indices (`resample_indices`).
    """
    diff = {}
    for name in COUNT_METRICS:
        low, high = interval(boot_new[name] - boot_old[name])
        change = float(point_new[name] - point_old[name])
        diff[name] = MetricChange(
            old=round(float(point_old[name]), 6),
            new=round(float(point_new[name]), 6),
            change=round(change, 6),
            ci95=[low, high],
            confirmed=bool(low > 0 or high < 0),
        )
    return diff


def point_metrics(labels: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    y, p = labels.astype(bool), predicted.astype(bool)
    counts = (y & p).sum(), (~y & p).sum(), (~y & ~p).sum(), (y & ~p).sum()
    return {name: round(float(value), 6) for name, value in metrics_from_counts(*counts).items()}
