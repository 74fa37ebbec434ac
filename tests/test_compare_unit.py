"""The compare stage's numbers, tables and JSON from predictions built in memory (no pipeline run)."""

from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np
import pandas as pd
import pytest

from stages.common import comparison
from stages.common.comparison import Comparison, compare_featurizers, summary_rows
from stages.common.errors import StageError
from stages.common.metrics import point_metrics
from stages.compare import markdown_report, with_evaluation

RNG = np.random.default_rng(3)
LABELS = (RNG.random(300) < 0.2).astype(int)
IDS = [f"m{i:03d}" for i in range(300)]


def predictions(mistakes: int, seed: int) -> pd.DataFrame:
    guess = LABELS.copy()
    guess[np.random.default_rng(seed).choice(300, mistakes, replace=False)] ^= 1
    return pd.DataFrame({"id": IDS, "label": LABELS, "predicted": guess})


CALIBRATION = {"bow": "platt", "tfidf": "none", "minilm": "temperature"}
PREDICTIONS = {"bow": predictions(40, 1), "tfidf": predictions(5, 2), "minilm": predictions(20, 3)}


@pytest.fixture
def report() -> Comparison:
    return compare_featurizers(PREDICTIONS, "bow", resamples=300, seed=0)


def test_point_metrics_intervals_and_changes_against_the_baseline(report):
    assert list(report.featurizers) == ["bow", "tfidf", "minilm"] and list(report.vs_baseline) == ["tfidf", "minilm"]
    assert report.test_messages == 300 and report.test_spam == int(LABELS.sum())
    tfidf = report.featurizers["tfidf"]
    assert tfidf.metrics["mcc"] == point_metrics(LABELS, PREDICTIONS["tfidf"]["predicted"].to_numpy())["mcc"]
    assert tfidf.f1_ci95[0] <= tfidf.metrics["f1"] <= tfidf.f1_ci95[1]
    change = report.vs_baseline["tfidf"]["mcc"]
    assert change.old == report.featurizers["bow"].metrics["mcc"] and change.new == tfidf.metrics["mcc"]
    assert (
        change.change == pytest.approx(tfidf.metrics["mcc"] - report.featurizers["bow"].metrics["mcc"])
        and change.confirmed
    )


def test_each_featurizer_is_bootstrapped_once(monkeypatch):
    calls = []
    real = comparison.resampled_metrics
    monkeypatch.setattr(comparison, "resampled_metrics", lambda *a: calls.append(1) or real(*a))
    compare_featurizers(PREDICTIONS, "bow", resamples=50, seed=0)
    assert len(calls) == len(PREDICTIONS)  # the paired changes reuse them


def test_json_round_trips_with_compare_json_key_order(report):
    report.left_out = ["bart"]
    data = json.loads(json.dumps(report.to_json()))
    assert list(data) == [
        "baseline", "resamples", "seed", "test_messages", "test_spam", "featurizers", "vs_baseline", "left_out",
        "vs_parts", "best", "vs_best",
    ]  # fmt: skip
    assert list(data["featurizers"]["bow"])[:8] == [
        "accuracy", "precision", "recall", "specificity", "f1", "mcc", "f1_ci95", "mcc_ci95"
    ]  # fmt: skip
    assert list(data["vs_baseline"]["tfidf"]["f1"]) == ["old", "new", "change", "ci95", "confirmed"]
    assert asdict(Comparison.from_json(data)) == asdict(report)


def test_a_concat_featurizer_is_compared_with_each_part_besides_the_baseline():
    """tfidf_minilm vs bow is a baseline table; vs tfidf and vs minilm say whether joining them helped."""
    scored = {**PREDICTIONS, "tfidf_minilm": predictions(3, 4)}
    parts = {"tfidf_minilm": ["tfidf", "minilm", "bow"], "absent": ["tfidf"]}
    report = compare_featurizers(scored, "bow", resamples=100, seed=0, concat_parts=parts)
    assert [(p.old, p.new) for p in report.vs_parts] == [("tfidf", "tfidf_minilm"), ("minilm", "tfidf_minilm")]
    change = report.vs_parts[0].changes["mcc"]
    assert (
        change.old == report.featurizers["tfidf"].metrics["mcc"]
        and change.new == report.featurizers["tfidf_minilm"].metrics["mcc"]
    )
    assert [(p.old, p.new) for p in report.paired()][-3:] == [
        ("bow", "tfidf_minilm"), ("tfidf", "tfidf_minilm"), ("minilm", "tfidf_minilm")
    ]  # fmt: skip
    data = json.loads(json.dumps(report.to_json()))
    assert asdict(Comparison.from_json(data)) == asdict(report)


