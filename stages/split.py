"""Stage 3: a stratified train/val/test split of message ids (params: split.*)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import typer

from stages.common.cli import reports_errors, stage_app
from stages.common.errors import StageError
from stages.common.io import write_parquet
from stages.common.layout import MESSAGES_FILE, SPLIT_FILE, SPLITS
from stages.common.params import SplitParams, load_params

app = stage_app(__doc__)


def require_spam_and_ham(labels: pd.Series) -> None:
    """One-class data trains a useless model (and leaves MCC and ROC undefined): refuse it, with the counts."""
    spam = int(labels.sum())
    if spam == 0 or spam == len(labels):
        only, other = ("ham", "spam") if spam == 0 else ("spam", "ham")
        raise StageError(
            f"the prepared data holds only {only} ({len(labels):,} messages, 0 {other}): a classifier needs both "
            "classes; add labelled messages of the other class (prepare.sources, docs/data.md)"
        )


def require_each_part_has_both(split: pd.DataFrame, labels: pd.Series) -> None:
    """Every part needs spam and ham: without them training, the threshold on val or the test metrics mean nothing."""
    spam = labels.groupby(split["split"].to_numpy()).sum()
    total = split["split"].value_counts()
    counts = {part: (int(spam.get(part, 0)), int(total.get(part, 0) - spam.get(part, 0))) for part in SPLITS}
    empty = [f"{part} has no {cls}" for part, (s, h) in counts.items() for cls, n in (("spam", s), ("ham", h)) if not n]
    if empty:
        shown = ", ".join(f"{part} {s:,} spam / {h:,} ham" for part, (s, h) in counts.items())
        raise StageError(
            f"split refused: {'; '.join(empty)} ({shown}): add labelled messages or change split.train/val/test"
        )


def split_messages(messages: pd.DataFrame, params: SplitParams) -> pd.DataFrame:
    """Return (id, split) with split in train/val/test, each keeping the spam ratio of the whole.

    Refused (StageError with the counts) when the data or any part lacks spam or ham.
    """
    from sklearn.model_selection import train_test_split  # ~0.6 s to import: not for `--help` or a refusal

    ids, labels = messages["id"], messages["label"]
    require_spam_and_ham(labels)
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
    table = pd.DataFrame({"id": ids, "split": which.astype("category")})
    require_each_part_has_both(table, labels)
    return table


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
    typer.echo(f"wrote {output}: " + ", ".join(f"{k} {counts[k]:,}" for k in SPLITS))


if __name__ == "__main__":
    app()
