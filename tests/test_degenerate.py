"""Degenerate data gets a clear refusal, not a useless model: one-class data and splits, one-class predictions."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from safetensors.numpy import save_file
from sklearn.exceptions import UndefinedMetricWarning
from typer.testing import CliRunner

from stages import evaluate, featurize, prepare, split, train
from stages.common.errors import StageError
from stages.common.layout import CARD, LOSS_HISTORY, WEIGHTS
from stages.common.metrics import classification_metrics
from stages.common.params import SplitParams
from tests.conftest import SAMPLE

runner = CliRunner()


def messages(n: int, spam: int) -> pd.DataFrame:
    return pd.DataFrame({"id": [f"m{i}" for i in range(n)], "label": np.array([1] * spam + [0] * (n - spam), "int8")})


@pytest.mark.parametrize(
    ("spam", "only"), [(0, "only ham (50 messages, 0 spam)"), (50, "only spam (50 messages, 0 ham)")]
)
def test_one_class_data_is_refused_before_splitting(spam, only):
    with pytest.raises(StageError) as error:
        split.split_messages(messages(50, spam), SplitParams())
    assert only in str(error.value)


def test_a_split_part_without_spam_is_refused_with_the_counts():
    with pytest.raises(StageError) as error:
        split.split_messages(messages(40, 3), SplitParams())
    assert str(error.value).startswith("split refused: test has no spam (train 2 spam / 26 ham, val 1 spam / 5 ham, ")
    assert "test 0 spam / 6 ham" in str(error.value)


def test_enough_of_each_class_splits():
    table = split.split_messages(messages(60, 4), SplitParams())
    assert set(table["split"]) == {"train", "val", "test"}


@pytest.fixture
def bow_project(in_tmp):
    """The sample data prepared, split and featurized with bow in a temp directory (no DVC)."""
    table, _ = prepare.prepare_messages(SAMPLE.read_bytes(), "error")
    (in_tmp / "data/prepared").mkdir(parents=True)
    (in_tmp / "data/split").mkdir(parents=True)
    table.to_parquet(in_tmp / "data/prepared/messages.parquet")
    split.split_messages(table, SplitParams()).to_parquet(in_tmp / "data/split/split.parquet")
    result = runner.invoke(featurize.app, ["bow"])
    assert result.exit_code == 0, result.output
    return in_tmp


def test_train_refuses_a_split_with_one_class(bow_project):
    split_file = bow_project / "data/split/split.parquet"
    table = pd.read_parquet(split_file)
    table["split"] = table["split"].astype(str)
    labels = pd.read_parquet(bow_project / "data/prepared/messages.parquet").set_index("id")["label"]
    spam_in_val = table["id"].map(labels).eq(1) & table["split"].eq("val")
    table.loc[spam_in_val, "split"] = "train"  # a hand-made split: val left with ham only
    table.to_parquet(split_file)
    result = runner.invoke(train.app, ["bow"])
    assert (
        result.exit_code == 1 and "error: the val split holds only ham: training needs spam and ham" in result.output
    ), result.output


def save_ham_only_model(project) -> None:
    """A neuron that says ham to everything, as train would write it (weights, card, loss history)."""
    model_dir = project / "data/models/bow"
    model_dir.mkdir(parents=True)
    n_features = int(np.load(project / "data/features/bow/matrix.npz")["shape"][1])
    tensors = {"weight": np.zeros((1, n_features), np.float32), "bias": np.array([-5.0], np.float32)}
    save_file(tensors, model_dir / WEIGHTS)
    (model_dir / CARD).write_text(json.dumps({"featurizer": "bow", "n_features": n_features, "threshold": 0.5}))
    history = [{"epoch": 1, "train_loss": 0.7, "val_loss": 0.7}]
    (model_dir / LOSS_HISTORY).write_text(json.dumps(history))


def test_evaluate_a_model_that_predicts_one_class_without_traceback_or_warnings(bow_project):
    """A neuron that says ham to everything: metrics defined (MCC 0, recall 0), no warning, no traceback."""
    save_ham_only_model(bow_project)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UndefinedMetricWarning)
        warnings.simplefilter("error", RuntimeWarning)
        result = runner.invoke(evaluate.app, ["bow"])
    assert result.exit_code == 0, result.output
    test = json.loads((bow_project / "reports/metrics/bow.json").read_text())["test"]
    assert test["mcc"] == 0 and test["recall"] == 0 and test["precision"] == 0 and test["roc_auc"] == 0.5


def test_metrics_of_constant_predictions_are_defined():
    labels = np.array([0, 0, 1, 1, 0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for scores in (np.zeros(5), np.ones(5)):
            metrics = classification_metrics(labels, scores, 0.5)
            assert metrics["mcc"] == 0 and metrics["roc_auc"] == 0.5
        metrics = classification_metrics(np.zeros(5), np.zeros(5), 0.5)  # one class, predicted as such
        assert metrics["mcc"] == 0 and metrics["accuracy"] == 1 and metrics["roc_auc"] is None


def test_evaluate_refuses_a_hand_made_one_class_test_split_without_traceback(bow_project):
    split_file = bow_project / "data/split/split.parquet"
    table = pd.read_parquet(split_file)
    table["split"] = table["split"].astype(str)
    labels = pd.read_parquet(bow_project / "data/prepared/messages.parquet").set_index("id")["label"]
    table.loc[table["id"].map(labels).eq(1) & table["split"].eq("test"), "split"] = "train"
    table.to_parquet(split_file)
    save_ham_only_model(bow_project)
    result = runner.invoke(evaluate.app, ["bow"])
    assert result.exit_code == 1 and "error: the test split holds only ham: evaluate needs spam" in result.output
