"""Stage 3: a stratified train/val/test split of message ids, near-duplicate groups kept whole (params: split.*)."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import typer

from stages.common.cli import reports_errors, stage_app
from stages.common.errors import StageError
from stages.common.io import write_parquet
from stages.common.layout import GROUPS_FILE, MESSAGES_FILE, SPLIT_FILE, SPLITS
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


def group_labels(labels: pd.Series, groups: pd.Series) -> pd.DataFrame:
    """Per group (sorted by id): its size and its label, the majority's (a tie goes to spam, the rarer class)."""
    per = pd.DataFrame({"group": groups.to_numpy(), "label": labels.to_numpy()}).groupby("group", sort=True)
    table = per["label"].agg(size="size", spam="sum")
    return table.assign(label=(2 * table["spam"] >= table["size"]).astype("int8"))


def apportion(picks: int, available: dict[int, int]) -> dict[int, int]:
    """`picks` messages shared among labels in proportion to their `available` messages: each its floor, then
    one more to the largest remainders (exact fractions; a tie to the label with fewer messages, so a small
    part gets its spam), as scikit-learn's stratified train_test_split counts them."""
    total = sum(available.values())
    ideal = {label: Fraction(picks * n, total) for label, n in available.items()}
    counts = {label: math.floor(share) for label, share in ideal.items()}
    largest_remainders = sorted(available, key=lambda label: (counts[label] - ideal[label], available[label], label))
    for label in largest_remainders[: picks - sum(counts.values())]:
        counts[label] += 1
    return counts


def part_sizes(per_label: dict[int, int], params: SplitParams) -> dict[int, tuple[int, int]]:
    """Messages of each label for test and for val: test's round(test x all) first, then val's round(val x all)
    from what is left, each shared among labels by `apportion`."""
    total = sum(per_label.values())
    test = apportion(round(params.test * total), per_label)
    rest = {label: n - test[label] for label, n in per_label.items()}
    val = apportion(round(params.val * total), rest)
    return {label: (test[label], val[label]) for label in per_label}


def assign_parts(sizes: np.ndarray, test: int, val: int) -> np.ndarray:
    """The part of each group of one label, given in a shuffled order, so that test gets `test` messages,
    val `val` and train the rest, or as near as whole groups allow.

    Groups of 2+ go where their midpoint falls when all are laid end to end (test, then val, then train), so
    a campaign is as likely to be tested on as any message; the single messages then fill each part to its
    size, in the same shuffled order.
    """
    twice_middle = 2 * (np.cumsum(sizes) - sizes) + sizes
    parts = np.select([twice_middle < 2 * test, twice_middle < 2 * (test + val)], ["test", "val"], "train")
    grouped = sizes > 1
    test_left = max(test - int(sizes[grouped & (parts == "test")].sum()), 0)
    val_left = max(val - int(sizes[grouped & (parts == "val")].sum()), 0)
    single = np.flatnonzero(~grouped)
    parts[single] = "train"
    parts[single[:test_left]] = "test"
    parts[single[test_left : test_left + val_left]] = "val"
    return parts


def split_messages(messages: pd.DataFrame, params: SplitParams, groups: pd.Series | None = None) -> pd.DataFrame:
    """Return (id, split) with split in train/val/test, each keeping the spam ratio of the whole, and every
    group (prepare's near-duplicates; `groups` aligned with `messages`, default: each message alone) inside
    one part, so no message is tested against its near-twin trained on.

    Stratified by group label (its majority's); groups shuffled with split.seed, in id order first, so the
    split depends on the messages and the seed, not on the rows' order. Refused (StageError with the counts)
    when the data or any part lacks spam or ham.
    """
    ids, labels = messages["id"], messages["label"]
    require_spam_and_ham(labels)
    groups = ids if groups is None else groups
    per_group = group_labels(labels, groups)
    sizes_by_label = per_group.groupby("label")["size"].sum()
    targets = part_sizes({label: int(sizes_by_label.get(label, 0)) for label in (0, 1)}, params)
    rng = np.random.default_rng(params.seed)
    part = pd.Series("", index=per_group.index, dtype=object)
    for label in (0, 1):
        stratum = per_group.index[per_group["label"].to_numpy() == label]
        shuffled = stratum[rng.permutation(len(stratum))]
        part[shuffled] = assign_parts(per_group.loc[shuffled, "size"].to_numpy(), *targets[label])
    which = part.reindex(groups.to_numpy()).to_numpy()
    table = pd.DataFrame({"id": ids, "split": pd.Series(which, index=ids.index).astype("category")})
    require_each_part_has_both(table, labels)
    return table


def read_groups(groups_file: Path, ids: pd.Series) -> pd.Series:
    """The group of each id, in `ids`' order; an error naming the file when it does not cover exactly these ids."""
    groups = pd.read_parquet(groups_file, columns=["id", "group"]).set_index("id")["group"]
    if len(groups) != len(ids) or not groups.index.is_unique or not ids.isin(groups.index).all():
        raise StageError(
            f"{groups_file} does not group the {len(ids):,} messages prepared ({len(groups):,} rows): "
            "rerun prepare (spam repro)"
        )
    return pd.Series(groups.reindex(ids.to_numpy()).to_numpy(), index=ids.index)


@app.command()
@reports_errors
def main(
    messages_file: Path = typer.Argument(MESSAGES_FILE),
    output: Path = typer.Argument(SPLIT_FILE),
    groups_file: Path = typer.Argument(GROUPS_FILE),
) -> None:
    """Split MESSAGES_FILE's ids into OUTPUT (Parquet: id, split), each group of GROUPS_FILE in one part."""
    params = load_params().split
    messages = pd.read_parquet(messages_file, columns=["id", "label"])
    table = split_messages(messages, params, read_groups(groups_file, messages["id"]))
    write_parquet(table, output)
    counts = table["split"].value_counts()
    typer.echo(f"wrote {output}: " + ", ".join(f"{k} {counts[k]:,}" for k in SPLITS))


if __name__ == "__main__":
    app()
