"""The evaluate stage's tables and metrics from splits built in memory (no model file, no pipeline)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from stages.common.features import Split
from stages.evaluate import loss_curves, predictions_table, reliability_rows, split_report

SPLITS = {
    "train": Split(np.array(["t2", "t1"]), np.zeros((2, 1)), np.array([1.0, 0.0], dtype=np.float32)),
    "test": Split(np.array(["z9", "z1", "z5"]), np.zeros((3, 1)), np.array([0.0, 1.0, 1.0], dtype=np.float32)),
}
SCORES = {"train": np.array([0.9, 0.2]), "test": np.array([0.6, 0.8, 0.3])}


def test_predictions_carry_each_rows_own_id_label_and_verdict():
    table = predictions_table(SPLITS, SCORES, threshold=0.5)
    assert table["id"].tolist() == ["t2", "t1", "z9", "z1", "z5"]  # the split's ids, not a reread file's order
    assert table["split"].tolist() == ["train", "train", "test", "test", "test"]
    assert table["label"].tolist() == [1, 0, 0, 1, 1]
    assert table["predicted"].tolist() == [1, 0, 1, 1, 0]
    assert table.loc[table["id"] == "z5", "score"].item() == 0.3


def test_report_counts_the_confusion_at_the_threshold_for_every_split():
    logits = {name: np.log(s / (1 - s)) for name, s in SCORES.items()}  # no calibration: sigmoid(logit) = score
    report = split_report(SPLITS, SCORES, logits, threshold=0.5)
    test = report["test"]
    assert (test["tp"], test["fp"], test["tn"], test["fn"]) == (1, 1, 0, 1)
    assert test["threshold"] == 0.5 and test["n"] == 3
    assert test["recall"] == 0.5 and test["precision"] == 0.5
    assert test["ece"] == test["ece_uncalibrated"]  # same probabilities before and after
    assert report["train"]["accuracy"] == 1.0
    assert all(isinstance(v, float) and v == round(v, 6) for v in test.values() if isinstance(v, float))


def test_loss_curves_come_from_trains_own_history():
    history = [{"epoch": 1, "train_loss": 0.7, "val_loss": 0.8}, {"epoch": 2, "train_loss": 0.5, "val_loss": 0.6}]
    frame = loss_curves(history)
    assert frame.columns.tolist() == ["epoch", "train", "val"]
    pd.testing.assert_series_equal(frame["val"], pd.Series([0.8, 0.6], name="val"))
    assert loss_curves([]).empty


def test_reliability_rows_name_each_curve():
    tables = {"calibrated": [{"bin": 0}], "uncalibrated": [{"bin": 1}]}
    assert reliability_rows(tables, "none") == [{"curve": "uncalibrated", "bin": 1}]
    assert [row["curve"] for row in reliability_rows(tables, "platt")] == ["calibrated (platt)", "uncalibrated"]


def test_reliability_diagram_shows_each_bins_count_and_draws_no_line_through_bins():
    from matplotlib.lines import Line2D

    from stages.evaluate import reliability_figure

    rows = [
        {"bin_low": 0.0, "bin_high": 0.1, "mean_predicted": 0.01, "fraction_spam": 0.002, "count": 950},
        {"bin_low": 0.4, "bin_high": 0.5, "mean_predicted": 0.45, "fraction_spam": 1.0, "count": 1},  # near-empty
        {"bin_low": 0.9, "bin_high": 1.0, "mean_predicted": 0.98, "fraction_spam": 0.97, "count": 130},
    ]
    fig = reliability_figure("bow", {"calibrated": rows, "uncalibrated": rows}, "none")
    curve, counts = fig.axes
    assert [t.get_text() for t in counts.texts] == ["950", "1", "130"]  # one count per non-empty bin, under it
    lines = [line for line in curve.get_lines() if isinstance(line, Line2D)]
    assert [len(line.get_xdata()) for line in lines] == [2]  # the diagonal only: points are not joined
    sizes = curve.collections[0].get_sizes()
    assert sizes[0] > sizes[2] > sizes[1]  # a marker's area grows with its bin's messages
