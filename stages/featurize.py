"""Stage 4: turn every prepared message into a feature vector, one directory per featurizer.

One matrix stage over `featurizers` that dispatches on each featurizer's `kind` (count/tfidf now,
transformer encoders later), so a single list in params.yaml decides what runs everywhere.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import typer

from stages.common.cli import StageError, reports_errors, stage_app
from stages.common.features import make_vectorizer, save_sparse_features, vectorizer_to_json
from stages.common.params import VectorizerParams, load_params

app = stage_app(__doc__)


def vectorize(messages: pd.DataFrame, train_ids: pd.Series, params: VectorizerParams):
    """Fit the vectorizer on the train messages only, then transform all messages."""
    vectorizer = make_vectorizer(params)
    try:
        vectorizer.fit(messages.loc[messages["id"].isin(train_ids), "text"])
    except ValueError as exc:  # e.g. empty vocabulary with a high min_df
        raise StageError(f"cannot fit the {params.kind} vectorizer: {exc}") from None
    return vectorizer.transform(messages["text"]), vectorizer_to_json(vectorizer, params)


@app.command()
@reports_errors
def main(
    featurizer: str = typer.Argument(..., help="a name from params.yaml `featurizers`, e.g. tfidf"),
    messages_file: Path = typer.Option(Path("data/prepared/messages.parquet")),
    split_file: Path = typer.Option(Path("data/split/split.parquet")),
    output: Path = typer.Option(None, help="default: data/features/FEATURIZER"),
) -> None:
    """Featurize all messages with FEATURIZER (params: featurize.FEATURIZER)."""
    params = load_params()
    if featurizer not in params.featurize:
        raise StageError(f"unknown featurizer {featurizer!r}; params.yaml has: {', '.join(params.featurize)}")
    output = output or Path("data/features") / featurizer
    messages = pd.read_parquet(messages_file)
    split = pd.read_parquet(split_file)
    matrix, state = vectorize(messages, split.loc[split["split"] == "train", "id"], params.featurize[featurizer])
    save_sparse_features(output, messages["id"], matrix, state)
    typer.echo(f"wrote {output}: {matrix.shape[0]:,} messages x {matrix.shape[1]:,} features")


if __name__ == "__main__":
    app()
