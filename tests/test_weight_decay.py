"""train.NAME.weight_decay: auto: one neuron per grid value, chosen on val only, recorded in the card."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from safetensors.numpy import load_file
from typer.testing import CliRunner

from stages.common.errors import StageError
from stages.common.features import save_dense_features
from stages.common.params import WEIGHT_DECAY_GRID, TrainParams, load_params
from stages.common.precision import round_significant
from stages.common.training import choose_weight_decay, train_neuron
from tests.conftest import ROOT, params_yaml, real_params

N_TRAIN, N_VAL, N_TEST, DIMS = 240, 120, 120, 12


def synthetic(
    seed: int = 0, sizes: tuple[int, int, int] = (N_TRAIN, N_VAL, N_TEST), dims: int = DIMS
) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """Dense features with a noisy linear rule: messages (id, text, label), split (id, split), vectors."""
    rng = np.random.default_rng(seed)
    n = sum(sizes)
    vectors = rng.normal(size=(n, dims)).astype(np.float32)
    labels = (vectors @ rng.normal(size=dims) + rng.normal(scale=2.0, size=n) > 0.5).astype(int)
    ids = [f"m{i:05d}" for i in range(n)]
    messages = pd.DataFrame({"id": ids, "text": ["x"] * n, "label": labels})
    parts = ["train"] * sizes[0] + ["val"] * sizes[1] + ["test"] * sizes[2]
    return messages, pd.DataFrame({"id": ids, "split": parts}), vectors


def write_inputs(directory, messages, split, vectors) -> list[str]:
    """params.yaml (train.minilm: auto, few epochs), messages, split and minilm features; the train CLI's args."""
    params = real_params()
    params["train"]["minilm"] |= {"weight_decay": "auto", "epochs": 60, "lr": 0.05}
    (directory / "params.yaml").write_text(params_yaml(params))
    messages.to_parquet(directory / "messages.parquet")
    split.to_parquet(directory / "split.parquet")
    save_dense_features(directory / "features", messages["id"], vectors, {"params": {}})
    return ["minilm", "--messages-file", "messages.parquet", "--split-file", "split.parquet",
            "--features-dir", "features", "--model-dir", "model", "--log-dir", "live"]  # fmt: skip


def train_cli(directory, messages, split, vectors, monkeypatch) -> tuple[dict, bytes]:
    from stages import train

    monkeypatch.chdir(directory)
    args = write_inputs(directory, messages, split, vectors)
    result = CliRunner().invoke(train.app, args)
    assert result.exit_code == 0, result.output
    return json.loads((directory / "model/card.json").read_text()), (directory / "model/model.safetensors").read_bytes()


def test_auto_chooses_on_val_only_and_the_card_records_the_search(tmp_path, monkeypatch):
    """The test split's features and labels replaced by others: the same search, choice, card and weights."""
    messages, split, vectors = synthetic()
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    card, weights = train_cli(tmp_path / "a", messages, split, vectors, monkeypatch)

    test_rows = (split["split"] == "test").to_numpy()
    other_messages, other_vectors = messages.copy(), vectors.copy()
    other_messages.loc[test_rows, "label"] = 1 - other_messages.loc[test_rows, "label"]
    other_vectors[test_rows] = np.random.default_rng(9).normal(scale=5.0, size=(test_rows.sum(), DIMS))
    other_card, other_weights = train_cli(tmp_path / "b", other_messages, split, other_vectors, monkeypatch)
    assert other_card == card and other_weights == weights

    search = card["weight_decay_search"]
    assert search["grid"] == list(WEIGHT_DECAY_GRID) and len(search["val_scores"]) == len(search["grid"])
    assert all(score == round_significant(score) for score in search["val_scores"])  # CPU-stable bytes
    assert search["chosen"] == choose_weight_decay(search["grid"], search["val_scores"])
    assert len(set(search["val_scores"])) > 1  # the data tells the candidates apart: the choice means something
    assert card["params"]["weight_decay"] == "auto"

    # The saved weights are the chosen candidate's, as a fixed-weight-decay run gives them.
    train_rows, val_rows = (split["split"] == "train").to_numpy(), (split["split"] == "val").to_numpy()
    labels = messages["label"].to_numpy(dtype=np.float32)
    fixed = (
        load_params(tmp_path / "a/params.yaml").train["minilm"].model_copy(update={"weight_decay": search["chosen"]})
    )
    neuron = train_neuron(vectors[train_rows], labels[train_rows], vectors[val_rows], labels[val_rows], fixed).neuron
    stored = load_file(str(tmp_path / "a/model/model.safetensors"))
    assert np.array_equal(stored["weight"].ravel(), neuron.weight.astype(np.float32))


def test_fixed_weight_decay_writes_no_search(tmp_path):
    messages, split, vectors = synthetic()
    train_rows, val_rows = (split["split"] == "train").to_numpy(), (split["split"] == "val").to_numpy()
    labels = messages["label"].to_numpy(dtype=np.float32)
    params = TrainParams(epochs=20, weight_decay=0.01)
    result = train_neuron(vectors[train_rows], labels[train_rows], vectors[val_rows], labels[val_rows], params)
    assert result.weight_decay_search is None


def test_lowest_val_score_wins_and_ties_go_to_more_regularisation():
    assert choose_weight_decay([1e-5, 1e-4, 1e-3, 1e-2], [0.3, 0.1, 0.2, 0.4]) == 1e-4
    assert choose_weight_decay([1e-5, 1e-4, 1e-3, 1e-2], [0.3, 0.1, 0.1, 0.4]) == 1e-3
    assert choose_weight_decay([1e-2, 1e-3], [0.1, 0.1]) == 1e-2  # by value, not by position in the grid


@pytest.mark.parametrize("value", ["fast", "Auto", -0.1, 11, True])
def test_bad_weight_decay_is_refused_naming_the_key(tmp_path, value):
    params = real_params()
    params["train"]["minilm"]["weight_decay"] = value
    (tmp_path / "params.yaml").write_text(params_yaml(params))
    with pytest.raises(StageError) as error:
        load_params(tmp_path / "params.yaml")
    assert "train.minilm.weight_decay" in str(error.value)


def test_the_choice_and_the_card_are_the_same_bytes_under_one_and_two_threads(tmp_path):
    """The train stage in a fresh process per thread count (torch reads OMP_NUM_THREADS at start-up). Enough rows
    that torch's reductions split across the threads, so float64 results differ in their last bits (seen: the
    val scores unrounded, from the float64 weights, differ between 1 and 2 threads and fail this test)."""
    messages, split, vectors = synthetic(seed=1, sizes=(8_000, 8_000, 100), dims=64)
    args = write_inputs(tmp_path, messages, split, vectors)
    outputs = []
    for threads in ("1", "2"):
        env = os.environ | {"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "PYTHONPATH": str(ROOT)}
        args[args.index("--model-dir") + 1] = f"model{threads}"
        args[args.index("--log-dir") + 1] = f"live{threads}"
        done = subprocess.run(
            [sys.executable, "-m", "stages.train", *args], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        outputs.append(
            ((tmp_path / f"model{threads}/card.json").read_bytes(), (tmp_path / f"model{threads}/model.safetensors"))
        )
    (card_1, weights_1), (card_2, weights_2) = outputs
    assert card_1 == card_2 and weights_1.read_bytes() == weights_2.read_bytes()
    assert "weight_decay_search" in json.loads(card_1)
