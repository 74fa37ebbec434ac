"""Tune the concat featurizer on val only: MiniLM block weight x lr x weight decay, scored by val MCC.

Each setting trains the pipeline's neuron (stages/common/neuron.py) on the joined features, with the
threshold chosen on val (max F1) as the train stage does. The test split is never read: pick the
setting by val MCC (ties: the higher val ROC AUC... kept simple: the first best in grid order), then
set featurize.<name>.weights and train.<name> in params.yaml.

Run after `spam repro` (it reads data/features/PART, data/split and params.yaml):
    python bench/concat_val.py                      # featurizer tfidf_minilm
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import typer
from sklearn.metrics import matthews_corrcoef, roc_auc_score

from stages.common.features import fit_concat, join_blocks, load_aligned
from stages.common.neuron import best_f1_threshold
from stages.common.params import ConcatParams, load_params
from stages.common.training import train_neuron

MESSAGES, SPLIT = "data/prepared/messages.parquet", "data/split/split.parquet"


def main(
    featurizer: str = typer.Argument("tfidf_minilm"),
    dense_weights: list[float] = typer.Option([0.02, 0.05, 0.1, 0.2, 0.5, 1.0], help="weight of the last part"),
    lrs: list[float] = typer.Option([0.02, 0.05, 0.2]),
    weight_decays: list[float] = typer.Option([0.0, 1e-5, 1e-4, 1e-3]),
) -> None:
    params = load_params()
    settings = params.featurize[featurizer]
    assert isinstance(settings, ConcatParams), f"{featurizer} is not a concat featurizer"
    messages = pd.read_parquet(MESSAGES, columns=["id", "label"])
    split = pd.read_parquet(SPLIT).set_index("id")["split"].reindex(messages["id"]).to_numpy()
    labels = messages["label"].to_numpy(dtype=np.float32)
    blocks = [load_aligned(f"data/features/{part}", messages["id"]) for part in settings.parts]
    train, val = split == "train", split == "val"
    rows = []
    for weight, lr, decay in itertools.product(dense_weights, lrs, weight_decays):
        weights = [*settings.block_weights[:-1], weight]
        joined = join_blocks(blocks, fit_concat(blocks, train, settings.parts, weights))
        train_params = params.train[featurizer].model_copy(update={"lr": lr, "weight_decay": decay})
        result = train_neuron(joined[train], labels[train], joined[val], labels[val], train_params)
        scores = result.neuron.spam_probability(joined[val])
        threshold = best_f1_threshold(labels[val], scores)
        mcc = matthews_corrcoef(labels[val], scores >= threshold)
        rows.append({"weight": weight, "lr": lr, "weight_decay": decay, "val_mcc": mcc,
                     "val_roc_auc": roc_auc_score(labels[val], scores), "epochs": len(result.history)})  # fmt: skip
        typer.echo(f"weight {weight:<5} lr {lr:<5} wd {decay:<7} val MCC {mcc:.4f}", err=True)
    table = pd.DataFrame(rows).sort_values(["val_mcc", "val_roc_auc"], ascending=False, kind="stable")
    typer.echo(table.head(15).to_string(index=False, float_format=lambda v: f"{v:.4g}"))


if __name__ == "__main__":
    typer.run(main)
