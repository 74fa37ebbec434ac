"""bench/peers.py seeds: each split seed made in-process, vectorizers refitted on its train rows, no DVC."""

import numpy as np
import pandas as pd

from bench.peers import available, markdown, over_seeds, seed_features, summarise
from stages.common.params import Params
from stages.split import split_messages
from tests.conftest import SAMPLE, real_params


def sample_messages(tmp_path):
    rows = [line.split("\t", 1) for line in SAMPLE.read_text(encoding="utf-8").splitlines() if "\t" in line]
    messages = pd.DataFrame(
        {
            "id": [f"m{i}" for i in range(len(rows))],
            "text": [t for _, t in rows],
            "label": [lab == "spam" for lab, _ in rows],
        }
    )
    messages["label"] = messages["label"].astype(int)
    messages.to_parquet(tmp_path / "messages.parquet")
    return messages


def test_vectorizers_are_fitted_on_each_seeds_train_rows(tmp_path):
    params = Params.model_validate(real_params())
    messages = sample_messages(tmp_path)
    assert available(params, tmp_path) == ["bow", "tfidf"]  # no encoder vectors here: minilm and its concat left out
    columns = []
    for seed in (42, 43):
        split = split_messages(messages[["id", "label"]], params.split.model_copy(update={"seed": seed}))
        matrix = seed_features(messages, split, params, tmp_path, ["bow"])["bow"]
        train = split["split"].to_numpy() == "train"
        used = np.asarray(matrix[train].sum(axis=0)).ravel() > 0
        assert used.all()  # every column is a term of this seed's train rows
        columns.append(matrix.toarray())
    assert not np.array_equal(*columns)  # another train set, another vocabulary (1,000 terms each)


def test_over_seeds_summarises_neuron_and_lr(tmp_path):
    raw = real_params()
    raw["featurizers"] = ["bow"]
    raw["train"]["bow"]["epochs"] = 30
    params = Params.model_validate(raw)
    sample_messages(tmp_path)
    results = over_seeds(tmp_path / "messages.parquet", tmp_path, params, [42, 43], log=lambda _: None)
    assert set(results) == {"bow"} and all(set(per_seed) == {42, 43} for per_seed in results.values())
    summary = summarise(results)
    for entry in summary.values():
        assert sum(entry["mcc_seeds"].values()) == 2
        assert -1 <= entry["neuron"]["mcc"]["mean"] <= 1 and entry["lr"]["f1"]["sd"] >= 0
    text = markdown(summary, [42, 43], "python bench/peers.py seeds", 1.0, "test machine")
    assert "| bow |" in text
