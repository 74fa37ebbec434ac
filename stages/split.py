"""Stage 3: a stratified train/val/test split of message ids (params: split.*)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import typer
from sklearn.model_selection import train_test_split

from stages.common.cli import reports_errors, stage_app
from stages.common.errors import StageError
from stages.common.io import write_parquet
from stages.common.layout import MESSAGES_FILE, SPLIT_FILE
from stages.common.params import SplitParams, load_params

app = stage_app(__doc__)


def split_messages(messages: pd.DataFrame, params: SplitParams) -> pd.DataFrame:
    """Return (id, split) with split in train/val/test, each keeping the spam ratio of the whole."""
    ids, labels = messages["id"], messages["label"]
    try:
        rest_ids, test_ids, rest_labels, _ = train_test_split(
            ids, labels, test_size=params.test, stratify=labels, random_state=params.seed
        )
        train_ids, val_ids = train_test_split(
            rest_ids,
            test_size=params.val / (params.train + params.val),
            stratify=rest_labels,
            random_state=params.seed,
        )
    except ValueError as exc:  # too few messages of a class to stratify
        raise StageError(f"cannot split {len(ids)} messages: {exc}") from None
    which = pd.Series("train", index=ids.index)
    which[val_ids.index] = "val"
    which[test_ids.index] = "test"
    return pd.DataFrame({"id": ids, "split": which.astype("category")})


@app.command()
@reports_errors
def main(
    messages_file: Path = typer.Argument(MESSAGES_FILE),
    output: Path = typer.Argument(SPLIT_FILE),
) -> None:
    """Split MESSAGES_FILE's ids into OUTPUT (Parquet: id, split)."""
    params = load_params().split
    table = split_messages(pd.read_parquet(messages_file, columns=["id", "label"]), params)
    write_parquet(table, output)
    counts = table["split"].value_counts()
    typer.echo(f"wrote {output}: " + ", ".join(f"{k} {counts[k]:,}" for k in ("train", "val", "test")))


if __name__ == "__main__":
    app()
