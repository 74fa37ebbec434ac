"""classification_metrics, every value it returns, against a reference written here from confusion counts and
ranks (no sklearn): the headline metric must be able to fail a fast test (issue 24)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from stages.common.metrics import classification_metrics, metrics_from_counts, point_metrics


def ratio(a: float, b: float) -> float:
    return a / b if b else 0.0


def reference_roc_auc(labels: list[int], scores: list[float]) -> float:
    """P(score of a random positive > score of a random negative), ties counting half: every pair, by hand."""
    pos = [s for y, s in zip(labels, scores, strict=True) if y == 1]
    neg = [s for y, s in zip(labels, scores, strict=True) if y == 0]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def reference_average_precision(labels: list[int], scores: list[float]) -> float:
    """Sum over distinct score thresholds (high to low) of (recall gained) x (precision at that threshold)."""
    positives = sum(labels)
    total, previous_recall = 0.0, 0.0
    for t in sorted(set(scores), reverse=True):
        flagged = [y for y, s in zip(labels, scores, strict=True) if s >= t]
        recall = sum(flagged) / positives
        total += (recall - previous_recall) * (sum(flagged) / len(flagged))
        previous_recall = recall
    return total


def reference(labels: list[int], scores: list[float], threshold: float) -> dict:
    predicted = [int(s >= threshold) for s in scores]
    pairs = list(zip(labels, predicted, strict=True))
    tp, fp = pairs.count((1, 1)), pairs.count((0, 1))
    tn, fn = pairs.count((0, 0)), pairs.count((1, 0))
    precision, recall = ratio(tp, tp + fp), ratio(tp, tp + fn)
    both = 0 < sum(labels) < len(labels)
    return {
        "accuracy": (tp + tn) / len(labels),
        "precision": precision,
        "recall": recall,
        "specificity": ratio(tn, tn + fp),
        "f1": ratio(2 * precision * recall, precision + recall),
        "mcc": ratio(tp * tn - fp * fn, math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))),
        "roc_auc": reference_roc_auc(labels, scores) if both else None,
        "pr_auc": reference_average_precision(labels, scores) if both else None,
        "n": len(labels),
        "threshold": threshold,
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
    }


# (labels, scores, threshold): mixed cases where precision, recall, specificity, F1 and MCC all differ from each
# other, and every 0/0 case the test split could meet.
CASES = {
    "mixed": ([1, 1, 1, 0, 0, 0, 0, 1, 0, 0], [0.9, 0.8, 0.3, 0.7, 0.2, 0.1, 0.4, 0.6, 0.55, 0.05], 0.5),
    "mixed, more false negatives": ([1, 1, 1, 1, 1, 0, 0, 0], [0.9, 0.2, 0.3, 0.1, 0.6, 0.7, 0.1, 0.2], 0.5),
    "mixed, tied scores": ([1, 0, 1, 0, 1, 0, 0], [0.5, 0.5, 0.8, 0.2, 0.2, 0.9, 0.5], 0.5),
    "negative MCC": ([1, 1, 0, 0, 0], [0.1, 0.6, 0.9, 0.7, 0.2], 0.5),
    "perfect": ([1, 1, 0, 0, 0], [0.9, 0.8, 0.1, 0.2, 0.3], 0.5),
    "all wrong": ([1, 1, 0, 0, 0], [0.1, 0.2, 0.9, 0.8, 0.7], 0.5),
    "no predicted positives": ([1, 0, 1, 0, 0], [0.4, 0.1, 0.3, 0.2, 0.0], 0.5),
    "everything predicted positive": ([1, 0, 1, 0, 0], [0.9, 0.6, 0.7, 0.8, 0.95], 0.5),
    "no actual positives": ([0, 0, 0, 0], [0.9, 0.1, 0.2, 0.6], 0.5),
    "no actual negatives": ([1, 1, 1], [0.9, 0.1, 0.6], 0.5),
    "all one class, predicted as such": ([0, 0, 0], [0.1, 0.2, 0.3], 0.5),
    "all spam, predicted as such": ([1, 1, 1, 1], [0.7, 0.8, 0.9, 0.6], 0.5),
}


@pytest.mark.parametrize("case", CASES)
def test_every_classification_metric_matches_a_hand_computation(case: str):
    labels, scores, threshold = CASES[case]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 0/0 cases are defined, not warned about
        got = classification_metrics(np.array(labels), np.array(scores), threshold)
    want = reference(labels, scores, threshold)
    assert got.keys() == want.keys()
    for name, value in want.items():
        if value is None or isinstance(value, int):
            assert got[name] == value, name
        else:
            assert got[name] == pytest.approx(value, abs=1e-12), name


def test_the_cases_tell_the_count_metrics_apart():
    """A swap of two metrics (precision for recall, F1 for MCC) is only caught where their values differ."""
    labels, scores, threshold = CASES["mixed"]
    want = reference(labels, scores, threshold)
    values = [want[k] for k in ("accuracy", "precision", "recall", "specificity", "f1", "mcc")]
    assert len(set(values)) == len(values), want


@pytest.mark.parametrize("case", CASES)
def test_bootstrap_counts_agree_with_the_point_metrics(case: str):
    """metrics_from_counts (the bootstrap, spam compare) and classification_metrics give the same numbers."""
    labels, scores, threshold = CASES[case]
    want = reference(labels, scores, threshold)
    predicted = (np.array(scores) >= threshold).astype(int)
    point = point_metrics(np.array(labels), predicted)
    counts = metrics_from_counts(want["tp"], want["fp"], want["tn"], want["fn"])
    for name, value in point.items():
        assert value == pytest.approx(want[name], abs=1e-6), name
        assert float(counts[name]) == pytest.approx(want[name], abs=1e-12), name