def test_predictions_over_different_messages_are_refused():
    shifted = PREDICTIONS["tfidf"].assign(id=[f"x{i}" for i in range(300)])
    with pytest.raises(StageError, match="tfidf's test messages differ"):
        compare_featurizers({"bow": PREDICTIONS["bow"], "tfidf": shifted}, "bow", resamples=10, seed=0)


def test_evaluation_fills_ranking_and_calibration_and_the_markdown_shows_them(report):
    evaluations = {
        name: {"test": {"roc_auc": 0.9 + i / 100, "pr_auc": 0.8, "brier": 0.05, "ece": 0.01, "ece_uncalibrated": 0.02}}
        for i, name in enumerate(report.featurizers)
    }
    with_evaluation(report, evaluations, {"bow": "platt", "tfidf": "none", "minilm": "temperature"})
    assert report.featurizers["tfidf"].roc_auc == 0.91 and report.featurizers["minilm"].calibration == "temperature"
    assert summary_rows(report)[1][:2] == ["tfidf", f"{report.featurizers['tfidf'].metrics['accuracy']:.4f}"]
    text = markdown_report(report)
    assert "| minilm | temperature | 0.0500 | 0.0100 | 0.0200 |" in text
    assert "## tfidf vs bow" in text and "Partial" not in text
    report.left_out = ["bart"]
    assert "Partial: bart left out" in markdown_report(report)


def pairs(report: Comparison) -> list[tuple[str, str]]:
    return [(p.old, p.new) for p in report.paired()]


def test_every_featurizer_is_paired_with_the_best_once(report):
    """Best is tfidf (fewest mistakes, highest test MCC): bow vs tfidf is already a baseline table, so the best's
    own tables add minilm vs tfidf only; compare.md names the best and why."""
    assert report.best == "tfidf"
    assert max(report.featurizers.values(), key=lambda row: row.metrics["mcc"]) is report.featurizers["tfidf"]
    assert [(p.old, p.new) for p in report.vs_best] == [("tfidf", "minilm")]
    assert pairs(report) == [("bow", "tfidf"), ("bow", "minilm"), ("tfidf", "minilm")]
    change = report.vs_best[0].changes["mcc"]
    assert change.old == report.featurizers["tfidf"].metrics["mcc"] and change.change < 0
    with_evaluation(report, {name: {"test": {"roc_auc": 0.9, "pr_auc": 0.8}} for name in PREDICTIONS}, CALIBRATION)
    text = markdown_report(report)
    assert "Best: **tfidf**, the highest test MCC point value" in text and "## minilm vs tfidf" in text
    data = json.loads(json.dumps(report.to_json()))
    assert data["best"] == "tfidf" and asdict(Comparison.from_json(data)) == asdict(report)


def test_no_pair_with_the_best_is_shown_twice():
    """The best as baseline adds nothing; a concat best is already paired with its parts."""
    assert compare_featurizers(PREDICTIONS, "tfidf", resamples=50, seed=0).vs_best == []
    scored = {**PREDICTIONS, "tfidf_minilm": predictions(3, 4), "bart": predictions(30, 5)}
    report = compare_featurizers(scored, "bow", 50, 0, concat_parts={"tfidf_minilm": ["tfidf", "minilm"]})
    assert report.best == "tfidf_minilm"
    assert [(p.old, p.new) for p in report.vs_best] == [("tfidf_minilm", "bart")]
    shown = [frozenset(pair) for pair in pairs(report)]
    assert len(shown) == len(set(shown)) and {frozenset((name, "tfidf_minilm")) for name in scored} - {
        frozenset(["tfidf_minilm"])
    } <= set(shown)


def test_a_tie_for_best_goes_to_the_first_featurizer():
    tied = {"bow": predictions(5, 2), "tfidf": predictions(5, 2), "minilm": predictions(20, 3)}
    assert compare_featurizers(tied, "minilm", resamples=20, seed=0).best == "bow"


def test_an_older_compare_json_without_best_still_reads(report):
    data = json.loads(json.dumps(report.to_json()))
    del data["best"], data["vs_best"]
    assert Comparison.from_json(data).vs_best == []
